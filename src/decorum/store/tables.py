"""Tables. The schema itself is created by the Alembic migrations in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table."""


class TemplateRow(Base):
    __tablename__ = "template"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)


class TemplateVersionRow(Base):
    """An immutable template version: rows are inserted, never updated."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("template.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON of the template fields
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    author: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    # JSON: the template checks run when the version was saved ({"passed": bool, "results": [...]}); NULL before 0005
    checks: Mapped[str | None] = mapped_column(Text, nullable=True)
    # set when archived (hidden from listings, never published again); the content itself never changes
    archived_at: Mapped[str | None] = mapped_column(String(32), nullable=True)


class TemplateTestRunRow(Base):
    """One ``prompts test`` run of a version: each case's answer summary and expectations (``results`` JSON)."""

    __tablename__ = "template_test_run"
    __table_args__ = (Index("ix_template_test_run_name_version", "name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    results: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[str] = mapped_column(String(32), nullable=False)


class RegistryRevisionRow(Base):
    """A counter per registry (``templates``) raised in the same transaction as every change: a process that
    caches the registry compares it to know whether anything changed since it last read."""

    __tablename__ = "registry_revision"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)


class TemplateEventRow(Base):
    """Every change of a template: a version saved (create, edit, import) or a label moved (publish, rollback)."""

    __tablename__ = "template_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # where a moved label pointed before
    label: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    override: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    at: Mapped[str] = mapped_column(String(32), nullable=False)


class TemplateLabelRow(Base):
    """A movable label (``production``, ``staging``) pointing at one version."""

    __tablename__ = "template_label"

    template_id: Mapped[int] = mapped_column(ForeignKey("template.id"), primary_key=True)
    label: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)


class AuditRecordRow(Base):
    """One transparency note. ``hash`` covers ``seq`` and ``note`` (which holds ``prev_hash``)."""

    __tablename__ = "audit_record"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    surface: Mapped[str] = mapped_column(String(16), nullable=False)
    verdict: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    note: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON, without "hash"
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # Copies of the note's filterable fields (``audit.derived_fields``), indexed; ``audit verify`` checks them.
    strategy: Mapped[str | None] = mapped_column(String(32))
    template: Mapped[str | None] = mapped_column(String(120))  # name@version
    model: Mapped[str | None] = mapped_column(String(160))
    adapter: Mapped[str | None] = mapped_column(String(120))  # name@version
    engine: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[str | None] = mapped_column("user_pseudonym", String(48))  # ("user" is reserved in PostgreSQL)


class AuditScoreRow(Base):
    """One guardrail result of a record (stage input/output), a copy of the note's for score-range filters."""

    __tablename__ = "audit_score"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(8), primary_key=True)
    check: Mapped[str] = mapped_column(String(40), primary_key=True)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)


class AuditTextRow(Base):
    """A question or answer text kept (when an admin turns it on) outside the hashed note, until purged.

    The note holds the text's keyed hash (``request``/``response.hmac_sha256``): the commitment that the
    text here is the one answered, and what stays when the text is purged.
    """

    __tablename__ = "audit_text"

    note_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    field: Mapped[str] = mapped_column(String(16), primary_key=True)  # question | answer
    text: Mapped[str] = mapped_column(Text, nullable=False)
    stored_at: Mapped[str] = mapped_column(String(32), nullable=False, index=True)


class AuditReviewRow(Base):
    """A record drawn into a review sample; ``mark`` (agree/disagree with the guardrail) once reviewed."""

    __tablename__ = "audit_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sample: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    note_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    reviewer: Mapped[str | None] = mapped_column(String(128))
    mark: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    marked_at: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("sample", "note_id", name="uq_audit_review_sample_note"),)


