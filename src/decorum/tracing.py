"""OpenTelemetry traces of the request path: off by default, on when an OTLP endpoint is configured.

On when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces``
appended) is set, unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. Spans go over OTLP/HTTP
(protobuf) through a ``BatchSpanProcessor``; ``OTEL_SERVICE_NAME`` (default ``decorum``),
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS``/``TIMEOUT``/``COMPRESSION``/certificates,
``OTEL_TRACES_SAMPLER`` and ``OTEL_BSP_*`` keep their standard meaning. The export timeout is 2 s unless
``OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`` says otherwise (seconds): a slow or dead collector costs the export
thread, never an answer (spans are dropped when its queue is full).

The provider is Decorum's own: the global one (``trace.set_tracer_provider``) is never set, and no span is
ever made current in the global context, so guardrails-ai (which traces through the global provider) and any
other library stay silent, and cannot add attributes to Decorum's spans.

``OTEL_SDK_DISABLED`` is read as the operator set it (``decorum.offline.operator_value``):
``decorum.offline.ensure_offline`` forces it to ``true`` so the libraries Decorum uses stay silent.

Off, ``start`` returns a shared no-op recorder: no OpenTelemetry module is imported, no object is built.

One answer's spans (all attributes bounded; never question or answer text, never user, team or channel ids)::

    decorum.answer                        decorum.surface, .verdict, .note_id, .policy, .guardrails.action,
    │                                     .strategy, .route.reason, .template, .template.variant, error.type
    ├── decorum.input_checks              decorum.stage = input
    │   └── decorum.check {name}          decorum.check.name, .score, .threshold, .passed, .action, .stage
    ├── decorum.route                     decorum.strategy, decorum.route.reason, decorum.template
    ├── chat {model}                      gen_ai.* (operation.name, provider.name, system, request.model,
    │                                     response.model, request.max_tokens, request.temperature,
    │                                     usage.input_tokens, usage.output_tokens, response.finish_reasons)
    ├── decorum.output_checks             (one per generation attempt, like chat; checks below)
    └── decorum.audit_append

Stage spans carry the times the note's ``latency_ms`` is computed from (recorded as each stage ends; the
spans are built when the answer is finished), so generation in the batching threads needs no context passing.

Example::

    trace = tracing.start(time.perf_counter())   # no-op unless configured
    ...
    trace.stage("decorum.route", t_route, {"decorum.strategy": "prompt_engineering"})
    trace.finish(note)                            # builds and ends the spans; the exporter sends them later
    tracing.shutdown()                            # at exit (also registered with atexit)
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TIMEOUT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
PROTOCOL_VARS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
DEFAULT_SERVICE_NAME = "decorum"
DEFAULT_TIMEOUT_S = 2.0
TRACER_NAME = "decorum"


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """Where spans go, from the standard OTel environment variables."""

    endpoint: str
    service_name: str = DEFAULT_SERVICE_NAME
    timeout_s: float | None = DEFAULT_TIMEOUT_S  # None: the exporter reads OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT


def settings_from_env(env: Mapping[str, str] | None = None) -> TraceSettings | None:
    """The trace settings ``env`` (default ``os.environ``) asks for; None when tracing is off."""
    from decorum.offline import operator_value

    environ = os.environ if env is None else env
    # Without env: the operator's value, not the "true" decorum.offline forces for the libraries.
    disabled = operator_value("OTEL_SDK_DISABLED") if env is None else environ.get("OTEL_SDK_DISABLED")
    if (disabled or "").strip().lower() == "true":
        return None
    if (environ.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower() == "none":
        return None
    endpoint = (environ.get(ENDPOINT_VARS[0]) or "").strip()
    if not endpoint:
        base = (environ.get(ENDPOINT_VARS[1]) or "").strip()
        if not base:
            return None
        endpoint = base.rstrip("/") + "/v1/traces"
    for var in PROTOCOL_VARS:
        protocol = (environ.get(var) or "").strip()
        if protocol and protocol != "http/protobuf":
            logger.warning("%s=%s: Decorum exports traces over OTLP/HTTP (http/protobuf) to %s", var, protocol,
                           endpoint)
            break
    timeout: float | None = DEFAULT_TIMEOUT_S
    if any(environ.get(var) for var in TIMEOUT_VARS):
        timeout = None
    return TraceSettings(endpoint=endpoint, service_name=(environ.get("OTEL_SERVICE_NAME") or "").strip()
                         or DEFAULT_SERVICE_NAME, timeout_s=timeout)


class _State:
    lock = threading.Lock()
    configured = False
    provider: Any = None  # opentelemetry.sdk.trace.TracerProvider, private to Decorum
    tracer: Any = None
    settings: TraceSettings | None = None
    atexit_registered = False


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on or off from ``env`` (default ``os.environ``); True when on.

    Called on the first answer when nobody called it; call it again (after ``shutdown``) to re-read.
    """
    with _State.lock:
        if _State.configured:
            return _State.tracer is not None
        settings = settings_from_env(env)
        if settings is not None:
            try:
                _State.provider, _State.tracer = _build(settings)
            except Exception as exc:  # a tracing problem never stops Decorum
                logger.error("tracing off: could not set up the OTLP exporter to %s (%s: %s)", settings.endpoint,
                             exc.__class__.__name__, exc)
                _State.provider = _State.tracer = None
            else:
                logger.info("tracing on: OTLP/HTTP to %s as service %s", settings.endpoint, settings.service_name)
                if not _State.atexit_registered:
                    atexit.register(shutdown)
                    _State.atexit_registered = True
        _State.settings = settings if _State.tracer is not None else None
        _State.configured = True
        return _State.tracer is not None


