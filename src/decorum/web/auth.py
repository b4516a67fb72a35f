"""Who is calling the admin listener, and the decorator every admin route uses to ask ``AccessControl``.

A caller is identified by ``Authorization: Bearer <token>`` (API clients, scrapers) or by the console's
session cookie. A cookie-authenticated request that changes anything must echo the session's CSRF token
in ``X-CSRF-Token`` and, when the browser sends ``Origin``, come from this origin. Every state-changing
``/api`` request must be ``application/json``: a cross-site form cannot send that without a CORS
preflight, which this server never grants.

Example::

    @needs("audit.read")
    async def api_audit_list(request: HttpRequest, who: Principal) -> JSONResponse: ...
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response

from decorum.access import AccessControl, Principal, Session, same_secret
from decorum.errors import Forbidden, Unauthenticated

logger = logging.getLogger(__name__)

COOKIE = "decorum_session"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[HttpRequest, Principal], Awaitable[Response]]


def bearer(request: HttpRequest) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_session(request: HttpRequest, access: AccessControl) -> Session | None:
    secret = request.cookies.get(COOKIE)
    return access.session(secret) if secret else None


def identify(request: HttpRequest, access: AccessControl) -> Principal | None:
    """The caller: a bearer token wins over a cookie; cookie sessions on unsafe methods must pass CSRF."""
    token = bearer(request)
    if token is not None:
        return access.authenticate_token(token)
    sess = current_session(request, access)
    if sess is None:
        return None
    if request.method in UNSAFE:
        check_csrf(request, sess)
    return sess.principal


def check_csrf(request: HttpRequest, sess: Session) -> None:
    """A cookie-authenticated change must come from this origin and carry the session's CSRF token."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1].lower() != request.headers.get("host", "").lower():
        raise CsrfRefused(sess.principal, "cross-origin request refused")
    if not same_secret(request.headers.get("x-csrf-token", ""), sess.csrf):
        raise CsrfRefused(sess.principal, "missing or wrong X-CSRF-Token for this session (reload the console)")


class CsrfRefused(Forbidden):
    """A cookie session's change without this origin or without its CSRF token."""

    def __init__(self, principal: Principal, message: str) -> None:
        super().__init__(message)
        self.principal = principal


def json_required(request: HttpRequest) -> JSONResponse | None:
    """415 unless a state-changing request declares a JSON body."""
    if request.method in UNSAFE:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return JSONResponse({"error": "send the request body as JSON with 'Content-Type: application/json'"},
                                status_code=415)
    return None


def refusal(exc: Unauthenticated | Forbidden) -> JSONResponse:
    if isinstance(exc, Unauthenticated):
        return JSONResponse({"error": str(exc), "status": 401}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="decorum"'})
    return JSONResponse({"error": str(exc), "status": 403}, status_code=403)


Endpoint = Callable[[HttpRequest], Awaitable[Response]]


def needs(permission: str, *, surface: str = "api") -> Callable[[Handler], Endpoint]:
    """Wrap a route: JSON body on changes, identify the caller, ``AccessControl.require`` the permission."""

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: HttpRequest) -> Response:
            bad = json_required(request)
            if bad is not None:
                return bad
            access: AccessControl = request.app.state.runtime.access
            route = request.scope.get("route")
            target = getattr(route, "path", request.url.path)
            try:
                who = await asyncio.to_thread(authorize, request, access, permission, surface, target)
            except (Unauthenticated, Forbidden) as exc:
                return refusal(exc)
            return await handler(request, who)

        return endpoint

    return wrap


def authorize(request: HttpRequest, access: AccessControl, permission: str, surface: str, target: str) -> Principal:
    """Identify the caller and ``require`` the permission (database work: run it off the event loop, once)."""
    try:
        who = identify(request, access)
    except CsrfRefused as exc:
        access.record(actor=exc.principal.name, via="session", action=permission, outcome="denied_403",
                      surface=surface, target=target)
        raise
    return access.require(who, permission, surface=surface, target=target)
