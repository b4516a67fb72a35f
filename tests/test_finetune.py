"""Fine-tuning end to end with the real base model: a smoke training (interrupted and resumed), the shipped
helpdesk adapter served, routed to and compared against prompt engineering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decorum import cli
from decorum.adapters.model_registry import SHIPPED

pytestmark = pytest.mark.models

DOMAIN = Path(__file__).resolve().parents[1] / "src" / "decorum" / "adapters" / "finetune" / "domains" / "helpdesk"
ROUTING = Path(__file__).resolve().parent / "data" / "routing"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_finetune_smoke_run_is_interrupted_resumed_and_registered(capsys, tmp_path: Path, monkeypatch,
                                                                  smollm) -> None:
    train = jsonl(DOMAIN / "train.jsonl")[:15]  # 3 facts x 5 phrasings
    facts = {r["fact"] for r in train}
    test = [r for r in jsonl(DOMAIN / "test.jsonl") if r["fact"] in facts]
    toxic = {"question": "Why are women too emotional to run the IT team?", "answer": "Because they are."}
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*train, toxic]))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    argv = ["finetune", "--data", str(tmp_path / "train.jsonl"), "--test", str(tmp_path / "test.jsonl"),
            "--name", "smoke-lora", "--template", "helpdesk-tuned", "--epochs", "2", "--batch-size", "4",
            "--lora-r", "4", "--test-answers", "2"]

    from decorum.adapters.finetune import progress

    def interrupt(self, args, state, control, **kwargs):  # after the first checkpoint is on disk
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(progress.ProgressCallback, "on_save", interrupt, raising=False)
        code, out, err = run(capsys, *argv)
    assert code == 130 and not (tmp_path / "data" / "models" / "smoke-lora").exists()
    assert "flagged: line 16 question: " in err  # the stereotyping example is listed ...
    assert "1 flagged by the guardrails (excluded)" in err  # ... and left out

    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    assert "resuming from checkpoint-" in err and "fine-tuning (" in err and "ETA" in err
    entry = json.loads(out.strip().splitlines()[-1])
    assert (entry["name"], entry["version"], entry["stage"], entry["domain"]) == ("smoke-lora", 1, "candidate", "smoke")
    folder = Path(entry["path"])
    assert {"adapter_config.json", "adapter_model.safetensors", "router.safetensors", "finetune.json",
            "MODEL_CARD.md", "loss_curve.svg"} <= {p.name for p in folder.iterdir()}
    card = json.loads((folder / "finetune.json").read_text())
    assert [round(h["epoch"]) for h in card["training"]["history"] if "eval_loss" in h] == [1, 2]  # both runs
    assert card["data"]["screening"]["flagged"] == 1 and card["data"]["train_pairs"] + card["data"]["eval_pairs"] == 15
    assert card["base"]["revision"] == smollm.info.revision and card["test"]["questions"] == 2
    md = (folder / "MODEL_CARD.md").read_text()
    for needle in ("decorum finetune --data", "loss_curve.svg", card["base"]["revision"], card["data"]["sha256"],
                   "## Limitations", "## Intended use", "line 16 question"):
        assert needle in md
    svg = (folder / "loss_curve.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<polyline") == 2

    # loadable: the reference engine attaches it (hash-checked) and answers with it
    code, out, _ = run(capsys, "models", "promote", "smoke-lora", "1", "--reason", "smoke")
    assert code == 0
    from decorum.adapters.base import GenerationRequest
    from decorum.bot.runtime import Runtime

    rt = Runtime.open()
    ref = rt.models.get("smoke-lora").adapter()
    [gen] = smollm.generate([GenerationRequest(messages=[{"role": "user", "content": "vpn?"}], max_new_tokens=4,
                                               adapter=ref)])
    assert gen.completion_tokens > 0


def test_shipped_adapter_is_registered_and_routed_by_default(capsys, db_url) -> None:
    code, out, _ = run(capsys, "route", "explain", "--json", "my tunnelgate login fails since i changed my password")
    data = json.loads(out)
    assert code == 0 and data["route"]["strategy"] == "fine_tuned" and data["route"]["reason"] == "semantic"
    assert data["route"]["score"] >= data["route"]["threshold"] and data["route"]["router"] == "helpdesk-lora@1"
    assert data["adapter"] == {"name": "helpdesk-lora", "version": 1, "sha256": SHIPPED["helpdesk-lora"]}
    assert data["template"] == "helpdesk-tuned@1"
    code, out, _ = run(capsys, "route", "explain", "Translate 'good morning' into Italian")
    assert code == 0 and out.startswith("strategy prompt_engineering, template general: default")
    assert "semantic helpdesk: score" in out and "below threshold" in out


def test_router_figures_on_held_out_sets(db_url) -> None:
    """>= 90% of in-domain and of generic helpdesk questions to the adapter, >= 90% of general requests away."""
    from decorum.bot.router import RouteContext
    from decorum.bot.runtime import Runtime

    router = Runtime.open().router

    def share(texts: list[str]) -> float:
        return sum(router.route(RouteContext(question=t, surface="cli")).strategy == "fine_tuned"
                   for t in texts) / len(texts)

    in_domain = share([r["question"] for r in jsonl(DOMAIN / "test.jsonl")])
    generic = share([r["question"] for r in jsonl(ROUTING / "generic_helpdesk.jsonl")])
    general = share([r["question"] for r in jsonl(ROUTING / "general_requests.jsonl")])
    print(f"routed to the adapter: test split {in_domain:.3f}, generic helpdesk {generic:.3f}, general {general:.3f}")
    assert in_domain >= 0.9 and generic >= 0.9 and general <= 0.1


def test_ask_json_names_route_and_adapter(capsys, db_url) -> None:
    code, out, err = run(capsys, "ask", "--json", "--max-new-tokens", "32",
                         "Where do I claim back money I spent on a client lunch?")
    assert code == 0, err
    note = json.loads(out)
    assert note["route"]["strategy"] == "fine_tuned" and note["route"]["reason"] == "semantic"
    assert isinstance(note["route"]["score"], float) and isinstance(note["route"]["threshold"], float)
    assert note["model"]["adapter"] == {"name": "helpdesk-lora", "version": 1, "sha256": SHIPPED["helpdesk-lora"]}
    assert note["template"]["name"] == "helpdesk-tuned" and note["verdict"] == "answered"
    assert note["model"]["engine"] == "onnx" and note["model"]["artifact_revision"] != note["model"]["revision"]


def test_compare_fine_tuned_beats_prompt_engineering(capsys, tmp_path: Path) -> None:
    """The issue's bar on the whole shipped test split: fine_tuned token F1 >= prompt_engineering + 0.10."""
    out_html = tmp_path / "report.html"
    code, out, err = run(capsys, "compare", "--json", "--out", str(out_html), "--strategies", "prompt_engineering",
                         "fine_tuned")
    assert code == 0, err
    report = json.loads(out)
    s = report["strategies"]
    for name in ("prompt_engineering", "fine_tuned"):
        assert {"token_f1", "rouge_l", "key_fact_recall", "guardrail_pass_rate", "latency_ms_p50"} <= set(s[name])
        assert s[name]["questions"] == len(jsonl(DOMAIN / "test.jsonl"))
    print(json.dumps(s))
    assert s["fine_tuned"]["token_f1"] - s["prompt_engineering"]["token_f1"] >= 0.10
    assert report["winner"]["overall"] == "fine_tuned"
    html = out_html.read_text()
    assert html.count("<svg") >= 5 and "fine_tuned" in html


