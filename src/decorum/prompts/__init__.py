"""Prompt templates: immutable numbered versions, movable labels, sandboxed rendering, seeds."""

from decorum.prompts.base import Template, TemplateRef, TemplateStore

__all__ = ["Template", "TemplateRef", "TemplateStore"]
