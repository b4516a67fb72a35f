"""The one request path: input checks -> route -> generate -> output checks -> note -> audit log.

Slack, the CLI and the web console build a ``Request`` and show the ``Answer``; nothing else answers.
A surface that can show an answer while it is generated passes an ``AnswerStream``: it then sees only
text that passed the output checks (``decorum.bot.streaming``), and the final ``Answer`` replaces it.

Example::

    answer = await pipeline.answer(Request(text="How do I reset my VPN password?", surface="cli"))
    answer.text, answer.note["verdict"], answer.note["id"]
    answer = await pipeline.answer(request, stream=slack_message_stream)

Capacity (``decorum.bot.limits``). ``answer`` raises ``RateLimited`` when the asker has no asks left, and
``Busy`` when Decorum is at capacity (``max_in_flight`` requests inside, or the input checks' queue full) or
the request's deadline passed before its input was checked. Such a refusal leaves no transparency note:
nothing was checked, generated or shown, and the audit log is the record of what Decorum answered or refused
on content. It is logged (``request <ref> refused: ...`` with surface, team, channel, thread and the user's
pseudonym, never text) and counted (``decorum_refused_total{surface,reason}``); the exception carries that
reference (``refusal_ref``), which surfaces show (HTTP 503/429, Slack's "at capacity" message).
Once the input checks ran, a full queue later on or the deadline (``limits.request_deadline_s``, over the
whole request, queues included; Slack counts from the event's arrival) ends the request as an ``error`` note
(``error.type`` ``Busy``, ``error.reason`` ``capacity`` or ``deadline``) with a "try again" message. The CLI
is exempt from the rate limit and, unless it passes one, from the deadline: one person at a terminal.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from decorum import metrics, tracing
from decorum.adapters.base import STRONGER, Decoding, Generation, GenerationRequest, Generator
from decorum.adapters.loops import Loop, LoopDetector, find_loop, trim_loop
from decorum.audit.config import AuditConfig
from decorum.audit.log import AuditLog
from decorum.audit.pseudonyms import Pseudonymiser
from decorum.bot import messages
from decorum.bot.batching import MicroBatcher
from decorum.bot.limits import LimitsConfig, RateLimiter, rate_key
from decorum.bot.note import new_id, utc_now
from decorum.bot.router import RouteContext, RouteDecision, Router
from decorum.bot.streaming import AnswerStream, StreamGuard, StreamRecord
from decorum.errors import Busy, DecorumError, RateLimited, UsageError
from decorum.guardrails import answer_bias
from decorum.guardrails.base import CheckResult, Stage
from decorum.guardrails.checks import Guardrails
from decorum.guardrails.note_schema import NOTE_SCHEMA_VERSION
from decorum.guardrails.policy import Policy, stage_action
from decorum.knowledge.config import KnowledgeConfig
from decorum.prompts.base import Template, TemplateRef, TemplateStore
from decorum.prompts.render import render_messages

logger = logging.getLogger(__name__)

# A template's ``generation`` keys that set the decoding against repetition (decorum.adapters.base.Decoding)
DECODING_KEYS = ("repetition_penalty", "no_repeat_ngram_size", "frequency_penalty", "presence_penalty")

Surface = Literal["cli", "slack", "web"]
Verdict = Literal["answered", "blocked_input", "blocked_output", "error"]


@dataclass(slots=True)
class Request:
    """A question and where it came from. ``user`` is the raw id; only its pseudonym is stored."""

    text: str
    surface: Surface = "cli"
    user: str | None = None
    team: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    command: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    strategy: str = "auto"
    template: str | None = None
    max_new_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A knowledge entry an answer cites (surfaces show its title; the note keeps id, version and score)."""

    id: str
    version: int
    title: str
    score: float
    url: str | None = None  # where people can read it (knowledge.source_url), if anywhere


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    note: dict[str, Any]
    sources: tuple[Source, ...] = ()

    @property
    def verdict(self) -> str:
        return str(self.note["verdict"])

    @property
    def id(self) -> str:
        return str(self.note["id"])

    def as_json(self) -> dict[str, Any]:
        """The transparency note plus ``answer`` (what ``decorum ask --json`` prints)."""
        return {**self.note, "answer": self.text}


