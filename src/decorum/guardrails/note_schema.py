"""The transparency note's schema: typed, versioned, checked before a note enters the audit log.

A note is the audit record of one answer (verdicts ``answered``, ``blocked_input``, ``blocked_output``,
``error``) or of one administrative change (verdict ``change``: a template or the live routing/policy saved,
tested, published, rolled back ...). ``TransparencyNote`` is its shape; ``note_json_schema()`` is the same
shape as a JSON Schema (Draft 2020-12) for tools outside Decorum; ``validate_note`` is what
``SqlAuditLog.append`` calls, so a note that does not match is refused and nothing is stored.

Version. New notes carry ``"schema_version": 1`` (``NOTE_SCHEMA_VERSION``). Notes stored before the schema
existed have no ``schema_version``; they are never rewritten (the hash chain covers their stored JSON) and
still read and verify, but they are not promised to match v1 (the oldest held a plain ``sha256`` of the
question instead of ``hmac_sha256``). A change that makes a valid v1 note invalid, or changes a field's
meaning, is a new version (``transparency-note/2.json``); adding an optional field is not.

What is checked:

* Every section Decorum owns is ``extra="forbid"``: a misspelt or unknown field is refused, and so is a note
  that carries text it must not (an ``answer`` field, a question in a new field). Types are strict (a score
  is a number, not ``"0.5"``; a count is an integer, not ``true``; no NaN): what passes is what the JSON
  Schema accepts.
* Per verdict (``VERDICT_RULES``): an answer note has its request/response fingerprints, guardrails,
  latencies and token counts; ``answered`` and ``blocked_output`` also the route, template and model that
  generated; ``blocked_input``/``blocked_output`` name a failed check of that stage and the action
  ``refused``; ``error`` has ``error``; ``change`` has ``change``, and only ``change`` records do. An ``error``
  note of a request that never reached the answer path (``error.where`` ``slack``: a capacity or rate-limit
  refusal, a failure around the answer; ``slack_recovery``: a message lost to a crash) holds ids only: it
  needs ``error`` and nothing of an answer (``VerdictRule.outside``).
* Open on purpose (typed, but any key): a check's ``details`` (the classifier's labels, which depend on the
  model), ``change`` beyond its common fields (each kind records its own facts, and kinds such as
  ``review.mark`` or ``audit.purge`` are written by features that come later), and ``review`` (owned by the
  audit review feature, not defined yet). Their values must still be JSON.

A note that fails raises ``NoteSchemaError`` (a ``UsageError``) naming each field path and problem, never a
value from the note (values may quote the question). In the answer path that is a programming error that
the test suite rules out for every note the pipeline, the template registry and the live configuration
write; it is not caught there, so it surfaces instead of a record silently missing or half-checked.

Example::

    validate_note({"id": "01J...", "created_at": "2026-11-22T10:00:00.000Z", "surface": "cli",
                   "verdict": "change", "change": {"kind": "template.publish", "actor": "alice"}})
    schema = note_json_schema()   # what `decorum audit schema` prints
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator, model_validator

from decorum.errors import UsageError

NOTE_SCHEMA_VERSION = 1
NOTE_SCHEMA_ID = f"https://decorum.dev/schemas/transparency-note/{NOTE_SCHEMA_VERSION}.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Verdict = Literal["answered", "blocked_input", "blocked_output", "error", "change"]
Surface = Literal["cli", "slack", "web", "console"]
Action = Literal["allow", "warned", "regenerated", "fallback", "fixed", "refused", "error"]

_HEX64 = r"^[0-9a-f]{64}$"
_PSEUDONYM = r"^hmac:[0-9a-f]{16,64}$"
_NAME_AT_VERSION = r"^[A-Za-z0-9_.-]+@[0-9]+$"
_CHANGE_KIND = r"^[a-z_]+(\.[a-z_]+)+$"
_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"

Count = Annotated[int, Field(ge=0)]
Millis = Annotated[int, Field(ge=0, description="Milliseconds.")]
Hex64 = Annotated[str, Field(pattern=_HEX64)]


class _Owned(BaseModel):
    """A section whose shape Decorum owns: unknown fields refused, types strict, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, hide_input_in_errors=True)