def _build(settings: TraceSettings) -> tuple[Any, Any]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import NoOpTracer

    from decorum import __version__

    resource = Resource.create({"service.name": settings.service_name, "service.version": __version__})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    # The SDK reads OTEL_SDK_DISABLED from the environment, where decorum.offline forced "true" for the libraries;
    # the operator's own value was honoured by settings_from_env, and the SDK has no public switch for this.
    provider._disabled = False
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.endpoint,
                                                                    timeout=settings.timeout_s)))
    tracer = provider.get_tracer(TRACER_NAME, __version__)
    if isinstance(tracer, NoOpTracer):  # an SDK that no longer honours _disabled hands back a no-op
        raise RuntimeError("the OpenTelemetry SDK returned a no-op tracer (OTEL_SDK_DISABLED in the environment)")
    return provider, tracer


def enabled() -> bool:
    """Whether answers are traced (configures from the environment on first call)."""
    if not _State.configured:
        configure()
    return _State.tracer is not None


def force_flush(timeout_s: float = 5.0) -> bool:
    """Export what is buffered now (tests, benchmarks); True when done in time or tracing is off."""
    provider = _State.provider
    return True if provider is None else bool(provider.force_flush(int(timeout_s * 1000)))


def shutdown(timeout_s: float = 5.0) -> None:
    """Flush and stop the exporter (the server calls it when it stops; also run at exit). Idempotent."""
    with _State.lock:
        provider = _State.provider
        _State.provider = _State.tracer = _State.settings = None
        _State.configured = False
    if provider is None:
        return
    try:
        provider.force_flush(int(timeout_s * 1000))
        provider.shutdown()
    except Exception as exc:  # at exit: never a traceback for a collector that went away
        logger.warning("tracing shutdown: %s", exc.__class__.__name__)


# --- one answer ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Record:
    name: str
    start: float  # time.perf_counter()
    end: float
    attributes: dict[str, Any]
    error: str | None = None
    children: list[_Record] = field(default_factory=list)


class _NoTrace:
    """The recorder when tracing is off: every method does nothing."""

    __slots__ = ()
    enabled = False

    def stage(self, name: str, started: float, attributes: Mapping[str, Any] | None = None) -> None:
        return None

    def checks(self, name: str, started: float, results: Sequence[Any], *, stage: str, fail_action: str) -> None:
        return None

    def generation(self, started: float, **_: Any) -> None:
        return None

    def finish(self, note: Mapping[str, Any]) -> None:
        return None


NO_TRACE = _NoTrace()


