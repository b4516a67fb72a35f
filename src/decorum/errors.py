"""The error tree. Blocked content is a result (a verdict), never an exception.

::

    DecorumError
      UsageError          bad input from a person: empty text, bad JSON, unknown id (CLI exit 2)
      ConfigError         bad settings or YAML (names the field)
      TemplateError
        TemplateNotFound  unknown template name or version
        TemplateRenderError
        TemplateInvalid   a template that fails validation when saved
      ModelError
        ModelLoadError
        GenerationError   includes time-outs of a remote backend
      CheckError          a check crashed (NOT "content blocked")
      StoreError
        AuditIntegrityError
      AuthError
        Unauthenticated   no (valid) credentials: HTTP 401
        Forbidden         a role that lacks the right: HTTP 403
      Busy                a bounded queue is full or the deadline passed: HTTP 503, "busy" in Slack
        RateLimited       one user asked too often: HTTP 429
"""

from __future__ import annotations


class DecorumError(Exception):
    """Root of every error Decorum raises on purpose."""


class UsageError(DecorumError):
    """The caller asked for something that cannot be done as asked."""


class ConfigError(DecorumError):
    """Settings or the YAML configuration are invalid."""


class TemplateError(DecorumError):
    """A prompt template problem."""


class TemplateNotFound(TemplateError, UsageError):
    """No template (or version) of that name."""


class TemplateRenderError(TemplateError):
    """A template failed to render (undefined variable, sandbox violation)."""


class TemplateInvalid(TemplateError, UsageError):
    """A template version failed validation when saved."""


class ModelError(DecorumError):
    """A generation backend or classifier failed."""


class ModelLoadError(ModelError):
    """Weights could not be found, verified or loaded."""


class GenerationError(ModelError):
    """Generation failed (backend down, time-out, bad response)."""


class CheckError(DecorumError):
    """A guardrail check crashed. Content being blocked is not an error."""


class StoreError(DecorumError):
    """The database could not do what was asked."""


class AuditIntegrityError(StoreError):
    """The audit log's hash chain does not hold."""


class AuthError(DecorumError):
    """Authentication or authorisation failed."""


class Unauthenticated(AuthError):
    """No credentials, or credentials that are unknown, revoked or expired."""


class Forbidden(AuthError):
    """The caller is known but their role lacks the permission asked for."""


class Busy(DecorumError):
    """A bounded queue is full or the request's deadline passed; nothing was lost, try again later.

    ``reason`` is ``capacity`` (a full queue) or ``deadline``; ``RateLimited`` says ``rate_limit``.
    """

    reason = "capacity"

    def __init__(self, message: str, *, retry_after_s: float = 5.0, reason: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        if reason is not None:
            self.reason = reason


class RateLimited(Busy):
    """One user asked more often than the per-user rate limit allows."""

    reason = "rate_limit"