# -- answer notes ---------------------------------------------------------------------------------------------
class Fingerprint(_Owned):
    """What the note keeps of a question or answer: a keyed hash and the length, never the text."""

    hmac_sha256: Hex64 = Field(description=(
        "HMAC-SHA256 of the text (UTF-8) keyed with the audit key (DECORUM_AUDIT_KEY). Whoever holds the key "
        "can confirm that a given text is the one asked or answered; without it a guessed text cannot be confirmed."))
    chars: Count = Field(description="Length of the whole text in characters (Unicode code points).")
    truncated: bool | None = Field(None, description=(
        "Question only: true when the question was longer than the policy's max_question_chars and only its "
        "start was checked and answered."))
    chars_used: Count | None = Field(None, description=(
        "Question only, when truncated: how many leading characters were checked and answered."))
    stored: bool | None = Field(None, description=(
        "Whether the text itself is kept outside the note (audit_text) under the retention policy; it can be "
        "purged later without touching this note or the hash chain. Absent: not recorded (older notes)."))


class Route(_Owned):
    """How the request was routed: prompt engineering on a template, or a fine-tuned adapter."""

    strategy: Literal["prompt_engineering", "fine_tuned"] = Field(description=(
        "prompt_engineering: the base model with a prompt template; fine_tuned: a domain's LoRA adapter."))
    reason: Literal["explicit", "rule", "semantic", "uncertain", "default"] = Field(description=(
        "Why this strategy: explicit (the asker or a test chose it), rule (a routing rule matched, see rule), "
        "semantic (the question's similarity to a domain passed its threshold, see score), uncertain (it passed "
        "by less than the band: kept on the default template), default."))
    domain: str | None = Field(None, description="The fine-tuned domain chosen (fine_tuned only).")
    rule: str | None = Field(None, description="The routing rule that matched (reason rule).")
    score: float | None = Field(None, description=(
        "Semantic similarity of the question to the domain (reason semantic)."))
    threshold: float | None = Field(None, description="The domain's similarity threshold that score passed.")
    router: str | None = Field(None, description=(
        "The model version (name@version) whose router index gave the score."))
    band: float | None = Field(None, description=(
        "reason uncertain: routing.uncertain_band, the margin above the threshold a score must clear."))


class TemplateUsed(_Owned):
    """The prompt template version that built the prompt."""

    name: str = Field(min_length=1, description="Template name.")
    version: Count = Field(description="Immutable template version number; name@version names one exact text.")
    sha256: Hex64 = Field(description="SHA-256 of the template version's content: what was rendered, byte for byte.")
    variant: Literal["standard", "safer"] | None = Field(None, description=(
        "Which of the template's prompts ran: standard, or safer (regenerated after an output check failed)."))


class AdapterUsed(_Owned):
    """A fine-tuned LoRA adapter applied to the base model."""

    name: str = Field(min_length=1, description="Adapter name.")
    version: Count = Field(description="Adapter version (model registry).")
    sha256: str | None = Field(None, description="SHA-256 of the adapter's weights (empty when not recorded).")


class ModelUsed(_Owned):
    """The model and engine that generated the answer."""

    backend: str = Field(min_length=1, description=(
        "Where it ran: local, openai_compat (a remote server), fake (tests)."))
    name: str = Field(min_length=1, description="Base model name, e.g. smollm2-135m-instruct.")
    revision: str = Field(description=(
        "Which weights: SHA-256 of the converted safetensors (local), or the remote server's model revision."))
    engine: str | None = Field(None, description="The engine that ran the weights: onnx, transformers, openai_compat.")
    precision: str | None = Field(None, description="Numeric precision of the engine's model, e.g. int8, fp32.")
    artifact_revision: str | None = Field(None, description=(
        "What actually ran: for ONNX a digest of the built model's files (per adapter), else the revision. Answers "
        "from different builds can be told apart by it."))
    adapter: AdapterUsed | None = Field(None, description="The LoRA adapter applied (fine_tuned route), if any.")


