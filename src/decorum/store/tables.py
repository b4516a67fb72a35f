"""Tables. The schema itself is created by the Alembic migrations in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
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


class FeedbackRow(Base):
    """A 👍/👎 on an answer, keyed by the note id (kept outside the hash chain: it comes later)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    note_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    user: Mapped[str] = mapped_column(String(80), nullable=False)  # pseudonymised
    value: Mapped[int] = mapped_column(Integer, nullable=False)  # +1 / -1
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    __table_args__ = (UniqueConstraint("note_id", "user", name="uq_feedback_note_user"),)