class FalsePositiveReportRow(Base):
    """A person's "This was wrong" on one of their refusals: one per note, an item of the review queue's standing
    ``false-positives`` sample (``audit_review``). ``text_kept``: they opted in and the text went to ``audit_text``
    (under its retention); the blocking check is copied from the note for the export and the metric."""

    __tablename__ = "false_positive_report"

    note_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reporter: Mapped[str] = mapped_column(String(80), nullable=False)  # the asker's pseudonym (as in the note)
    surface: Mapped[str] = mapped_column(String(16), nullable=False)  # slack | web
    stage: Mapped[str] = mapped_column(String(16), nullable=False)  # input | output
    check: Mapped[str] = mapped_column(String(40), nullable=False)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    text_kept: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    record_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # its ``review.report`` audit record


class FeedbackRow(Base):
    """A 👍/👎 on an answer, keyed by the note id (kept outside the hash chain: it comes later)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    note_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    user: Mapped[str] = mapped_column(String(80), nullable=False)  # pseudonymised
    value: Mapped[int] = mapped_column(Integer, nullable=False)  # +1 / -1
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    __table_args__ = (UniqueConstraint("note_id", "user", name="uq_feedback_note_user"),)


class SlackEventRow(Base):
    """A claimed Slack message or event. The unique ``key`` is the lock: one INSERT wins, across processes.

    ``key`` is ``msg:<channel>:<ts>`` for a person's message (so an ``app_mention`` and the ``message``
    event of the same message, or a retry, are one key), ``event:<event_id>`` for other events and
    ``cmd:<trigger_id>`` for slash commands. ``channel``/``thread_ts`` also say which threads the bot is in.
    """

    __tablename__ = "slack_event"
    __table_args__ = (Index("ix_slack_event_thread", "channel", "thread_ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    team: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    thread_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # claimed, answered, refused, error, ...
    note_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the note (or apology reference)
    owner: Mapped[str] = mapped_column(String(80), nullable=False)  # host:pid of the claiming process
    claimed_at: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)
    # The owner's lease: renewed while it works; once past, another replica may take the claim over.
    lease_until: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")  # owners so far


class SlackUserNoticeRow(Base):
    """A person told once per workspace that they talk to an AI and that answers are logged."""

    __tablename__ = "slack_user_notice"
    __table_args__ = (UniqueConstraint("team", "user", name="uq_slack_user_notice"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(String(32), nullable=False)
    user: Mapped[str] = mapped_column(String(80), nullable=False)  # pseudonymised
    noticed_at: Mapped[str] = mapped_column(String(32), nullable=False)


class SlackInstallationRow(Base):
    """One workspace's (or org's) bot installation from the OAuth flow; deleted on uninstall/revocation."""

    __tablename__ = "slack_installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)  # "<enterprise>:<team>"
    enterprise_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    team_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    data: Mapped[str] = mapped_column(Text, nullable=False)  # slack_sdk Installation as JSON (holds the token)
    installed_at: Mapped[str] = mapped_column(String(32), nullable=False)


class SlackOAuthStateRow(Base):
    """An OAuth ``state`` issued by ``/slack/install``, consumed once by ``/slack/oauth_redirect``."""

    __tablename__ = "slack_oauth_state"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), nullable=False)


class ModelVersionRow(Base):
    """A registered fine-tuned adapter version. Only ``stage`` and ``updated_at`` ever change."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_version"),
                      Index("uq_model_production", "name", unique=True, sqlite_where=text("stage = 'production'"),
                            postgresql_where=text("stage = 'production'")))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    domain: Mapped[str] = mapped_column(String(64), nullable=False)
    stage: Mapped[str] = mapped_column(String(16), nullable=False)  # candidate, production, archived, retired
    path: Mapped[str] = mapped_column(Text, nullable=False)  # a folder, or "package:<name>" for a shipped one
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    card: Mapped[str] = mapped_column(Text, nullable=False)  # the version's finetune.json (canonical JSON)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)


class ModelEventRow(Base):
    """Who registered, promoted, archived or retired which model version, when and why."""

    __tablename__ = "model_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[str] = mapped_column(String(32), nullable=False)