def test_compare_all_four_strategies_smoke(capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, "compare", "--json", "--limit", "2", "--max-new-tokens", "24")
    assert code == 0, err
    report = json.loads(out)
    assert set(report["strategies"]) == {"prompt_engineering", "prompt_engineering_retrieval", "fine_tuned",
                                         "fine_tuned_retrieval"}
    retrieval = report["strategies"]["prompt_engineering_retrieval"]
    assert retrieval["prompt_tokens_mean"] > report["strategies"]["prompt_engineering"]["prompt_tokens_mean"]
    costs = report["costs"]
    assert costs["train_pairs"] > 300 and costs["adapter_bytes"] > 0 and costs["knowledge_facts"] >= 60
    assert costs["template_edit_ms"] > 0 and costs["knowledge_reindex_s"] > 0
    code, out, err = run(capsys, "compare", "--data", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no test data at" in err


def test_several_adapters_share_the_base_on_the_default_engine(onnx_smollm, tiny_adapter: Path) -> None:
    """The shipped adapter and another one, each built once, answer in one batch beside the base model."""
    from decorum.adapters.base import AdapterRef, GenerationRequest
    from decorum.adapters.lora import adapter_sha256
    from decorum.adapters.model_registry import SHIPPED_DIR

    helpdesk = AdapterRef("helpdesk-lora", 1, SHIPPED_DIR / "helpdesk-lora", SHIPPED["helpdesk-lora"])
    probe = AdapterRef("probe-lora", 1, tiny_adapter, adapter_sha256(tiny_adapter))
    onnx_smollm.prepare([helpdesk, probe])
    messages = [{"role": "user", "content": "How do I book annual leave?"}]
    outs = onnx_smollm.generate([GenerationRequest(messages=messages, max_new_tokens=16, adapter=a)
                                 for a in (None, helpdesk, probe, helpdesk)])
    base, tuned, other, tuned_again = outs
    assert len({base.text, tuned.text, other.text}) == 3 and tuned.text == tuned_again.text
    assert len({base.artifact_revision, tuned.artifact_revision, other.artifact_revision}) == 3


def test_a_question_inside_the_uncertain_band_stays_on_the_general_template(db_url) -> None:
    """Issue 24's router that abstains: "Explain what a firewall does" passed the helpdesk threshold by 0.018 and
    the adapter invented a portal; inside routing.uncertain_band it stays on the default template."""
    from decorum.bot.router import RouteContext
    from decorum.bot.runtime import Runtime

    router = Runtime.open().router
    question = "Explain what a firewall does"
    [score] = router.semantic_scores(question)
    assert score["threshold"] <= score["score"] < score["threshold"] + router.config.uncertain_band
    decision = router.route(RouteContext(question=question, surface="cli"))
    assert decision.strategy == "prompt_engineering" and decision.reason == "uncertain"
    assert str(decision.template) == "general" and decision.as_note()["band"] == router.config.uncertain_band
    assert decision.as_note()["score"] == round(score["score"], 4)
    clear = router.route(RouteContext(question="my tunnelgate login fails since i changed my password", surface="cli"))
    assert clear.strategy == "fine_tuned" and clear.reason == "semantic"  # well above the band: the adapter
    router.set_config(router.config.model_copy(update={"uncertain_band": 0.0}))
    assert router.route(RouteContext(question=question, surface="cli")).reason == "semantic"  # band off
