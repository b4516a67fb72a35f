"""Observability: OpenTelemetry traces to a real OTLP/HTTP receiver, off by default, never slowed by a dead
collector, never carrying text; Prometheus metrics at the admin listener's /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from decorum import offline, tracing
from decorum.access import local_admin
from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

QUESTION = "How do I reset the zebracorn VPN password before Friday?"
TOXIC = "You are worthless and a quixotically useless bot"
ANSWER = "Open the marmalade portal and choose Reset password."
USER = "U0PRIVATEUSER"
RULES = {"worthless": {"toxicity": 0.97, "insult": 0.9}, "BADWORD": {"toxicity": 0.9}}
OTEL_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
             "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_TIMEOUT",
             "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
             "OTEL_TRACES_SAMPLER", "OTEL_RESOURCE_ATTRIBUTES")


class Receiver:
    """A minimal OTLP/HTTP collector: keeps every POST /v1/traces body, answers with an empty response."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.paths.append(self.path)
                receiver.bodies.append(body)
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def raw(self) -> bytes:
        return b"".join(self.bodies)

    def spans(self) -> list[dict[str, Any]]:
        """Every exported span as a dict: name, ids, times, attributes, scope and resource attributes."""
        out = []
        for body in self.bodies:
            req = ExportTraceServiceRequest.FromString(body)
            for rs in req.resource_spans:
                resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append({"name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                    "parent": s.parent_span_id.hex(), "start": s.start_time_unix_nano,
                                    "end": s.end_time_unix_nano, "status": s.status.code, "scope": ss.scope.name,
                                    "resource": resource,
                                    "attrs": {kv.key: _value(kv.value) for kv in s.attributes}})
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No OTEL_* variable from outside; tracing re-reads the environment before and after the test."""
    for var in OTEL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(offline._OPERATOR_ENV, "OTEL_SDK_DISABLED", None)  # as if the operator left it unset
    tracing.shutdown()
    yield monkeypatch
    tracing.shutdown()


@pytest.fixture
def receiver(otel_env: pytest.MonkeyPatch) -> Iterator[Receiver]:
    rec = Receiver()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{rec.port}")
    yield rec
    tracing.shutdown()
    rec.close()


def runtime(settings: Settings, generator: FakeGenerator | None = None) -> Runtime:
    return Runtime.open(settings, classifier=FakeClassifier(RULES), generator=generator or FakeGenerator(ANSWER))


def ask(rt: Runtime, text: str, **kw: Any) -> dict[str, Any]:
    return asyncio.run(rt.pipeline.answer(Request(text=text, **kw))).as_json()


def by_trace(spans: list[dict[str, Any]], note_id: str) -> list[dict[str, Any]]:
    [root] = [s for s in spans if s["name"] == "decorum.answer" and s["attrs"]["decorum.note_id"] == note_id]
    return [s for s in spans if s["trace_id"] == root["trace_id"]]


def _ms(span: dict[str, Any]) -> float:
    return (span["end"] - span["start"]) / 1e6


# --- traces ----------------------------------------------------------------------------------------------


def test_spans_reach_a_real_otlp_receiver_with_genai_attributes_and_no_text(settings: Settings,
                                                                           receiver: Receiver) -> None:
    rt = runtime(settings)  # Runtime.open forces OTEL_SDK_DISABLED=true for the libraries: Decorum still traces
    note = ask(rt, QUESTION, surface="web", user=USER, max_new_tokens=64)
    blocked = ask(rt, TOXIC, surface="web", user=USER)
    assert note["verdict"] == "answered" and note["answer"] == ANSWER and blocked["verdict"] == "blocked_input"
    assert tracing.enabled() and tracing.force_flush(5)
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}

    spans = receiver.spans()
    trace = by_trace(spans, note["id"])
    names = sorted(s["name"] for s in trace)
    assert names == sorted(["decorum.answer", "decorum.input_checks", "decorum.route", "chat fake-llm",
                            "decorum.output_checks", "decorum.audit_append", "decorum.check toxicity",
                            "decorum.check bias", "decorum.check toxicity", "decorum.check bias",
                            "decorum.check answer_bias"])  # answer_bias: output only
    one = {s["name"]: s for s in trace}
    root = one["decorum.answer"]
    assert root["parent"] == "" and root["scope"] == "decorum"
    assert root["resource"]["service.name"] == "decorum"
    for name in ("decorum.input_checks", "decorum.route", "chat fake-llm", "decorum.output_checks",
                 "decorum.audit_append"):
        assert one[name]["parent"] == root["span_id"], name
        assert root["start"] <= one[name]["start"] <= one[name]["end"] <= root["end"], name
    stage_of = {s["span_id"]: s["name"] for s in trace}
    checks = [s for s in trace if s["name"].startswith("decorum.check ")]
    assert sorted(stage_of[c["parent"]] for c in checks) == ["decorum.input_checks"] * 2 + ["decorum.output_checks"] * 3
    for c in checks:
        a = c["attrs"]
        assert a["decorum.check.name"] in ("toxicity", "bias", "answer_bias") and a["decorum.check.action"] == "allow"
        assert a["decorum.check.passed"] is True and 0.0 <= a["decorum.check.score"] <= 1.0
        stage = "input" if stage_of[c["parent"]] == "decorum.input_checks" else "output"
        [result] = [r for r in note["guardrails"][stage] if r["check"] == a["decorum.check.name"]]
        assert a["decorum.check.score"] == result["score"] and a["decorum.check.stage"] == stage

    assert root["attrs"] == {
        "decorum.surface": "web", "decorum.verdict": "answered", "decorum.note_id": note["id"],
        "decorum.policy": note["guardrails"]["policy"], "decorum.guardrails.action": "allow",
        "decorum.strategy": note["route"]["strategy"], "decorum.route.reason": note["route"]["reason"],
        "decorum.template": f"{note['template']['name']}@{note['template']['version']}",
        "decorum.template.variant": "standard"}
    chat = one["chat fake-llm"]["attrs"]
    assert chat["gen_ai.operation.name"] == "chat" and chat["gen_ai.provider.name"] == "fake"
    assert chat["gen_ai.system"] == "fake"
    adapter = note["model"].get("adapter")  # the VPN question routes to the helpdesk adapter
    assert adapter and note["route"]["strategy"] == "fine_tuned"
    assert chat["gen_ai.request.model"] == "fake-llm"
    assert chat["gen_ai.response.model"] == f"fake-llm+{adapter['name']}@{adapter['version']}"
    assert chat["decorum.adapter"] == f"{adapter['name']}@{adapter['version']}"
    assert chat["gen_ai.request.max_tokens"] == 64
    assert chat["gen_ai.request.temperature"] == note["generation"]["temperature"]
    assert chat["gen_ai.usage.input_tokens"] == note["tokens"]["prompt"] > 0
    assert chat["gen_ai.usage.output_tokens"] == note["tokens"]["completion"] == len(ANSWER.split())
    assert chat["gen_ai.response.finish_reasons"] == ["stop"]
    assert chat["decorum.strategy"] == note["route"]["strategy"]

    # The stage spans are the note's timings (the note rounds to whole milliseconds).
    for span, stage in (("decorum.input_checks", "input_checks"), ("decorum.route", "route"),
                        ("chat fake-llm", "generate"), ("decorum.output_checks", "output_checks")):
        # the same stage timed twice, a few statements apart: equal within what a loaded machine adds between them
        assert abs(_ms(one[span]) - note["latency_ms"][stage]) <= 2.0 + 0.5 * note["latency_ms"][stage] + 10, (
            span, _ms(one[span]), note["latency_ms"])
    assert _ms(root) >= note["latency_ms"]["total"] - 1

    # The blocked question: input checks, a refusal, no generation.
    refused = {s["name"]: s for s in by_trace(spans, blocked["id"])}
    assert "chat fake-llm" not in refused and "decorum.route" not in refused
    assert refused["decorum.answer"]["attrs"]["decorum.verdict"] == "blocked_input"
    assert refused["decorum.check toxicity"]["attrs"]["decorum.check.action"] == "refused"
    assert refused["decorum.check bias"]["attrs"]["decorum.check.action"] == "allow"

    # No message text and no user id anywhere in what left the process.
    raw = receiver.raw
    for secret in (QUESTION, "zebracorn", ANSWER, "marmalade", TOXIC, "quixotically", USER,
                   rt.pseudonymiser.user(USER)):
        assert secret.encode() not in raw, secret
    rt.pipeline.close()


def test_a_regenerated_answer_has_one_chat_span_per_attempt(settings: Settings, receiver: Receiver) -> None:
    def reply(req) -> str:  # the standard template's answer fails the output checks, the safer one passes
        return "Try the portal." if "neutral" in req.messages[0]["content"] else "Only BADWORD people ask that."

    rt = runtime(settings, FakeGenerator(reply))
    note = ask(rt, QUESTION)
    assert note["verdict"] == "answered" and note["guardrails"]["action"] == "regenerated"
    tracing.force_flush(5)
    trace = by_trace(receiver.spans(), note["id"])
    chats = sorted((s for s in trace if s["name"] == "chat fake-llm"), key=lambda s: s["start"])
    outputs = sorted((s for s in trace if s["name"] == "decorum.output_checks"), key=lambda s: s["start"])
    assert len(chats) == len(outputs) == 2
    assert abs(sum(_ms(s) for s in chats) - note["latency_ms"]["generate"]) <= 3.0
    first = [s for s in trace if s["parent"] == outputs[0]["span_id"] and s["name"] == "decorum.check toxicity"]
    assert first[0]["attrs"]["decorum.check.action"] == "regenerated" and not first[0]["attrs"]["decorum.check.passed"]
    [root] = [s for s in trace if s["name"] == "decorum.answer"]
    assert root["attrs"]["decorum.template.variant"] == "safer"
    assert b"BADWORD" not in receiver.raw and b"Try the portal" not in receiver.raw
    rt.pipeline.close()


def test_guardrails_ai_spans_are_never_exported(settings: Settings, receiver: Receiver) -> None:
    """guardrails-ai traces through the global provider, which Decorum never sets: its spans go nowhere."""
    from guardrails import Guard
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider

    from decorum.guardrails.checks import Guardrails
    from decorum.guardrails.policy import Policy
    from decorum.guardrails.validators import DecorumToxicity

    rt = runtime(settings)
    note = ask(rt, QUESTION)
    guard = Guard().use(DecorumToxicity(on_fail="noop", guardrails=Guardrails(Policy(), FakeClassifier(RULES))))
    assert guard.validate("guarded zebracorn text").validation_passed
    assert not guard.validate("a worthless guarded text").validation_passed
    ask(rt, QUESTION)
    assert tracing.force_flush(5)
    spans = receiver.spans()
    assert {s["scope"] for s in spans} == {"decorum"} and by_trace(spans, note["id"])
    assert b"guarded" not in receiver.raw and b"guardrails-ai" not in receiver.raw and b"guard." not in receiver.raw
    assert not isinstance(otel_trace.get_tracer_provider(), TracerProvider)  # the global one is still the proxy
    rt.pipeline.close()


def test_tracing_is_off_by_default(settings: Settings, otel_env: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    otel_env.setattr(tracing, "_build", lambda s: built.append(s) or pytest.fail("an SDK provider was built"))
    rt = runtime(settings)
    assert ask(rt, QUESTION)["verdict"] == "answered"
    assert not tracing.enabled() and built == [] and tracing._State.provider is None
    assert tracing.start(time.perf_counter()) is tracing.NO_TRACE
    rt.pipeline.close()


def test_off_imports_no_opentelemetry(settings: Settings) -> None:
    """A whole answer with tracing off, in a fresh process: not one OpenTelemetry module is loaded."""
    code = (
        "import asyncio, json, sys\n"
        "from decorum.bot.pipeline import Request\n"
        "from decorum.bot.runtime import Runtime\n"
        "from tests.fakes import FakeClassifier, FakeGenerator\n"
        "rt = Runtime.open(classifier=FakeClassifier({}), generator=FakeGenerator())\n"
        "q = Request(text='How do I reset my VPN password?', strategy='prompt_engineering')\n"
        "a = asyncio.run(rt.pipeline.answer(q))\n"
        "print(json.dumps([a.verdict, sorted(m for m in sys.modules if m.startswith('opentelemetry'))]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=str(Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr[-2000:]
    verdict, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert verdict == "answered" and loaded == []


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("http://collector:4318/v1/traces", "decorum")),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_SERVICE_NAME": "decorum-eu"},
     ("http://collector:4318/v1/traces", "decorum-eu")),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otel.example/custom",
      "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318"}, ("https://otel.example/custom", "decorum")),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, None),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "TRUE "}, None),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, None),
])
def test_settings_from_the_standard_variables(env: dict[str, str], expected: tuple[str, str] | None) -> None:
    got = tracing.settings_from_env(env)
    assert (None if got is None else (got.endpoint, got.service_name)) == expected
    if got is not None:
        assert got.timeout_s == tracing.DEFAULT_TIMEOUT_S


@pytest.mark.parametrize("operator_value, on", [(None, True), ("false", True), ("true", False)])
def test_the_operators_otel_sdk_disabled_wins_over_an_endpoint(operator_value: str | None, on: bool) -> None:
    # A fresh process, as `decorum serve` starts: ensure_offline forces OTEL_SDK_DISABLED=true for the libraries
    # before or after tracing is imported; tracing still reads what the operator set.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    if operator_value is not None:
        env["OTEL_SDK_DISABLED"] = operator_value
    for order in ("offline-first", "tracing-first"):
        code = ("import os, sys\n"
                "from decorum import offline\n"
                + ("offline.ensure_offline()\nfrom decorum import tracing\n" if order == "offline-first" else
                   "from decorum import tracing\noffline.ensure_offline()\n")
                + "assert os.environ['OTEL_SDK_DISABLED'] == 'true'\n"
                "print(tracing.configure(), tracing.enabled())\n"
                "tracing.shutdown()\n")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                             check=True)
        assert out.stdout.split() == [str(on), str(on)], (order, out.stdout, out.stderr[-2000:])


def test_a_dead_collector_never_fails_or_slows_an_answer(settings: Settings, otel_env: pytest.MonkeyPatch) -> None:
    """Spans leave through the batch processor's own thread: answers come back while every export is held (a
    collector that never answers), and the export that finally runs against a dead port fails without an error."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    held, exported_in = threading.Event(), []
    real_export = OTLPSpanExporter.export

    def hung_collector(self: Any, spans: Any) -> Any:
        exported_in.append(threading.current_thread().name)
        held.wait(60)  # in the request path this would hold the answer: the thread names below say where it ran
        return real_export(self, spans)

    otel_env.setattr(OTLPSpanExporter, "export", hung_collector)
    rt = runtime(settings)
    ask(rt, QUESTION)  # configures tracing (off) and warms templates, router, batcher threads
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    tracing.shutdown()  # read the environment again
    assert tracing.configure()
    for _ in range(3):
        note = ask(rt, QUESTION)
        assert note["verdict"] == "answered" and note["answer"] == ANSWER
    # every answer came back while any export was held, and none was exported by the threads that answered
    during = list(exported_in)
    assert all(name.startswith("OtelBatch") for name in during), during
    held.set()
    tracing.shutdown(timeout_s=3)  # flushes here: the spans cannot be delivered, dropped after the timeout, no error
    assert len(exported_in) > len(during) or during  # the spans did reach the exporter
    rt.pipeline.close()


