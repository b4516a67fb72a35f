"""The model card of a fine-tuned adapter version: ``MODEL_CARD.md`` and ``loss_curve.svg`` from its data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from decorum.charts import line_chart


def loss_chart(card: dict[str, Any]) -> str:
    """The SVG of train and eval loss per epoch, the kept epoch marked (the card's ``loss_curve.svg``)."""
    training = card.get("training") or {}
    history = training.get("history") or []
    return line_chart({"train loss": [(h["epoch"], h["train_loss"]) for h in history if "train_loss" in h],
                       "eval loss": [(h["epoch"], h["eval_loss"]) for h in history if "eval_loss" in h]},
                      title=f"{card.get('name', '?')} v{card.get('version', '?')}: loss per epoch", x_label="epoch",
                      y_label="cross-entropy (answer tokens)", marker_x=training.get("best_epoch"),
                      marker_label="kept (lowest eval loss)")


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / "loss_curve.svg").write_text(loss_chart(card), encoding="utf-8")
    (folder / "MODEL_CARD.md").write_text(render(card), encoding="utf-8")


def render(card: dict[str, Any]) -> str:
    d, t, s, r = card["data"], card["training"], card["settings"], card["router"]
    scr = d["screening"]
    test = card.get("test")
    stopped = t["epochs_run"] < s["epochs"] and s["max_steps"] == -1
    lines = [
        f"# Model card: {card['name']} v{card['version']}",
        "",
        f"A LoRA adapter (peft) for the `{card['domain']}` domain on the base LLM `{card['base']['name']}`, "
        f"trained by `decorum finetune` on {d['train_pairs']} question/answer pairs. It answers under the prompt "
        f"template `{card['template']['name']}@{card['template']['version']}`, whose system message framed every "
        "training example.",
        "",
        "## How it was made",
        "",
        "```",
        card["command"],
        "```",
        "",
        f"- Base model: `{card['base']['name']}` ({card['base']['source']}), weights sha256 "
        f"`{card['base']['revision']}`.",
        f"- Data: `{d['file']}`, content sha256 `{d['sha256']}`; {d['train_pairs']} training and {d['eval_pairs']} "
        f"eval pairs (a seeded split of the kept pairs; eval pairs are never trained on)"
        + (f"; test split `{d['test_file']}` ({scr['test_pairs']} pairs), checked for leakage" if d["test_file"]
           else "; no test split given, so leakage was not checked") + ".",
        f"- Hyperparameters: LoRA r={s['lora_r']}, alpha={s['lora_alpha']:g}, dropout {s['lora_dropout']}, on "
        f"{', '.join(s['target_modules'])}; lr {s['lr']:g} ({s['schedule']}), batch {s['batch_size']}, at most "
        f"{s['epochs']} epochs" + (f" / {s['max_steps']} steps" if s["max_steps"] != -1 else "")
        + f", early stopping after {s['patience']} epoch(s) without a lower eval loss; {s['loss']}; "
        f"examples up to {s['max_tokens']} tokens; seed {s['seed']}.",
        f"- Training: {t['epochs_run']:g} epoch(s) in {t['seconds'] / 60:.1f} min on {t['machine']} "
        f"({t['threads']} torch threads); " + ", ".join(f"{k} {v}" for k, v in t["versions"].items()) + ". "
        "Deterministic algorithms on; the same command and seed give the same split and the same adapter.",
        f"- Adapter: `adapter_model.safetensors`, {card['adapter']['bytes'] / 1e6:.2f} MB, sha256 "
        f"`{card['adapter']['sha256']}` (over `adapter_config.json` and the weights).",
        "",
        "## Loss",
        "",
        "![train and eval loss per epoch](loss_curve.svg)",
        "",
        "| epoch | train loss | eval loss |",
        "|---|---|---|",
        *[f"| {h['epoch']:g} | {h.get('train_loss', '')} | {h.get('eval_loss', '')} |" for h in t["history"]],
        "",
        f"Kept: epoch {t['best_epoch']:g}, eval loss {t['best_eval_loss']}."
        + (" Training stopped early: eval loss stopped falling while train loss kept falling, the sign of "
           "overfitting; the epoch with the lowest eval loss is the one shipped." if stopped else ""),
        "",
        "## Data screening",
        "",
        f"{scr['rows']} pairs read, {scr['kept']} kept: {scr['duplicates_removed']} exact duplicate(s) removed, "
        f"{scr['overlong_removed']} overlong pair(s) removed, {scr['flagged']} pair(s) flagged by Decorum's own "
        "toxicity and bias checks (questions as input, answers as output) "
        + ("and KEPT (`--keep-flagged`): what a model is trained on, it repeats, so this adapter may carry them."
           if scr["flagged_kept"] else "and excluded (a model repeats what it is trained on)."),
        "",
        *([f"- line {f['line']} {f['field']}: {f['check']} {f['score']}" for f in scr["flagged_examples"][:30]]
          or ["No example was flagged."]),
        "",
        "## Evaluation",
        "",
        f"- Eval loss (held-out pairs): {t['best_eval_loss']}.",
    ]
    if test:
        lines += [f"- Test split ({test['questions']} questions, new phrasings; {test['engine']}): token F1 "
                  f"{test['token_f1']}, ROUGE-L {test['rouge_l']}, key-fact recall {test['key_fact_recall']}. "
                  "`decorum compare` puts these next to the prompt-engineering strategies on the serving engine."]
    lines += [
        f"- Semantic router ({r['method']}): threshold {r['threshold']}, calibrated on "
        f"{r['calibration_sizes']['in_domain_eval']} held-out in-domain questions "
        + ("(each scored without its own fact's training questions, as if its topic were new) "
           if r.get("positives") else "") + "and "
        f"{r['calibration_sizes']['general']} general requests "
        f"(`{r['calibration_file']}`): {r['in_domain_routed']:.0%} of the former routed here, "
        f"{r['general_rejected']:.0%} of the latter kept away.",
        "",
        "## Intended use",
        "",
        f"Answering employees' questions in the `{card['domain']}` domain inside Decorum, behind its guardrails, "
        "with a transparency note naming this adapter version on every answer.",
        "",
        "## Limitations",
        "",
        "- It knows only what its pairs say, as of when they were written: a changed policy needs new data and "
        "a retrain (or a template/knowledge edit on the prompt-engineering route, which takes effect at once).",
        "- A 135M-parameter base model paraphrases and can mix up facts it learned; on questions outside its "
        "data it answers fluently and wrongly. The router keeps general requests away; check the note's "
        "route score when in doubt.",
        "- The eval split holds phrasings of the same facts as the training split: eval loss measures "
        "rephrasing, not new knowledge.",
        "",
    ]
    return "\n".join(lines)