class CheckResultNote(_Owned):
    """One guardrail check over one text (the question, the answer, or a streamed part of the answer)."""

    check: str = Field(min_length=1, description=(
        "Check name (toxicity, bias, ...; empty_output when the model produced no text)."))
    score: float = Field(description="Risk score, 0 = no risk ... 1 = high risk (rounded to 4 decimals).")
    threshold: float = Field(description="The policy threshold: a score at or above it fails the check.")
    passed: bool = Field(description="Whether the text passed this check.")
    scorer: str = Field(description="What produced the score: classifier or validator name@revision.")
    label: str | None = Field(None, description="The classifier label that gave the score.")
    span: Annotated[list[Count], Field(min_length=2, max_length=2)] | None = Field(None, description=(
        "[start, end) character offsets of the riskiest window (or of a withheld streamed part), no text."))
    # Open: the classifier's label -> probability map. Its keys are the labels of whichever classifier ran
    # (detoxify's, the trained one's), so they are not Decorum's to enumerate; values are still numbers.
    details: dict[str, float] | None = Field(None, description="Every label's probability from the classifier.")
    explanation: str | None = Field(None, description="Why it passed or failed, in words (never quotes the text).")
    groups: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(None, max_length=60, description=(
        "Group detection, for checks gated on it (bias): the fixed names of the groups the text names or implies "
        "(empty: none, so no bias verdict), never the text's words."))


class Guardrails(_Owned):
    """The guardrail results and what the policy did with them."""

    policy: Annotated[str, Field(pattern=_NAME_AT_VERSION)] = Field(description=(
        "The guardrail policy (name@version) whose thresholds and actions applied."))
    live_config: Count | None = Field(None, description=(
        "The live routing/policy version (set by admins over the configuration file) the answer ran under; "
        "absent when the file alone applied."))
    profile: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")] | None = Field(None, description=(
        "The channel profile (policy.profiles, chosen by policy.channel_profiles) whose thresholds and actions "
        "applied over the policy's own; absent when none did."))
    input: list[CheckResultNote] = Field(description="Checks on the question (empty when none ran).")
    first_output: list[CheckResultNote] | None = Field(None, description=(
        "Checks on the first answer, when it failed and was regenerated (action regenerated) or replaced by "
        "the other strategy (action fallback)."))
    output: list[CheckResultNote] = Field(description=(
        "Checks on the answer that was shown or refused (empty when none was generated)."))
    action: Action = Field(description=(
        "What the policy did: allow (all passed), warned (a check failed and the policy only warns), "
        "regenerated (answered with the safer prompt after a failed output), fallback (answered by the other "
        "strategy), fixed (a check's fix repaired the question or the answer: guardrails-ai on_fail fix), "
        "refused (blocked), error (the request failed)."))


class LatencyMs(_Owned):
    """Time spent per stage, in milliseconds (wall clock, queues included)."""

    input_checks: Millis | None = Field(None, description="Checking the question.")
    route: Millis | None = Field(None, description="Routing and loading the template.")
    generate: Millis | None = Field(None, description="Generation (all attempts).")
    output_checks: Millis | None = Field(None, description="Checking the answer (all attempts).")
    retrieval: Millis | None = Field(None, description="Finding the knowledge entries (domain routes).")
    grounding: Millis | None = Field(None, description="Checking the answer's facts against them (all attempts).")
    total: Millis = Field(description="The whole request.")


class Tokens(_Owned):
    """Token counts over all generation attempts."""

    prompt: Count = Field(description="Prompt tokens sent to the model.")
    completion: Count = Field(description="Tokens the model generated.")