# --- metrics ---------------------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _get(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items() if n == name and all((k, w) in lab for k, w in labels.items()))


async def test_metrics_after_a_blocked_and_an_answered_request(settings: Settings, otel_env) -> None:
    from decorum.web.app import create_apps

    rt = runtime(settings)
    apps = create_apps(rt, load_models=False)
    token = rt.access.add_user("metrics-viewer", "viewer", by=local_admin("local:test"))[1]
    auth = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.admin), base_url="http://127.0.0.1:8001") as c:
        assert (await c.get("/metrics")).status_code == 401
        before = _samples((await c.get("/metrics", headers=auth)).text)
        r1 = await c.post("/api/ask", json={"text": QUESTION}, headers=auth)
        r2 = await c.post("/api/ask", json={"text": TOXIC}, headers=auth)
        assert r1.json()["verdict"] == "answered" and r2.json()["verdict"] == "blocked_input"
        resp = await c.get("/metrics", headers=auth)
    assert resp.status_code == 200
    text = resp.text
    after = _samples(text)

    def delta(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert delta("decorum_requests_total", surface="web", verdict="answered") == 1
    assert delta("decorum_requests_total", surface="web", verdict="blocked_input") == 1
    for check in ("toxicity", "bias"):
        assert delta("decorum_guardrail_score_count", check=check, stage="input") == 2
        assert delta("decorum_guardrail_score_count", check=check, stage="output") == 1
        buckets = [lab for (n, lab) in after if n == "decorum_guardrail_score_bucket"
                   and ("check", check) in lab and ("stage", "input") in lab]
        assert {dict(lab)["le"] for lab in buckets} >= {"0.1", "0.35", "0.5", "1.0", "+Inf"}
    # the question's toxicity (0.01) falls in every bucket, the insult's (0.97) only from le="0.99"
    assert delta("decorum_guardrail_score_bucket", check="toxicity", stage="input", le="0.9") == 1
    assert delta("decorum_guardrail_score_bucket", check="toxicity", stage="input", le="0.99") == 2
    assert delta("decorum_guardrail_blocks_total", check="toxicity", stage="input") == 1
    assert delta("decorum_guardrail_blocks_total", check="bias", stage="input") == 0
    assert delta("decorum_guardrail_actions_total", action="refused") == 1
    assert delta("decorum_guardrail_actions_total", action="allow") == 1
    for stage in ("input_checks", "total", "audit"):
        assert delta("decorum_stage_seconds_count", stage=stage) == 2, stage
    for stage in ("route", "generate", "output_checks"):
        assert delta("decorum_stage_seconds_count", stage=stage) == 1, stage
    assert delta("decorum_generations_total", engine="fake", finish_reason="stop") == 1
    assert delta("decorum_tokens_total", kind="completion") == len(ANSWER.split())
    for queue in ("slack", "checks", "generate"):
        assert ("decorum_queue_depth", (("queue", queue),)) in after, queue
    assert _get(after, "decorum_queue_depth", queue="slack") == 0
    assert ("decorum_requests_in_flight", ()) in after

    # No text, no user: every label of a decorum_* series is a short identifier.
    for secret in (QUESTION, "zebracorn", ANSWER, "marmalade", TOXIC, "quixotically", "metrics-viewer",
                   rt.pseudonymiser.user("web:metrics-viewer")):
        assert secret not in text, secret
    for (name, labels) in after:
        if name.startswith("decorum_"):
            for key, value in labels:
                assert len(value) <= 40 and " " not in value, (name, key, value)
    rt.pipeline.close()
