"""Routing: explicit choice > rules > default, and the reason recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from decorum.adapters.registry import ModelsConfig
from decorum.bot.router import RouteContext, Router, RoutingConfig
from decorum.errors import ConfigError, UsageError


def _router(tmp_path: Path, **routing) -> Router:
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (tmp_path / name).write_text("{}")
    models = ModelsConfig.model_validate({"adapters": {"helpdesk-lora": {"version": 2, "path": str(tmp_path),
                                                                         "sha256": "0" * 64}}})
    cfg = RoutingConfig.model_validate({
        "domains": {"helpdesk": {"template": "helpdesk", "adapter": "helpdesk-lora"}},
        "rules": [
            {"name": "it-channel", "match": {"channel": ["CIT"]}, "template": "helpdesk"},
            {"name": "vpn", "match": {"pattern": "(?i)\\bvpn\\b"}, "strategy": "fine_tuned", "domain": "helpdesk"},
        ],
        **routing,
    })
    return Router(cfg, models)


def ctx(q: str = "hello", **kw) -> RouteContext:
    return RouteContext(question=q, surface=kw.pop("surface", "cli"), **kw)


def test_default_route(tmp_path: Path) -> None:
    d = _router(tmp_path).route(ctx())
    assert (d.strategy, d.reason, str(d.template), d.adapter) == ("prompt_engineering", "default", "general", None)


def test_rules_in_order(tmp_path: Path) -> None:
    r = _router(tmp_path)
    d = r.route(ctx(channel="CIT"))
    assert (d.reason, d.rule, str(d.template)) == ("rule", "it-channel", "helpdesk")
    d = r.route(ctx("My VPN is broken"))
    assert (d.strategy, d.rule, d.adapter.name, d.adapter.version) == ("fine_tuned", "vpn", "helpdesk-lora", 2)


def test_explicit_beats_rules(tmp_path: Path) -> None:
    r = _router(tmp_path)
    d = r.route(ctx("My VPN is broken"), template="general@1")
    assert (d.strategy, d.reason, str(d.template)) == ("prompt_engineering", "explicit", "general@1")
    d = r.route(ctx("My VPN is broken"), strategy="prompt_engineering")
    assert (d.strategy, d.reason) == ("prompt_engineering", "explicit")
    d = r.route(ctx(), strategy="fine_tuned", template="helpdesk@1")
    assert (d.strategy, str(d.template), d.adapter.name) == ("fine_tuned", "helpdesk@1", "helpdesk-lora")


def test_bad_choices_are_usage_errors(tmp_path: Path) -> None:
    r = _router(tmp_path)
    with pytest.raises(UsageError, match="unknown strategy 'magic'"):
        r.route(ctx(), strategy="magic")
    with pytest.raises(UsageError, match="template 'general' has no fine-tuned domain"):
        r.route(ctx(), strategy="fine_tuned", template="general")
    plain = Router(RoutingConfig(), ModelsConfig())
    with pytest.raises(UsageError, match="no fine-tuned domain is configured"):
        plain.route(ctx(), strategy="fine_tuned")


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown adapter 'nope'"):
        Router(RoutingConfig.model_validate({"domains": {"x": {"template": "general", "adapter": "nope"}}}),
               ModelsConfig())
    with pytest.raises(ValueError, match="invalid regular expression"):
        RoutingConfig.model_validate({"rules": [{"name": "r", "match": {"pattern": "("}, "template": "general"}]})