class Pipeline:
    """Runs requests through the guardrails, router and generator, and audits every one."""

    def __init__(self, *, guardrails: Guardrails, router: Router, templates: TemplateStore, generator: Generator,
                 audit: AuditLog, pseudonymiser: Pseudonymiser, max_batch: int = 8,
                 limits: LimitsConfig | None = None) -> None:
        self.guardrails = guardrails
        self.limits = limits or LimitsConfig()
        self.rate_limiter = RateLimiter(per_minute=self.limits.asks_per_user_per_minute, burst=self.limits.asks_burst)
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self.live: Any = None  # LiveConfig: looked at before each answer (routing and policy changed by admins)
        self.audit_config: AuditConfig | None = None  # which texts are kept beside the notes (audit section)
        self.knowledge: Any = None  # KnowledgeIndex: entries retrieved, cited and trusted on domain routes
        self.knowledge_config = KnowledgeConfig()
        self.watch_loops = True  # stop and regenerate looping answers (decorum.adapters.loops); off: measurements only
        self.router = router
        self.templates = templates
        self.generator = generator
        self.audit = audit
        self.pseudonymiser = pseudonymiser
        self._checks: MicroBatcher[tuple[str, Stage, str | None, str | None], list[CheckResult]] = MicroBatcher(
            self._run_checks, max_batch=guardrails.policy.classifier.batch_size, name="checks",
            max_pending=self.limits.max_pending)
        self._generate: MicroBatcher[GenerationRequest, Generation] = MicroBatcher(
            lambda reqs: generator.generate(reqs), max_batch=max_batch, max_wait_s=0.01, name="generate",
            max_pending=self.limits.max_pending, retry_after_s=15.0)

    @property
    def policy(self) -> Policy:
        return self.guardrails.policy

    def close(self) -> None:
        """Stop the batching threads (a pipeline built for one job, such as a test gate run)."""
        self._checks.close()
        self._generate.close()

    def _run_checks(self, items: list[tuple[str, Stage, str | None, str | None]]) -> list[list[CheckResult]]:
        """One batch of (text, stage, channel profile, question the text answers): the checks run once per stage
        and profile; checks that read an answer with its question (``check_pairs``) get the questions."""
        out: list[list[CheckResult]] = [[] for _ in items]
        for stage, profile in dict.fromkeys((s, p) for _, s, p, _ in items):
            idx = [i for i, (_, s, p, _) in enumerate(items) if (s, p) == (stage, profile)]
            questions = [items[i][3] or "" for i in idx] if stage == "output" else None
            for i, res in zip(idx, self.guardrails.run([items[i][0] for i in idx], stage=stage, profile=profile,
                                                       questions=questions), strict=True):
                out[i] = res
        return out

    def _check_action(self, policy: Policy, r: CheckResult, stage: Stage) -> str:
        """What a failed result leads to: the check's own action, else its stage's (a fix that could not
        repair the text refuses)."""
        default = policy.on_input_fail if stage == "input" else policy.on_output_fail
        cp = policy.checks.get(r.check)  # None: empty_output and other pipeline results
        action: str = cp.action(stage, default) if cp is not None else stage_action(default, stage)
        return "refuse" if action == "fix" and r.fixed is None else action

    def _apply_fixes(self, profile: str | None, text: str, fixes: list[CheckResult], stage: Stage) -> str:
        """``text`` repaired by every fixing check that failed on it, in order (the first one's fix is known)."""
        for n, r in enumerate(fixes):
            if n == 0 and r.fixed is not None:
                text = r.fixed
                continue
            fixer = self.guardrails.fixer(r.check, profile)
            if fixer is not None:
                text = fixer.fix(text, stage=stage)  # type: ignore[attr-defined]
        return text

    def validate(self, req: Request) -> None:
        validate_request(req, self.templates, self.router)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def check_rate(self, req: Request, ref: str | None = None) -> None:
        """Spend one of the asker's asks; ``RateLimited`` (logged, counted) when none is left.

        A surface that queues requests itself (Slack) calls it before queueing, then ``answer(rate_checked=True)``.
        """
        try:
            self.rate_limiter.take(rate_key(req.surface, req.user, req.team))
        except RateLimited as exc:
            raise self.refuse(req, ref or new_id(), exc) from None

    async def answer(self, req: Request, stream: AnswerStream | None = None, *, deadline: float | None = None,
                     rate_checked: bool = False) -> Answer:
        """Answer (or refuse) ``req``. Internal failures become an ``error`` note and an apology.

        With ``stream``, checked text is shown while it is generated (the note gets a ``streaming`` section).
        ``deadline`` (``time.monotonic()``) ends the whole request; default: ``limits.request_deadline_s`` from
        now (none for the CLI). Raises ``RateLimited``/``Busy`` before any work when over the limits.
        """
        if self.live is not None and self.live.due():
            await asyncio.to_thread(self.live.refresh)  # at most every cache_check_s: one indexed row
        self.validate(req)
        ref = new_id()
        if not rate_checked:
            self.check_rate(req, ref)
        if deadline is None and req.surface != "cli":
            deadline = time.monotonic() + self.limits.request_deadline_s
        if deadline is not None and time.monotonic() >= deadline:
            raise self.refuse(req, ref, Busy("the request's deadline passed while it waited", retry_after_s=30.0,
                                                    reason="deadline"))
        with self._in_flight_lock:
            if self._in_flight >= self.limits.max_in_flight:
                busy = Busy(f"at capacity ({self.limits.max_in_flight} requests in progress)", retry_after_s=10.0)
                raise self.refuse(req, ref, busy)
            self._in_flight += 1
            metrics.IN_FLIGHT.inc()
        try:
            return await self._answer_request(req, stream, ref, deadline)
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
                metrics.IN_FLIGHT.dec()

    def refuse(self, req: Request, ref: str, exc: Busy) -> Busy:
        """Log and count a capacity refusal (no note); the exception then carries ``ref``.

        Surfaces that queue work themselves (Slack) refuse through here too, so every refusal is one kind of line.
        """
        metrics.REFUSED.labels(req.surface, exc.reason).inc()
        logger.warning("request %s refused: %s (%s) surface=%s team=%s channel=%s thread_ts=%s user=%s", ref,
                       exc.reason, exc, req.surface, req.team, req.channel, req.thread_ts,
                       self.pseudonymiser.user(req.user) if req.user else None)
        exc.ref = ref  # type: ignore[attr-defined]
        return exc

    async def _answer_request(self, req: Request, stream: AnswerStream | None, ref: str,
                              deadline: float | None) -> Answer:
        t0 = time.perf_counter()
        note: dict[str, Any] = {"id": ref, "created_at": utc_now(), "surface": req.surface,
                                "schema_version": NOTE_SCHEMA_VERSION}
        if req.surface == "slack":
            note["slack"] = {"team": req.team, "channel": req.channel, "thread_ts": req.thread_ts,
                             "user": self.pseudonymiser.user(req.user) if req.user else None}
        elif req.user:
            note["user"] = self.pseudonymiser.user(req.user)
        question = req.text
        profile = self.policy.profile_for(req.channel) if req.surface == "slack" else None
        policy = self.guardrails.view(profile)[0]
        limit = policy.max_question_chars
        note["request"] = {**self.pseudonymiser.fingerprint(question), "truncated": len(question) > limit}
        note["pseudonym_key"] = self.pseudonymiser.key_id  # the key of the pseudonyms and fingerprints (it rotates)
        if len(question) > limit:
            question = question[:limit]
            note["request"]["chars_used"] = limit
        note.update(route=None, template=None, model=None,
                    guardrails={"policy": policy.ref, "input": [], "output": [], "action": "allow"},
                    tokens={"prompt": 0, "completion": 0})
        applied = self.live.applied if self.live is not None else None
        if applied:  # the admins' live routing/policy version this answer ran under (None: the file alone)
            note["guardrails"]["live_config"] = applied["version"]
        if profile is not None:
            note["guardrails"]["profile"] = profile
        latency: dict[str, int] = {}
        attempts = _Attempts(stream=stream, started=t0, deadline=deadline, trace=tracing.start(t0), policy=policy,
                             profile=profile)
        timeout = asyncio.timeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
        try:
            try:
                async with timeout:
                    text = await self._answer(req, question, note, latency, attempts)
            except TimeoutError as exc:
                if not timeout.expired():  # some other time-out (a socket's): an ordinary failure
                    raise
                raise Busy("the request's deadline passed", retry_after_s=30.0, reason="deadline") from exc
        except Busy as busy:
            if "input_checks" not in latency:  # nothing was checked, generated or shown: refused, no note
                raise self.refuse(req, note["id"], busy) from None
            self._fail(note, busy)
            note["error"]["reason"] = busy.reason
            text = messages.busy_unfinished(note["id"])
        except DecorumError as exc:
            text = self._fail(note, exc)
        except Exception as exc:  # never a traceback to the asker; the note says what kind of failure
            # The log gets the type and the frames, never the message: it may quote the question.
            logger.error("request %s failed: %s\n%s", note["id"], exc.__class__.__name__,
                         "".join(traceback.format_tb(exc.__traceback__)).rstrip())
            text = self._fail(note, exc)
        latency["total"] = _ms(t0)
        note["latency_ms"] = latency
        if stream is not None:
            note["streaming"] = {**attempts.record.as_note(), **({"held": True} if attempts.held else {})}
        note["response"] = self.pseudonymiser.fingerprint(text)
        texts = self._kept_texts(note, attempts.fixed_question or req.text, text)
        t = time.perf_counter()
        stored = await asyncio.to_thread(self.audit.append, note, texts=texts)  # DB I/O off the event loop
        audit_s = time.perf_counter() - t
        attempts.trace.stage("decorum.audit_append", t)
        metrics.observe(stored, audit_s=audit_s)
        attempts.trace.finish(stored)  # the answer's spans (when tracing is on): no text, no user ids
        logger.info("request %s surface=%s verdict=%s total_ms=%s", note["id"], req.surface, note["verdict"],
                    latency["total"])
        return Answer(text=text, note=stored, sources=attempts.cited)

    def _kept_texts(self, note: dict[str, Any], question: str, answer: str) -> dict[str, str] | None:
        """The texts an admin keeps (``audit.store_question``/``store_answer``), outside the hashed note, under
        retention; the note's fingerprint marks them ``stored``."""
        cfg = self.audit_config
        if cfg is None or not (cfg.store_question or cfg.store_answer):
            return None
        texts = {}
        if cfg.store_question:
            texts["question"] = question
            note["request"]["stored"] = True
        if cfg.store_answer:
            texts["answer"] = answer
            note["response"]["stored"] = True
        return texts

    def _fail(self, note: dict[str, Any], exc: BaseException) -> str:
        note["verdict"] = "error"
        note["guardrails"]["action"] = "error"
        note["error"] = {"type": exc.__class__.__name__}  # not the message: it may quote the question
        return messages.apology(note["id"])

    async def _answer(self, req: Request, question: str, note: dict[str, Any], latency: dict[str, int],
                      attempts: _Attempts) -> str:
        guard = note["guardrails"]
        policy, profile = attempts.policy, attempts.profile
        t = time.perf_counter()
        input_results = await self._checks.submit((question, "input", profile, None), deadline=attempts.deadline)
        latency["input_checks"] = _ms(t)
        attempts.trace.checks("decorum.input_checks", t, input_results, stage="input",
                              fail_action="refused" if policy.on_input_fail == "refuse" else "warned")
        guard["input"] = [r.as_note() for r in input_results]
        failed = [r for r in input_results if not r.passed]
        actions = [self._check_action(policy, r, "input") for r in failed]
        if "refuse" in actions:
            note["verdict"] = "blocked_input"
            guard["action"] = "refused"
            return messages.refusal_input([r.check for r in failed], note["id"])
        fixes = [r for r, a in zip(failed, actions, strict=True) if a == "fix"]
        if fixes:  # the repaired question (a redaction) is what routing and the model see, and what is kept
            question = await asyncio.to_thread(self._apply_fixes, profile, question, fixes, "input")
            attempts.fixed_question = question
            guard["action"] = "fixed"
        elif failed:
            guard["action"] = "warned"

        t = time.perf_counter()
        ctx = RouteContext(question=question, surface=req.surface, team=req.team, channel=req.channel,
                           command=req.command)
        # Semantic routing embeds the question (~15 ms): off the event loop, like the checks.
        decision = await asyncio.to_thread(self.router.route, ctx, strategy=req.strategy, template=req.template)
        template = await asyncio.to_thread(self.templates.get, decision.template.name, decision.template.version)
        latency["route"] = _ms(t)
        attempts.trace.stage("decorum.route", t, {"decorum.strategy": decision.strategy,
                                                  "decorum.route.reason": decision.reason,
                                                  "decorum.template": f"{template.name}@{template.version}"})
        await self._retrieve(question, decision, template, note, latency, attempts)

        gen, results, decision, template = await self._generate_checked(req, question, decision, template, note,
                                                                         latency, attempts)
        guard["output"] = [r.as_note() for r in results]
        out_failed = [r for r in results if not r.passed]
        actions = [self._check_action(policy, r, "output") for r in out_failed]
        if any(a in ("refuse", "regenerate", "fallback") for a in actions):  # the one retry was spent
            safe = await self._safe_answer(results, question, latency, attempts)
            if safe is not None:  # an ambiguous who-question: "cannot be determined" rather than a refusal
                note["verdict"] = "answered"
                guard["action"] = "fixed"
                return safe
            note["verdict"] = "blocked_output"
            guard["action"] = "refused"
            return messages.refusal_output([r.check for r in out_failed], note["id"])
        text = gen.text
        fixes = [r for r, a in zip(out_failed, actions, strict=True) if a == "fix"]
        if fixes:  # the repaired answer is what is shown (a streamed answer's last update replaces what was shown)
            text = await asyncio.to_thread(self._apply_fixes, profile, text, fixes, "output")
            guard["action"] = "fixed"
        elif out_failed and guard["action"] == "allow":
            guard["action"] = "warned"
        if attempts.hits is not None and self.knowledge_config.grounding:
            grounded = await self._grounded(req, question, text, decision, template, note, latency, attempts)
            if grounded is None:
                note["verdict"] = "blocked_output"
                guard["action"] = "refused"
                return messages.refusal_output(["grounding"], note["id"])
            text = grounded
        note["verdict"] = "answered"
        return text

    async def _retrieve(self, question: str, decision: RouteDecision, template: Template, note: dict[str, Any],
                        latency: dict[str, int], attempts: _Attempts) -> None:
        """On a domain route, the published knowledge entries closest to the question (``attempts.hits``): cited
        in the note's ``knowledge``, given to a prompt template that takes ``facts``, trusted by grounding."""
        domain = decision.domain or template.domain
        cfg = self.knowledge_config
        if self.knowledge is None or not cfg.enabled or not domain:
            return
        t = time.perf_counter()
        hits = await asyncio.to_thread(self.knowledge.search, question, domain, cfg.top_k)
        if not hits:
            return  # nothing published for the domain: no citations, no grounding (the note has no knowledge)
        latency["retrieval"] = _ms(t)
        attempts.hits = [h for h in hits if h.score >= cfg.min_score]
        attempts.facts = "\n".join(f"- {h.entry.text()}" for h in attempts.hits)
        attempts.facts_in_prompt = decision.strategy == "prompt_engineering" and _takes_facts(template)
        url = cfg.source_url
        attempts.cited = tuple(Source(h.entry.id, h.entry.version, h.entry.title, round(h.score, 4),
                                      url.replace("{id}", h.entry.id) if url else None) for h in attempts.hits)
        note["knowledge"] = [h.as_note() for h in attempts.hits]
        if cfg.grounding and attempts.stream is not None:
            # Shown once grounded, not streamed: a streamed claim the check then refutes would have been read.
            attempts.stream = None
            attempts.held = True

    async def _grounded(self, req: Request, question: str, text: str, decision: RouteDecision, template: Template,
                        note: dict[str, Any], latency: dict[str, int], attempts: _Attempts) -> str | None:
        """``text`` when what it states as fact is in the retrieved entries (``decorum.guardrails.grounding``);
        else one regeneration with the entries in the prompt; else "I'm not sure" quoting the closest entry,
        grounded by construction. None: the quote failed the output checks (refused). The note's ``grounding``
        keeps kinds and counts, never text."""
        from decorum.guardrails import grounding

        hits = attempts.hits or []
        sources = [h.entry.text() for h in hits]
        refs = [{"id": h.entry.id, "version": h.entry.version} for h in hits]
        t = time.perf_counter()
        result = grounding.check(text, sources, question=question)
        latency["grounding"] = _ms(t)
        if result.ok:
            note["grounding"] = {**result.as_note(refs), "action": "kept"}
            return text
        first = {"supported": result.supported, "unsupported": result.unsupported}
        if _takes_facts(template) and hits and not attempts.facts_in_prompt:
            # Only a prompt without the entries is worth a second try: with them already in it, greedy decoding
            # would write the same answer again (measured: 2 of 62 prompt-template answers changed, at 2x the time).
            attempts.facts_in_prompt = True
            gen, results = await self._attempt(req, question, decision, template, note, latency, attempts,
                                               safer=False)
            note["guardrails"]["output"] = [r.as_note() for r in results]
            if gen.text and all(r.passed for r in results):
                t = time.perf_counter()
                again = grounding.check(gen.text, sources, question=question)
                latency["grounding"] += _ms(t)
                if again.ok:
                    note["grounding"] = {**again.as_note(refs), "action": "regenerated", "first": first}
                    return gen.text
                result = again
        quote = messages.not_sure(hits[0].entry.title, hits[0].entry.body) if hits else messages.not_sure_no_source()
        attempts.cited = attempts.cited[:1]
        t = time.perf_counter()
        checked = await self._checks.submit((quote, "output", attempts.profile, question), deadline=attempts.deadline)
        latency["output_checks"] = latency.get("output_checks", 0) + _ms(t)
        note["grounding"] = {**result.as_note(refs[:1]), "action": "not_sure", "first": first}
        note["guardrails"]["output"] = [r.as_note() for r in checked]
        if not all(r.passed for r in checked):
            return None
        return quote

    async def _safe_answer(self, results: list[CheckResult], question: str, latency: dict[str, int],
                           attempts: _Attempts) -> str | None:
        """What may be shown instead of refusing an answer: the "cannot be determined" answer the ``answer_bias``
        check builds from an ambiguous who-question (``CheckResult.fixed``), once it passes every output check
        itself; None when there is none or it fails. The note keeps the failed answer's results, never this text."""
        safe = answer_bias.safe_answer(results)
        if safe is None:
            return None
        t = time.perf_counter()
        checked = await self._checks.submit((safe, "output", attempts.profile, question), deadline=attempts.deadline)
        latency["output_checks"] = latency.get("output_checks", 0) + _ms(t)
        return safe if all(r.passed for r in checked) else None

    async def _generate_checked(self, req: Request, question: str, decision: RouteDecision, template: Template,
                                note: dict[str, Any], latency: dict[str, int], attempts: _Attempts
                                ) -> tuple[Generation, list[CheckResult], RouteDecision, Template]:
        """Generate, check the output, and apply the policy's one retry (safer template or other strategy)."""
        gen, results = await self._attempt(req, question, decision, template, note, latency, attempts, safer=False)
        policy = attempts.policy
        actions = {self._check_action(policy, r, "output") for r in results if not r.passed}
        if not actions or "refuse" in actions or not actions & {"regenerate", "fallback"}:
            return gen, results, decision, template  # passed, refused at once, or only fixed/warned
        retry = policy.on_output_fail if policy.on_output_fail in actions else (
            "regenerate" if "regenerate" in actions else "fallback")
        note["guardrails"]["first_output"] = [r.as_note() for r in results]
        if retry == "fallback":
            decision = self._other_strategy(decision, req)
            template = await asyncio.to_thread(self.templates.get, decision.template.name, decision.template.version)
            note["guardrails"]["action"] = "fallback"
            gen, results = await self._attempt(req, question, decision, template, note, latency, attempts, safer=False)
        else:
            note["guardrails"]["action"] = "regenerated"
            gen, results = await self._attempt(req, question, decision, template, note, latency, attempts, safer=True)
        return gen, results, decision, template

    def _other_strategy(self, decision: RouteDecision, req: Request) -> RouteDecision:
        ctx = RouteContext(question="", surface=req.surface)
        if decision.strategy == "fine_tuned":
            return self.router.route(ctx, strategy="prompt_engineering")
        try:
            return self.router.route(ctx, strategy="fine_tuned", template=None)
        except UsageError:  # no fine-tuned domain: the safer template is the fallback
            return decision

    def _decoding(self, template: Template) -> Decoding | None:
        """The template's settings against repetition over the engine's own; None: the engine's as they are."""
        given = {k: template.generation[k] for k in DECODING_KEYS if template.generation.get(k) is not None}
        return replace(self.generator.decoding, **given) if given else None

    async def _attempt(self, req: Request, question: str, decision: RouteDecision, template: Template,
                       note: dict[str, Any], latency: dict[str, int], attempts: _Attempts, *, safer: bool
                       ) -> tuple[Generation, list[CheckResult]]:
        note["route"] = decision.as_note()
        note["template"] = {"name": template.name, "version": template.version, "sha256": template.sha256,
                            "variant": "safer" if safer else "standard"}
        model: dict[str, Any] = self.generator.info.as_note()
        if decision.adapter:
            a = decision.adapter
            model["adapter"] = {"name": a.name, "version": a.version, "sha256": a.sha256}
        note["model"] = model
        variables = {"facts": attempts.facts} if attempts.facts_in_prompt and attempts.facts else None
        msgs = await asyncio.to_thread(render_messages, template, question=question, history=req.history,
                                       safer=safer, variables=variables,
                                       limits=self.limits.render)  # bounded, but off the event loop
        max_new = req.max_new_tokens or template.generation.get("max_tokens")  # the caller's, else the template's
        temperature = template.generation.get("temperature")
        gen, guard, loop = await self._generate_watched(question, msgs, decision, model, note, latency, attempts,
                                                        max_new=max_new, temperature=temperature,
                                                        decoding=self._decoding(template))
        if loop is not None:
            attempts.loop.update(loop_detected=True, loop_kind=loop.kind)
            if not attempts.loop.get("loop_regenerated"):
                # A degenerate answer (decorum.adapters.loops) is never the answer: what was shown of it is
                # withdrawn, and it is generated once more with stronger settings against repetition.
                attempts.loop["loop_regenerated"] = True
                await self._withdraw(guard, attempts)
                gen, guard, loop = await self._generate_watched(question, msgs, decision, model, note, latency,
                                                                attempts, max_new=max_new, temperature=temperature,
                                                                decoding=STRONGER)
            if loop is not None:  # the one regeneration looped too: the answer ends where it began repeating
                gen = replace(gen, text=trim_loop(gen.text, loop))
                attempts.loop["loop_trimmed"] = True
        attempts.generations += 1
        note["generation"] = {"finish_reason": gen.finish_reason, "input_truncated": gen.input_truncated,
                              "max_new_tokens": max_new, "temperature": temperature or 0.0, **gen.decoding,
                              **({"loop_detected": False} if self.watch_loops else {}), **attempts.loop}
        t = time.perf_counter()
        results = (await self._checks.submit((gen.text, "output", attempts.profile, question),
                                             deadline=attempts.deadline) if gen.text else [])
        if not gen.text:
            results = [CheckResult(check="empty_output", score=1.0, threshold=0.5, passed=False,
                                   scorer="pipeline", explanation="the model produced no text")]
        if guard is not None and (chunk_failed := await guard.finish()) is not None:
            # Every streamed part was checked too (with the text before it): one that failed fails the answer.
            results = [*results, *chunk_failed]
        latency["output_checks"] = latency.get("output_checks", 0) + _ms(t)
        attempts.trace.checks("decorum.output_checks", t, results, stage="output",
                              fail_action=self._output_fail_action(attempts.policy, first=attempts.generations == 1))
        return gen, results

    async def _generate_watched(self, question: str, msgs: list[dict[str, str]], decision: RouteDecision,
                                model: dict[str, Any], note: dict[str, Any], latency: dict[str, int],
                                attempts: _Attempts, *, max_new: int | None, temperature: float | None,
                                decoding: Decoding | None) -> tuple[Generation, StreamGuard | None, Loop | None]:
        """One generation, streamed through a new ``StreamGuard`` when the surface streams, and watched by a loop
        detector that stops it at the first loop; returns it with its guard and the loop found, if any (in the
        streamed text, else in the whole text: an engine that does not stream is checked afterwards)."""
        guard = None
        if attempts.stream is not None:
            attempts.attempt += 1
            policy, profile = attempts.policy, attempts.profile
            warn_only = all(cp.action("output", policy.on_output_fail) == "warn" for cp in policy.checks.values()
                            if cp.enabled and "output" in cp.stages)
            guard = StreamGuard(attempts.stream,
                                check=lambda text: self._checks.submit((text, "output", profile, question)),
                                started=attempts.started, record=attempts.record, attempt=attempts.attempt,
                                stop_on_fail=not warn_only)
        detector = LoopDetector()
        watch = (lambda piece: detector.feed(piece) is None) if self.watch_loops else None
        t = time.perf_counter()
        try:
            gen = await self._generate.submit(GenerationRequest(messages=msgs, max_new_tokens=max_new,
                                                                adapter=decision.adapter, temperature=temperature,
                                                                on_text=guard.sink() if guard else None,
                                                                decoding=decoding,
                                                                watch=watch),
                                              deadline=attempts.deadline)
        except BaseException as exc:
            attempts.trace.generation(t, info=self.generator.info, adapter=decision.adapter, max_tokens=max_new,
                                      temperature=temperature, strategy=decision.strategy, error=exc)
            if guard is not None:
                await guard.abort()
            raise
        latency["generate"] = latency.get("generate", 0) + _ms(t)
        attempts.trace.generation(t, info=self.generator.info, adapter=decision.adapter, max_tokens=max_new,
                                  temperature=temperature, gen=gen, strategy=decision.strategy)
        # The engine's revisions are known once weights are loaded; the artifact is the one that ran.
        model.update(self.generator.info.as_note())
        if gen.artifact_revision:
            model["artifact_revision"] = gen.artifact_revision
        note["tokens"] = {"prompt": note["tokens"]["prompt"] + gen.prompt_tokens,
                          "completion": note["tokens"]["completion"] + gen.completion_tokens}
        return gen, guard, (find_loop(gen.text) or detector.loop) if self.watch_loops else None

    async def _withdraw(self, guard: StreamGuard | None, attempts: _Attempts) -> None:
        """Drop a generation that will not be the answer: stop checking its parts, retract what was shown."""
        if guard is None or attempts.stream is None:
            return
        await guard.abort()
        if attempts.record.chunks_shown:  # something of this request is on show, and it is not the answer
            attempts.record.retracted = True
            try:
                await attempts.stream.retract()
            except Exception as exc:  # a surface that fails to retract never fails the answer
                logger.warning("answer stream retract failed (%s)", exc.__class__.__name__)

    @staticmethod
    def _output_fail_action(applied: Policy, *, first: bool) -> str:
        """What a failed output check leads to (for the check spans): the policy's retry once, then refusal."""
        policy = applied.on_output_fail
        if policy == "warn":
            return "warned"
        if first and policy in ("regenerate", "fallback"):
            return "regenerated" if policy == "regenerate" else "fallback"
        return "refused"


