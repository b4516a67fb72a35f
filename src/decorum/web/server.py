"""``decorum serve``: one process, two listeners.

The public listener (``--host``/``--port``) serves only ``/slack/*``, ``/healthz`` (ready: models loaded, not
draining) and ``/livez`` (the process serves); the admin listener (``DECORUM_ADMIN_HOST``/``DECORUM_ADMIN_PORT``,
127.0.0.1:8001 by default) serves the console, ``/api/*`` and ``/metrics``. Both run in one event loop over one
runtime. SIGINT/SIGTERM drain, then stop both: readiness turns 503, Slack requests get 503 (Slack retries them
on another replica), queued Slack work is released to other replicas, answers in flight finish for up to
``DECORUM_SLACK_DRAIN_S``, audit records are written before each answer is delivered. Both listeners keep
accepting connections until that drain ends (a closed port would be a connection error to Slack, not the 503
it retries elsewhere); then they stop and the process exits 0. A second signal stops the listeners at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from typing import Any

from decorum import tracing

logger = logging.getLogger(__name__)


def serve(host: str, port: int) -> int:
    # A first line within a second of the start: the imports and the database set-up below take seconds on a busy
    # machine, and the models only start loading once both listeners are up.
    logger.info("decorum serve starting: loading the application, then both listeners; the models load after")
    from decorum.bot.runtime import Runtime
    from decorum.errors import UsageError
    from decorum.web.app import create_apps

    runtime = Runtime.open()
    s = runtime.settings
    if (s.admin_host, s.admin_port) == (host, port) and port != 0:
        raise UsageError(f"the admin listener (DECORUM_ADMIN_HOST/PORT) cannot share {host}:{port} "
                         "with the public one")
    apps = create_apps(runtime)
    tracing.configure()  # on only with an OTLP endpoint; says so in the log at start, not on the first answer
    users = len(runtime.access.list_users())
    # Both ports are bound before anything starts: a taken port is one clear error, not a half-started server.
    public_sock = _bind(host, port, "the public listener (--host/--port)")
    try:
        admin_sock = _bind(s.admin_host, s.admin_port, "the admin listener (DECORUM_ADMIN_HOST/DECORUM_ADMIN_PORT)")
    except UsageError:
        public_sock.close()
        raise
    return asyncio.run(_serve_both(apps, host, public_sock, s.admin_host, admin_sock, users=users))


def _bind(host: str, port: int, what: str) -> socket.socket:
    from decorum.errors import UsageError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listen now: with SO_REUSEADDR a bind succeeds beside a socket that is bound but not yet listening (another
        # process given the same port), and the conflict would only surface inside uvicorn's start-up.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"{what} cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _server(app: Any, host: str, port: int) -> Any:
    import uvicorn

    class _Server(uvicorn.Server):
        def install_signal_handlers(self) -> None:  # uvicorn < 0.29
            pass

        def capture_signals(self) -> Any:  # uvicorn >= 0.29: the process's handlers below stop both
            import contextlib

            return contextlib.nullcontext()

    return _Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                  server_header=False, date_header=False))


def _url(host: str, server: Any) -> str:
    port = server.servers[0].sockets[0].getsockname()[1] if server.servers else "?"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _serve_both(apps: Any, host: str, public_sock: socket.socket, admin_host: str, admin_sock: socket.socket,
                      *, users: int) -> int:
    # Two uvicorn servers in one process would each log the same start and stop lines; ours below say each once.
    uvicorn_log = logging.getLogger("uvicorn.error")
    if uvicorn_log.getEffectiveLevel() > logging.DEBUG:
        uvicorn_log.setLevel(logging.WARNING)
    public = _server(apps.public, host, public_sock.getsockname()[1])
    admin = _server(apps.admin, admin_host, admin_sock.getsockname()[1])
    loop = asyncio.get_running_loop()
    draining: list[asyncio.Task[None]] = []

    def stop_now() -> None:
        apps.services.begin_drain()
        public.should_exit = admin.should_exit = True  # uvicorn closes the listening sockets, then the lifespan

    async def drain_then_stop() -> None:
        try:
            await apps.services.drain()  # the listeners keep serving: Slack gets 503, /healthz 503, /livez 200
        except Exception as exc:  # the drain must not keep the process up
            logger.error("decorum serve drain failed: %s", exc.__class__.__name__)
        finally:
            stop_now()

    def stop(*_: Any) -> None:
        """The first signal drains while both listeners stay up, then stops them; a second stops them at once
        (answers in flight still get their ``DECORUM_SLACK_DRAIN_S`` in the lifespan's shutdown)."""
        if draining:
            logger.info("decorum serve stopping now (second signal)")
            stop_now()
            return
        logger.info("decorum serve stopping: draining (no new Slack work; answers in flight finish)")
        draining.append(loop.create_task(drain_then_stop(), name="drain"))

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            signal.signal(sig, stop)
    tasks = [asyncio.create_task(public.serve(sockets=[public_sock]), name="public"),
             asyncio.create_task(admin.serve(sockets=[admin_sock]), name="admin")]
    while not (public.started and admin.started):
        if any(t.done() for t in tasks):  # one could not start: stop the other
            stop_now()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            why = "; ".join(f"{t.get_name()}: {r.__class__.__name__}: {r}" for t, r in zip(tasks, results, strict=True)
                            if isinstance(r, BaseException))
            logger.error("decorum serve could not start both listeners%s", f" ({why})" if why else "")
            return 1
        await asyncio.sleep(0.05)
    slack = " (Slack: /slack/events)" if apps.services.slack is not None else " (Slack not configured)"
    lines = [f"Decorum public listener: {_url(host, public)}  /healthz{slack}",
             f"Decorum admin console:   {_url(admin_host, admin)}/  (console, /api, /metrics; login with a token)"]
    if users == 0:
        lines.append("No users yet: create one with `decorum users add NAME --role admin` (prints its login token).")
    if apps.services.load_models and not apps.services.loader.ready.is_set():
        lines.append("Loading the models in the background: /healthz answers 503 until they are loaded (a first start "
                     "converts and builds them once: minutes on 2 cores)")
    for line in lines:  # logged once each (they were also printed to stdout: every line showed twice)
        logger.info(line)
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*draining, return_exceptions=True)
    finally:
        # Spans of the last answers reach the collector before the process exits (bounded by the export timeout).
        await asyncio.to_thread(tracing.shutdown)
    logger.info("decorum serve stopped")
    return 0