class AnswerTrace:
    """One answer's stages, recorded as they end (times from ``time.perf_counter()``); spans built at ``finish``."""

    __slots__ = ("_perf0", "_records", "_started", "_tracer", "_wall0")
    enabled = True

    def __init__(self, tracer: Any, started: float) -> None:
        self._tracer = tracer
        self._perf0 = time.perf_counter()
        self._wall0 = time.time_ns()
        self._started = started
        self._records: list[_Record] = []

    def _ns(self, perf: float) -> int:
        return self._wall0 + int((perf - self._perf0) * 1e9)

    def stage(self, name: str, started: float, attributes: Mapping[str, Any] | None = None) -> _Record:
        """A stage that began at ``started`` and ends now."""
        rec = _Record(name, started, time.perf_counter(), dict(attributes or {}))
        self._records.append(rec)
        return rec

    def checks(self, name: str, started: float, results: Sequence[Any], *, stage: str, fail_action: str) -> _Record:
        """A checks stage and one child span per ``CheckResult`` (``fail_action``: what a failure led to)."""
        rec = self.stage(name, started, {"decorum.stage": stage})
        for r in results:
            rec.children.append(_Record(f"decorum.check {r.check}", rec.start, rec.end, {
                "decorum.check.name": r.check, "decorum.check.stage": stage, "decorum.check.score": round(r.score, 4),
                "decorum.check.threshold": r.threshold, "decorum.check.passed": r.passed,
                "decorum.check.action": "allow" if r.passed else fail_action}))
        return rec

    def generation(self, started: float, *, info: Any, adapter: Any = None, max_tokens: int | None = None,
                   temperature: float | None = None, gen: Any = None, strategy: str | None = None,
                   error: BaseException | None = None) -> _Record:
        """The ``chat {model}`` span (GenAI semantic conventions) of one generation attempt."""
        model = str(info.name)
        attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": info.engine or info.backend,
                                 "gen_ai.system": info.engine or info.backend, "gen_ai.request.model": model,
                                 "gen_ai.request.temperature": float(temperature or 0.0)}
        if max_tokens is not None:
            attrs["gen_ai.request.max_tokens"] = int(max_tokens)
        if strategy:
            attrs["decorum.strategy"] = strategy
        if adapter is not None:
            attrs["decorum.adapter"] = f"{adapter.name}@{adapter.version}"
        if gen is not None:
            attrs["gen_ai.response.model"] = model + (f"+{adapter.name}@{adapter.version}" if adapter else "")
            attrs["gen_ai.usage.input_tokens"] = int(gen.prompt_tokens)
            attrs["gen_ai.usage.output_tokens"] = int(gen.completion_tokens)
            attrs["gen_ai.response.finish_reasons"] = [str(gen.finish_reason)]
        rec = self.stage(f"chat {model}", started, attrs)
        if error is not None:
            rec.error = error.__class__.__name__
        return rec

    def finish(self, note: Mapping[str, Any]) -> None:
        """Build and end the answer's spans (the root ends now); never raises."""
        try:
            self._emit(note, time.perf_counter())
        except Exception as exc:
            logger.warning("tracing: answer %s not traced (%s)", note.get("id"), exc.__class__.__name__)

    def _emit(self, note: Mapping[str, Any], ended: float) -> None:
        from opentelemetry.trace import Status, StatusCode, set_span_in_context

        guard = note.get("guardrails") or {}
        route = note.get("route") or {}
        tpl = note.get("template") or {}
        attrs: dict[str, Any] = {"decorum.surface": str(note.get("surface")),
                                 "decorum.verdict": str(note.get("verdict")), "decorum.note_id": str(note.get("id")),
                                 "decorum.policy": str(guard.get("policy")),
                                 "decorum.guardrails.action": str(guard.get("action"))}
        if route:
            attrs["decorum.strategy"] = str(route.get("strategy"))
            attrs["decorum.route.reason"] = str(route.get("reason"))
        if tpl:
            attrs["decorum.template"] = f"{tpl.get('name')}@{tpl.get('version')}"
            attrs["decorum.template.variant"] = str(tpl.get("variant"))
        error = note.get("error")
        if isinstance(error, Mapping):
            attrs["error.type"] = str(error.get("type"))
        tracer = self._tracer
        root = tracer.start_span("decorum.answer", start_time=self._ns(self._started), attributes=attrs)
        if error:
            root.set_status(Status(StatusCode.ERROR))

        def emit(rec: _Record, parent: Any) -> None:
            span = tracer.start_span(rec.name, context=set_span_in_context(parent), start_time=self._ns(rec.start),
                                     attributes=rec.attributes)
            if rec.error:
                span.set_attribute("error.type", rec.error)
                span.set_status(Status(StatusCode.ERROR))
            for child in rec.children:
                emit(child, span)
            span.end(end_time=self._ns(rec.end))

        for rec in self._records:
            emit(rec, root)
        root.end(end_time=self._ns(ended))


Recorder = AnswerTrace | _NoTrace  # what ``start`` returns


def start(started: float) -> Recorder:
    """A recorder for one answer that began at ``started`` (``time.perf_counter()``); ``NO_TRACE`` when off."""
    tracer = _State.tracer
    if tracer is None:
        if _State.configured or not configure():
            return NO_TRACE
        tracer = _State.tracer
        if tracer is None:
            return NO_TRACE
    return AnswerTrace(tracer, started)