class GenerationNote(_Owned):
    """How the (last) generation ended and the settings it ran with."""

    finish_reason: Literal["stop", "length", "timeout", "cancelled"] = Field(description=(
        "stop (the model ended), length (max_new_tokens reached), timeout, cancelled (a streamed part failed "
        "a check, or the answer looped (loop_detected), and generation was stopped)."))
    input_truncated: bool = Field(description="Whether the prompt was cut to fit the model's context.")
    max_new_tokens: Count | None = Field(None, description=(
        "The limit on generated tokens (the request's, else the template's)."))
    temperature: Annotated[float, Field(ge=0)] | None = Field(None, description="Sampling temperature; 0 = greedy.")
    repetition_penalty: Annotated[float, Field(ge=1)] | None = Field(None, description=(
        "Local engines: the logit of every token already in the prompt or answer divided by it (multiplied, when "
        "negative); 1.0 = off. Absent: the engine applies none (a remote one)."))
    no_repeat_ngram_size: Count | None = Field(None, description=(
        "Local engines: no sequence of this many tokens occurs twice; 0 = off."))
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = Field(None, description=(
        "openai_compat: the frequency_penalty sent to the server (absent: none sent)."))
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = Field(None, description=(
        "openai_compat: the presence_penalty sent to the server (absent: none sent)."))
    loop_detected: bool | None = Field(None, description=(
        "Whether an answer generated for this request degenerated: a 3-word sequence a third time, or a run of "
        "one repeated line (decorum.adapters.loops); generation stopped there."))
    loop_kind: Literal["ngram", "line"] | None = Field(None, description=(
        "The last loop found: ngram (a 3-word sequence a third time) or line (one line 3 times in a row)."))
    loop_regenerated: bool | None = Field(None, description=(
        "The looping answer was dropped (what was shown of it retracted) and generated once more with stronger "
        "settings against repetition (the penalties above are that generation's); once per request."))
    loop_trimmed: bool | None = Field(None, description=(
        "The regenerated answer looped too, and ends where its repetition began."))


_ENTRY_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
GroundingKind = Literal["number", "amount", "date", "time", "duration", "extension", "phone", "email", "url", "name"]


class KnowledgeUsed(_Owned):
    """A knowledge entry retrieved for the answer and cited (decorum.knowledge)."""

    id: Annotated[str, Field(pattern=_ENTRY_ID)] = Field(description="The entry's id.")
    version: Count = Field(description="The published version retrieved.")
    score: float = Field(ge=-1.0, le=1.0, description="Cosine similarity of question and entry.")


class EntryRef(_Owned):
    """A knowledge entry version."""

    id: Annotated[str, Field(pattern=_ENTRY_ID)] = Field(description="The entry's id.")
    version: Count = Field(description="Its version.")


class GroundingCounts(_Owned):
    supported: dict[GroundingKind, Count] = Field(description="Claims found in the entries, per kind.")
    unsupported: dict[GroundingKind, Count] = Field(description="Claims not found, per kind.")


class GroundingNote(GroundingCounts):
    """The groundedness check of a domain answer: what it stated as fact (numbers, amounts, dates, times, names,
    extensions ...) against the retrieved entries; kinds and counts only, never the text. It runs on CPU in the
    request path (a surface check of stated facts, not a model's judgement of meaning)."""

    sources: list[EntryRef] = Field(description=(
        "The entries the answer was checked against (the quoted one for not_sure)."))
    method: str = Field(max_length=64, description="The check's name and version (claims-v1).")
    action: Literal["kept", "regenerated", "not_sure"] = Field(description=(
        "kept: supported as generated; regenerated: unsupported, generated once more with the entries in the "
        "prompt and then supported; not_sure: still unsupported, replaced by \u201cI'm not sure\u201d quoting the "
        "closest entry (counts are the dropped answer's)."))
    first: GroundingCounts | None = Field(None, description="The first answer's counts, when it was not kept.")


class WithheldPart(_Owned):
    """A streamed part of an answer that failed the output checks and was never shown."""

    attempt: Annotated[int, Field(ge=1)] = Field(description="1: the first answer; 2: the regenerated or fallback one.")
    chunk: Annotated[int, Field(ge=1)] = Field(description="The part's position in the stream (1-based).")
    checks: list[CheckResultNote] = Field(description="The checks it failed (span: the part's characters).")


class Streaming(_Owned):
    """A streamed answer (Slack): only text that passed the output checks was shown while it was generated."""

    chunks_checked: Count = Field(description="Streamed parts checked before they could be shown.")
    chunks_shown: Count = Field(description="Parts that passed and were shown.")
    first_visible_ms: Millis | None = Field(description=(
        "Time from the request to the first shown part; null: none shown."))
    retracted: bool = Field(description="Whether shown text was withdrawn because a later part failed.")
    withheld: list[WithheldPart] = Field(description="Parts that failed and were never shown.")
    held: bool | None = Field(None, description=(
        "True: nothing was streamed because the answer was on a domain route with the grounding check; it was "
        "shown once, after the check."))