@dataclass(slots=True)
class _Attempts:
    """One request's streaming state across its generation attempts."""

    stream: AnswerStream | None
    started: float
    record: StreamRecord = field(default_factory=StreamRecord)
    attempt: int = 0
    deadline: float | None = None  # time.monotonic() when the whole request must be over
    trace: tracing.Recorder = tracing.NO_TRACE  # the answer's spans (no-op when off)
    generations: int = 0  # generation attempts that returned
    policy: Policy = field(default_factory=Policy)  # the policy this request runs under (its channel's profile applied)
    profile: str | None = None  # the channel profile applied (None: the policy's own settings)
    fixed_question: str | None = None  # the question as a fixing input check repaired it
    loop: dict[str, Any] = field(default_factory=dict)  # the note's loop_* fields (one loop regeneration a request)
    hits: list[Any] | None = None  # knowledge entries retrieved (None: not a domain route, or no knowledge)
    facts: str = ""  # the entries as the prompt's {{ facts }}
    facts_in_prompt: bool = False  # whether this attempt's prompt carries them
    cited: tuple[Source, ...] = ()  # what the answer names as its sources
    held: bool = False  # a surface's stream was not used: the answer is shown once grounded


def refusal_ref(exc: BaseException) -> str | None:
    """The reference id a ``Busy``/``RateLimited`` raised by ``Pipeline.answer`` carries (in the process log)."""
    ref = getattr(exc, "ref", None)
    return ref if isinstance(ref, str) else None


def validate_request(req: Request, templates: TemplateStore, router: Router) -> None:
    """Refuse bad usage before anything is recorded: empty text, unknown template or strategy."""
    if not req.text or not req.text.strip():
        raise UsageError("the question is empty")
    if "\x00" in req.text:
        raise UsageError("the question contains NUL bytes; send text, not binary data")
    if req.template:
        ref = TemplateRef.parse(req.template)
        templates.get(ref.name, ref.version)
    router.route(RouteContext(question="", surface=req.surface), strategy=req.strategy, template=req.template)


def _takes_facts(template: Template) -> bool:
    return any(v.get("name") == "facts" for v in template.variables)


def _ms(t0: float) -> int:
    return round((time.perf_counter() - t0) * 1000)