class UserRow(Base):
    """A person (or service) who uses the console or the API with a token. Revoked rows stay for the record."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # viewer, auditor, editor, publisher, admin
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)  # SHA-256 of the token
    token_hint: Mapped[str] = mapped_column(String(16), nullable=False)  # the token's first characters
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    revoked_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_used_at: Mapped[str | None] = mapped_column(String(32), nullable=True)


class WebSessionRow(Base):
    """A console login. The cookie holds the session secret; only its SHA-256 is stored."""

    __tablename__ = "web_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), nullable=False, index=True)
    csrf: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    expires_at: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), nullable=False)


class AccessEventRow(Base):
    """Who was refused (401/403) or did what to access itself (logins, users added or revoked)."""

    __tablename__ = "access_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)  # user name, slack pseudonym, "anonymous"
    via: Mapped[str] = mapped_column(String(16), nullable=False)  # token, session, slack, cli, none
    action: Mapped[str] = mapped_column(String(64), nullable=False)  # the permission asked for, or login, ...
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # denied_401, denied_403, ok, failed
    surface: Mapped[str] = mapped_column(String(16), nullable=False)  # api, console, slack, cli
    target: Mapped[str] = mapped_column(String(200), nullable=False, default="")  # route template or user name


class LiveConfigVersionRow(Base):
    """An immutable version of the live routing/policy overlay (``decorum.bot.live_config``); ``tests`` grows."""

    __tablename__ = "live_config_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON of the overlay
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    author: Mapped[str] = mapped_column(String(128), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    tests: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of test-gate runs


class LiveConfigRow(Base):
    """Which live overlay version is active (label ``production``; no row: the configuration file alone)."""

    __tablename__ = "live_config"

    label: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)


class LiveConfigEventRow(Base):
    """Every change of the live overlay: save, test, publish, rollback (who, when, why)."""

    __tablename__ = "live_config_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: back to the file alone
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    override: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    at: Mapped[str] = mapped_column(String(32), nullable=False)


class AuditCheckpointRow(Base):
    """A signed checkpoint of the audit log (``decorum.audit.checkpoints``): ``payload`` is what was signed."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[str] = mapped_column(String(32), nullable=False)
    key_id: Mapped[str] = mapped_column(String(16), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON
    signature: Mapped[str] = mapped_column(String(128), nullable=False)  # base64 Ed25519


class AuditJobRunRow(Base):
    """One period of a periodic audit job (``decorum.audit.jobs``): a signed checkpoint, a weekly summary.

    The unique (``job``, ``period``) is the claim: of several ``decorum serve`` replicas, the one whose INSERT wins
    runs the job for that period. A run that failed (``status`` ``failed``) may be taken again later, a few times.
    """

    __tablename__ = "audit_job_run"
    __table_args__ = (UniqueConstraint("job", "period", name="uq_audit_job_run"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(32), nullable=False)  # checkpoint | summary
    period: Mapped[str] = mapped_column(String(32), nullable=False)  # the period's start, UTC
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # claimed, posted, signed, unchanged, failed, ...
    detail: Mapped[str] = mapped_column(String(200), nullable=False, default="")  # ids and counts, never text
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    owner: Mapped[str] = mapped_column(String(80), nullable=False)  # host:pid
    claimed_at: Mapped[str] = mapped_column(String(32), nullable=False)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)


class KnowledgeEntryRow(Base):
    """A knowledge-base entry (``decorum.knowledge``): its id, domain and the version retrieval serves."""

    __tablename__ = "knowledge_entry"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    domain: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    # None: never published (a draft only) or withdrawn; retrieval serves only published versions
    published: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)


class KnowledgeVersionRow(Base):
    """An immutable version of an entry: rows are inserted, never updated."""

    __tablename__ = "knowledge_version"

    entry_id: Mapped[str] = mapped_column(ForeignKey("knowledge_entry.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(160), nullable=False)
    topic: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    body: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    author: Mapped[str] = mapped_column(String(128), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    checks: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON {"passed", "results"}; None: unchecked


class KnowledgeEventRow(Base):
    """Every change of an entry: a version saved (add, edit, import) or the published version moved."""

    __tablename__ = "knowledge_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    override: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    at: Mapped[str] = mapped_column(String(32), nullable=False)