# Where an ``error`` note's request ended outside the answer path: such a note holds ids only.
OUTSIDE_ANSWER_PATH = ("slack", "slack_recovery", "api")


class ErrorNote(_Owned):
    """Why the request failed: the error's kind, never its message (it may quote the question)."""

    type: str = Field(min_length=1, description=(
        "The exception class, e.g. GenerationError, Busy, RateLimited; LostMessage for a message given up by "
        "slack_recovery."))
    reason: str | None = Field(None, description=(
        "For Busy: capacity (a full queue) or deadline; RateLimited: rate_limit; LostMessage: unreadable (it "
        "could not be read back from Slack) or attempts (it had max_attempts owners already)."))
    where: Literal["answer", "slack", "slack_recovery", "api"] | None = Field(None, description=(
        "Where the request ended. Absent or answer: in the answer path (the note holds the question's "
        "fingerprint, the checks and the latencies). slack: in the Slack surface before or around the answer path "
        "(its queue was full, the asker's rate limit, the deadline passed in the queue, or a failure around the "
        "answer): nothing was checked or generated, and the note holds ids only. slack_recovery: a message whose "
        "process died or stalled after acknowledging it and that no replica could answer; ids only. api: the "
        "admin API's playground (POST /api/ask) refused it for capacity or the asker's rate limit; ids only. In every "
        "case the asker was told (a refusal or an apology) with this note's id as the reference."))
    attempts: Annotated[int, Field(ge=1)] | None = Field(None, description=(
        "slack_recovery: how many processes owned the message before it was given up."))


class SlackContext(_Owned):
    """Where in Slack the question was asked."""

    team: str | None = Field(None, description="Workspace (team) id.")
    channel: str | None = Field(None, description="Channel id.")
    thread_ts: str | None = Field(None, description="Thread timestamp.")
    ts: str | None = Field(None, description=(
        "The asker's message (its timestamp, Slack's id for it), when the note is about a message that got no "
        "answer (error.where slack or slack_recovery)."))
    user: Annotated[str, Field(pattern=_PSEUDONYM)] | None = Field(None, description=(
        "The asker's pseudonym: HMAC-SHA256 of the Slack user id under the audit key, never the id."))


# -- change records -------------------------------------------------------------------------------------------
# What each area's records must hold (not null), besides ``kind``. Kinds of other areas (review.*, audit.*:
# the audit workbench's samples, marks, purges, key rotations) are checked for their common fields' types.
CHANGE_KIND_REQUIRES: dict[str, tuple[str, ...]] = {
    "template": ("actor", "template", "version"),
    "knowledge": ("actor", "entry", "version"),
    "live_config": ("actor",),  # and the key live_config itself, which may be null (the file alone)
}


def _change_schema(schema: dict[str, Any]) -> None:
    clauses = []
    for area, fields in CHANGE_KIND_REQUIRES.items():
        required = [*fields, "live_config"] if area == "live_config" else list(fields)
        clauses.append({"if": {"properties": {"kind": {"pattern": f"^{area}\\."}}, "required": ["kind"]},
                        "then": {"required": required, "properties": {f: {"not": {"type": "null"}} for f in fields}}})
    schema["allOf"] = clauses


class Change(BaseModel):
    """An administrative change (verdict change): what changed, who did it and why.

    Its common fields are typed; others are allowed (JSON values only) because each kind records its own
    facts (a test run's ``passed`` and ``test_run``; a review mark's ``sample`` and ``note_id``), and new kinds
    (``review.mark``, ``audit.purge``, ``audit.checkpoint``, ``audit.key_rotation`` ...) add theirs without a
    new schema version.
    """

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, hide_input_in_errors=True,
                              json_schema_extra=_change_schema)
    __pydantic_extra__: dict[str, JsonValue] = Field(init=False)

    kind: Annotated[str, Field(pattern=_CHANGE_KIND)] = Field(description=(
        "area.action: template.create|edit|import|publish|rollback|archive|test, "
        "live_config.save|test|publish|rollback, and later review.mark, audit.purge, audit.checkpoint, "
        "audit.key_rotation ..."))
    actor: str | None = Field(None, description=(
        "Who made the change: an admin user's name, or local:NAME for the CLI's --as."))
    reason: str | None = Field(None, description="The reason given (required with override).")
    message: str | None = Field(None, description="The change message (what changed and why; a test run's summary).")
    override: bool | None = Field(None, description="Whether a refusal (failed checks or tests) was overridden.")
    template: str | None = Field(None, description="template.*: the template name.")
    version: Count | None = Field(None, description=(
        "template.*: the template version the change is about; knowledge.*: the entry version."))
    entry: str | None = Field(None, description="knowledge.*: the knowledge entry's id.")
    label: str | None = Field(None, description="template.publish/rollback: the label moved (e.g. production).")
    from_version: Count | None = Field(None, description=(
        "publish/rollback: the version the label (or the live configuration) pointed at before; null: none."))
    live_config: Count | None = Field(None, description=(
        "live_config.*: the live routing/policy version; null: back to the configuration file alone."))
    sha256: str | None = Field(None, pattern=r"^([0-9a-f]{64})?$", description=(
        "SHA-256 of the template version's or live configuration's content (audit.subject_*: of the person's "
        "pseudonyms); empty when there is none."))
    passed: bool | None = Field(None, description="*.test: whether every test case passed.")
    test_run: Count | None = Field(None, description="template.test: the stored test run's id.")

    @model_validator(mode="after")
    def _kind_fields(self) -> Change:
        area = self.kind.split(".", 1)[0]
        problems = [f"{f}: required when kind is {area}.*" for f in CHANGE_KIND_REQUIRES.get(area, ())
                    if getattr(self, f) is None]
        if area == "live_config" and "live_config" not in self.model_fields_set:
            problems.append("live_config: required when kind is live_config.* (null meaning the file alone)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# -- the note -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerdictRule:
    """What a note with a verdict must hold: sections present (not null), allowed actions, a failed stage."""

    required: tuple[str, ...]
    actions: tuple[str, ...] = ()
    failed_stage: Literal["input", "output"] | None = None
    # what is required instead when ``error.where`` is outside the answer path (``OUTSIDE_ANSWER_PATH``)
    outside: tuple[str, ...] | None = None


_ANSWER = ("request", "response", "guardrails", "latency_ms", "tokens")
_GENERATED = ("route", "template", "model")
VERDICT_RULES: dict[str, VerdictRule] = {
    "answered": VerdictRule((*_ANSWER, *_GENERATED), ("allow", "warned", "regenerated", "fallback", "fixed")),
    "blocked_input": VerdictRule(_ANSWER, ("refused",), "input"),
    "blocked_output": VerdictRule((*_ANSWER, *_GENERATED), ("refused",), "output"),
    "error": VerdictRule((*_ANSWER, "error"), ("error",), outside=("error",)),
    "change": VerdictRule(("change",)),
}


def _verdict_schema(schema: dict[str, Any]) -> None:
    """VERDICT_RULES as JSON Schema if/then clauses, so tools outside Decorum check them too."""
    clauses = []
    for verdict, rule in VERDICT_RULES.items():
        props: dict[str, Any] = {f: {"not": {"type": "null"}} for f in rule.required}
        guard: dict[str, Any] = {}
        if rule.actions:
            guard["action"] = {"enum": list(rule.actions)}
        if rule.failed_stage:
            guard[rule.failed_stage] = {"contains": {"type": "object", "properties": {"passed": {"const": False}},
                                                     "required": ["passed"]}}
        if guard:
            props["guardrails"] = {"not": {"type": "null"}, "properties": guard}
        then: dict[str, Any] = {"required": list(rule.required), "properties": props}
        if rule.outside is not None:  # ids only when error.where is outside the answer path
            outside = {"properties": {"error": {"properties": {"where": {"enum": list(OUTSIDE_ANSWER_PATH)}},
                                                "required": ["where"]}}, "required": ["error"]}
            then = {"if": outside,
                    "then": {"required": list(rule.outside),
                             "properties": {**{f: {"not": {"type": "null"}} for f in rule.outside},
                                            **({"guardrails": {"properties": guard}} if guard else {})}},
                    "else": then}
        clauses.append({"if": {"properties": {"verdict": {"const": verdict}}, "required": ["verdict"]},
                        "then": then})
    clauses.append({"if": {"properties": {"verdict": {"not": {"const": "change"}}}},
                    "then": {"properties": {"change": {"type": "null"}}}})
    schema["allOf"] = clauses


class TransparencyNote(_Owned):
    """One record of the audit log: an answer (or refusal) and how it was produced, or an admin change.

    It never holds the question or answer text, nor a raw user id: texts are keyed fingerprints, users
    pseudonyms. ``prev_hash`` (in the stored note) and ``hash`` (added when read) link it into the chain.
    """

    model_config = ConfigDict(json_schema_extra=_verdict_schema)

    id: Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z_.:-]{0,31}$")] = Field(description=(
        "The record's id: a ULID (time-sortable), also the reference shown to the asker with a refusal or apology."))
    created_at: Annotated[str, Field(max_length=32, pattern=_TIMESTAMP)] = Field(description=(
        "When the request arrived (or the change was made): ISO 8601 in UTC, e.g. 2026-11-22T10:00:00.000Z."))
    surface: Surface = Field(description=(
        "Where it came from: cli, slack, web (the console's playground and POST /api/ask), console (admin changes "
        "made in the web console)."))
    verdict: Verdict = Field(description=(
        "answered (shown), blocked_input (the question failed a check: refused, nothing generated), "
        "blocked_output (the answer failed the output checks, also after a retry: refused, never shown), error "
        "(the request failed, or was refused for capacity or rate, or its message was lost to a crash: see "
        "error.where; the asker got an apology or refusal with the id), change (an administrative change)."))
    schema_version: Literal[1] | None = Field(None, description=(
        "The version of this schema the note was written under; absent in notes written before the schema "
        "existed (they are kept as stored)."))
    user: Annotated[str, Field(pattern=_PSEUDONYM)] | None = Field(None, description=(
        "The asker's pseudonym outside Slack (CLI, web): HMAC-SHA256 of their id under the audit key."))
    pseudonym_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = Field(None, description=(
        "Id of the audit key that made user and slack.user (keys can be rotated; e.g. k1)."))
    slack: SlackContext | None = Field(None, description=(
        "Slack only: workspace, channel, thread and the asker's pseudonym."))
    request: Fingerprint | None = Field(None, description=(
        "The question's keyed fingerprint and length (never its text)."))
    response: Fingerprint | None = Field(None, description=(
        "What the asker was sent (the answer, refusal or apology): keyed fingerprint and length, never the text."))
    route: Route | None = Field(None, description="How the request was routed; null when nothing was generated.")
    template: TemplateUsed | None = Field(None, description=(
        "The template version used; null when nothing was generated."))
    model: ModelUsed | None = Field(None, description="The model that generated; null when nothing was generated.")
    guardrails: Guardrails | None = Field(None, description="Every check's result, the policy version and its action.")
    latency_ms: LatencyMs | None = Field(None, description="Time per stage in milliseconds.")
    tokens: Tokens | None = Field(None, description="Token counts (0 when nothing was generated).")
    generation: GenerationNote | None = Field(None, description=(
        "How generation ended; absent when nothing was generated."))
    streaming: Streaming | None = Field(None, description="For an answer shown while it was generated (Slack).")
    knowledge: list[KnowledgeUsed] | None = Field(None, description=(
        "Domain routes: the knowledge entries retrieved and cited (id, version, similarity), best first."))
    grounding: GroundingNote | None = Field(None, description=(
        "Domain routes: whether what the answer states as fact is supported by the cited entries."))
    error: ErrorNote | None = Field(None, description="Verdict error: the kind of failure.")
    change: Change | None = Field(None, description="Verdict change: the administrative change recorded.")
    # Open: audit review marks are defined by the review feature, which is not written yet; any JSON object.
    review: dict[str, JsonValue] | None = Field(None, description="Audit review marks (defined by the review feature).")
    prev_hash: Hex64 | None = Field(None, description=(
        "The previous record's hash (64 zeros for the first): set by the audit log, part of the hashed note."))
    hash: Hex64 | None = Field(None, description=(
        "This record's hash over its sequence number and canonical JSON (HMAC-SHA256 with the chain key, or "
        "SHA-256 for records before the key existed); kept beside the note, shown when it is read."))

    @field_validator("schema_version", mode="before")
    @classmethod
    def _no_bool(cls, value: object) -> object:
        if isinstance(value, bool):  # True == 1 in Python; JSON's true is no version number
            raise ValueError("must be the integer 1")
        return value

    @model_validator(mode="after")
    def _verdict_rules(self) -> TransparencyNote:
        rule = VERDICT_RULES[self.verdict]
        required, when = rule.required, f"verdict is {self.verdict!r}"
        if rule.outside is not None and self.error is not None and self.error.where in OUTSIDE_ANSWER_PATH:
            required, when = rule.outside, f"{when} and error.where is {self.error.where!r}"
        problems = [f"{f}: required when {when}" for f in required if getattr(self, f) is None]
        guard = self.guardrails
        if guard is not None and rule.actions and guard.action not in rule.actions:
            problems.append(f"guardrails.action: must be one of {', '.join(rule.actions)} when verdict is "
                            f"{self.verdict!r}")
        if guard is not None and rule.failed_stage and all(r.passed for r in getattr(guard, rule.failed_stage)):
            problems.append(f"guardrails.{rule.failed_stage}: verdict {self.verdict!r} needs a failed check there")
        if self.verdict != "change" and self.change is not None:
            problems.append("change: only a record with verdict 'change' has one")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class NoteSchemaError(UsageError):
    """A note does not match the schema. ``problems``: ``(field path, problem)`` pairs, no values."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems[:8])
        more = f" (+{len(problems) - 8} more)" if len(problems) > 8 else ""
        super().__init__(f"audit note does not match schema v{NOTE_SCHEMA_VERSION}: {shown}{more}")


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "value_error":  # our validators' messages: "sub.path: problem; ..." below ``path``
            for part in msg.removeprefix("Value error, ").split("; "):
                sub, _, problem = part.partition(": ") if ": " in part else ("", "", part)
                out.append((".".join(p for p in (path, sub) if p), problem))
            continue
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not in the schema)"
        out.append((path, msg))
    return out


def validate_note(note: Mapping[str, Any]) -> None:
    """Raise ``NoteSchemaError`` unless ``note`` matches the schema (with its verdict's rules).

    The message names field paths and problems only, never a value: values may quote the question.
    """
    try:
        TransparencyNote.model_validate(note if isinstance(note, dict) else dict(note))
    except ValidationError as exc:
        raise NoteSchemaError(_problems(exc)) from None  # the ValidationError's text could carry values


def note_json_schema() -> dict[str, Any]:
    """The note's JSON Schema (Draft 2020-12), versioned by ``$id``, with a description on every field."""
    schema = TransparencyNote.model_json_schema(mode="validation")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": NOTE_SCHEMA_ID,
        "title": f"Decorum transparency note, schema version {NOTE_SCHEMA_VERSION}",
        "description": (
            "One record of Decorum's hash-chained audit log: an answer or refusal and how it was produced "
            "(route, template, model, every guardrail check, latencies), or an administrative change. It holds "
            "keyed fingerprints of texts and pseudonyms of users, never the texts or raw ids. New notes carry "
            f"schema_version {NOTE_SCHEMA_VERSION}; notes stored before the schema have none and may predate "
            "some of its rules."),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


__all__ = ["NOTE_SCHEMA_ID", "NOTE_SCHEMA_VERSION", "OUTSIDE_ANSWER_PATH", "VERDICT_RULES", "Change",
           "NoteSchemaError", "TransparencyNote", "note_json_schema", "validate_note"]
