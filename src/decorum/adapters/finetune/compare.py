"""``decorum compare``: fine-tuning vs prompt engineering, measured on a domain's test split.

Each test question is answered up to seven ways on the serving engine, one at a time (so latencies are honest).
Four raw ways, the model's own answer (the default):

- ``prompt_engineering``: the domain's prompt template over the base model; no company facts.
- ``prompt_engineering_retrieval``: the same template with the few facts of the domain's knowledge file
  most similar to the question (all-MiniLM-L6-v2) in its ``{{ facts }}`` variable.
- ``fine_tuned``: the domain's production adapter under the short template it was trained with.
- ``fine_tuned_retrieval``: both.

Three as served (``--strategies all``, or name them): the question goes through the request path users get
(``Pipeline.answer``: input checks, retrieval of the published knowledge entries, generation, output checks,
the grounding check, its one regeneration with the entries, the "I'm not sure" quote), with the served
generation settings (the template's ``max_tokens``, else the engine's; not ``--max-new-tokens``). Their
notes go to a throwaway audit log, never to the users' one.

- ``prompt_engineering_grounded``: the prompt template, given the entries from the first attempt.
- ``fine_tuned_grounded``: the adapter, given the entries only when it regenerates.
- ``auto_grounded``: no strategy named, as most users ask: routing decides (rules, semantic score, default),
  and a question routed to the default template (no domain) gets no retrieval and no grounding.

Per strategy: token F1, ROUGE-L and key-fact recall against the references; each answer classed right,
not sure or wrong (``metrics.answer_class``); the guardrail pass rate of the answers (the product's own
output checks); latency p50/p95 (generation + output checks, plus retrieval where used; the whole request
as served); prompt and answer tokens; for the served ones, the grounding actions (kept, regenerated,
not_sure). The report also says which strategy the routing gives these questions (the default route), how
often retrieval finds each question's own entry (``retrieval``, where the test data names it), and the cost
side: training time, data needed, adapter size, time to change behaviour. ``--json`` prints
``{"strategies": {name: {...}}, ...}``; ``--out`` writes an HTML report with charts; ``--answers`` writes
every answer with its class as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from decorum.adapters.finetune.data import read_pairs
from decorum.adapters.finetune.metrics import (
    ANSWER_CLASSES,
    RIGHT_ABOVE,
    answer_class,
    key_fact_recall,
    rouge_l,
    token_f1,
)
from decorum.errors import UsageError

DOMAINS_DIR = Path(__file__).parent / "domains"
RAW = ("prompt_engineering", "prompt_engineering_retrieval", "fine_tuned", "fine_tuned_retrieval")
SERVED = ("prompt_engineering_grounded", "fine_tuned_grounded", "auto_grounded")
STRATEGIES = (*RAW, *SERVED)
GROUNDING_ACTIONS = ("kept", "regenerated", "not_sure")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, metavar="TEST.jsonl",
                   help="question/answer pairs to answer (default: the domain's shipped test split)")
    p.add_argument("--domain", default=None, help="the fine-tuned domain (default: the first one served)")
    p.add_argument("--knowledge", type=Path, help="the domain's knowledge file, JSONL {id, fact} (default: shipped)")
    p.add_argument("--template", help="the prompt-engineering template (default: the domain's own)")
    p.add_argument("--strategies", nargs="+", choices=[*STRATEGIES, "all"], default=list(RAW),
                   help="default: the four raw ones; all: the three as served too")
    p.add_argument("--facts", type=int, default=3, help="facts retrieved per question (default 3)")
    p.add_argument("--limit", type=int, default=None, help="answer only the first N questions")
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--json", action="store_true", help='print {"strategies": {...}} as one JSON object')
    p.add_argument("--out", type=Path, metavar="report.html", help="write the HTML report with charts here")
    p.add_argument("--register", action="store_true",
                   help="keep the report with the adapter version it measured (the console's Models page shows it)")
    p.add_argument("--answers", type=Path, metavar="answers.jsonl",
                   help="write every answer (question, strategy, text, key-fact recall, class) here as JSON lines")


@dataclass(slots=True)
class _Result:
    answers: list[str] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    rl: list[float] = field(default_factory=list)
    kf: list[float] = field(default_factory=list)
    passed: list[bool] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    grounding: list[str | None] = field(default_factory=list)  # served: the note's grounding action (None: none)
    latency_ms: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    answer_tokens: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        n = len(self.f1)
        lat = sorted(self.latency_ms)
        return {"questions": n, "token_f1": _mean(self.f1), "rouge_l": _mean(self.rl),
                "key_fact_recall": _mean(self.kf), "guardrail_pass_rate": _mean([float(p) for p in self.passed]),
                "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
                "latency_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
                "prompt_tokens_mean": _mean([float(t) for t in self.prompt_tokens], 1),
                "answer_tokens_mean": _mean([float(t) for t in self.answer_tokens], 1),
                **self.classed()}

    def classed(self) -> dict[str, Any]:
        n = len(self.classes)
        counts = Counter(self.classes)
        out: dict[str, Any] = {c: counts[c] for c in ANSWER_CLASSES}
        out.update({f"{c}_share": round(counts[c] / n, 4) if n else None for c in ANSWER_CLASSES})
        if self.grounding:
            actions = Counter(g or "none" for g in self.grounding)
            out["grounding_actions"] = {a: actions[a] for a in (*GROUNDING_ACTIONS, "none")}
        return out


def _mean(values: list[float], digits: int = 4) -> float | None:
    return round(sum(values) / len(values), digits) if values else None


def run(args: argparse.Namespace) -> int:
    from decorum.bot.runtime import Runtime

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if not 1 <= args.facts <= 20:
        raise UsageError("--facts must be between 1 and 20")
    if not 1 <= args.max_new_tokens <= 1024:
        raise UsageError("--max-new-tokens must be between 1 and 1024")
    strategies = list(STRATEGIES) if "all" in args.strategies else list(dict.fromkeys(args.strategies))
    rt = Runtime.open()
    report = compare(rt, data=args.data, domain=args.domain, knowledge=args.knowledge, template=args.template,
                     strategies=strategies, facts=args.facts, limit=args.limit,
                     max_new_tokens=args.max_new_tokens)
    if args.answers:
        with args.answers.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in report["answers"])
        print(f"answers written to {args.answers}", file=sys.stderr)
    report = {k: v for k, v in report.items() if k != "answers"}
    if args.register:
        adapter = report.get("adapter")
        if not adapter:
            raise UsageError("--register: this report measured no fine-tuned adapter version")
        from decorum.settings import local_actor

        rt.models.attach_compare(adapter["name"], int(adapter["version"]), report, actor=local_actor(None))
        print(f"report kept with {adapter['name']}@{adapter['version']}", file=sys.stderr)
    if args.out:
        args.out.write_text(html_report(report), encoding="utf-8")
        print(f"report written to {args.out}", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    else:
        print(text_report(report))
    return 0


def compare(rt: Any, *, data: Path | None, domain: str | None, knowledge: Path | None, template: str | None,
            strategies: list[str], facts: int, limit: int | None, max_new_tokens: int) -> dict[str, Any]:
    from decorum.adapters.base import GenerationRequest
    from decorum.adapters.embeddings import KnowledgeIndex, shared_embedder
    from decorum.progress import ProgressLine
    from decorum.prompts.base import NAME_RE
    from decorum.prompts.render import render_messages, template_variables

    if domain is not None and not NAME_RE.match(domain):
        raise UsageError(f"invalid domain {domain!r}")
    domains = rt.router.domains()
    needs_model = any(s.startswith("fine_tuned") for s in strategies)
    if domain is None:
        if not domains and needs_model:
            raise UsageError("no fine-tuned domain is served (decorum models list); train and promote one first")
        domain = next(iter(domains), "helpdesk")
    if needs_model and domain not in domains:
        raise UsageError(f"unknown domain {domain!r}; served: {', '.join(sorted(domains)) or 'none'}")
    dom = domains.get(domain)
    data = data or DOMAINS_DIR / domain / "test.jsonl"
    knowledge = knowledge or DOMAINS_DIR / domain / "facts.jsonl"
    if not data.exists():
        raise UsageError(f"no test data at {data}; give --data")
    pairs = read_pairs(data)[:limit] if limit else read_pairs(data)
    pe_tpl = rt.templates.get(*_ref(template or _prompt_template(rt, domain, dom)))
    ft_tpl = rt.templates.get(*_ref(dom.template)) if dom else None
    index = None
    reindex_s = None
    retrieval = [s for s in strategies if s.endswith("_retrieval")]
    if retrieval:
        if not knowledge.exists():
            raise UsageError(f"no knowledge file at {knowledge}; give --knowledge")
        used = [pe_tpl if s.startswith("prompt_engineering") else ft_tpl for s in retrieval]
        for tpl in {t.ref: t for t in used if t is not None}.values():
            if "facts" not in template_variables(tpl):
                raise UsageError(f"template {tpl.ref} does not use {{{{ facts }}}}, so retrieval would change "
                                 f"nothing; give --template, or drop {', '.join(retrieval)}")
        emb = shared_embedder()
        emb.encode(["warm-up"])  # the encoder's load is not part of a knowledge edit
        t = time.perf_counter()
        index = KnowledgeIndex.from_jsonl(knowledge, emb)
        reindex_s = time.perf_counter() - t
    gen = rt.generator
    gen.load()
    if dom is not None and needs_model:
        gen.prepare([dom.adapter])
    # Warm-up (untimed): the checks' model and each engine artifact answer once before anything is measured.
    rt.guardrails.run(["warm-up"], stage="output")
    for adapter in {dom.adapter if s.startswith("fine_tuned") and dom else None for s in strategies}:
        gen.generate([GenerationRequest(messages=[{"role": "user", "content": "Hi"}], max_new_tokens=2,
                                        adapter=adapter)])
    served = [s for s in strategies if s in SERVED]
    # As served, each strategy is pinned to the template the raw one uses: the served answer differs only by
    # what the request path adds (retrieval from the knowledge base, checks, grounding), not by the prompt.
    pinned = {"prompt_engineering_grounded": ("prompt_engineering", pe_tpl.ref),
              "fine_tuned_grounded": ("fine_tuned", ft_tpl.ref if ft_tpl else None),
              "auto_grounded": ("auto", None)}
    results = {s: _Result() for s in strategies}
    rows: list[dict[str, Any]] = []
    with _served_pipeline(rt, warm=pinned[served[0]] if served else None) as pipeline, \
            ProgressLine(f"comparing {len(strategies)} strategies on {len(pairs)} questions") as bar:
        for i, pair in enumerate(pairs):
            for name in strategies:
                r = results[name]
                if name in SERVED:
                    answer, ms = _served_answer(pipeline, pair.question, *pinned[name])
                    note = answer.note
                    output = (note.get("guardrails") or {}).get("output") or []
                    _score(r, pair, answer.text, ms, passed=answer.verdict == "answered"
                           and all(c.get("passed") for c in output),
                           tokens=(note["tokens"]["prompt"], note["tokens"]["completion"]))
                    r.grounding.append((note.get("grounding") or {}).get("action"))
                    rows.append(_row(i, pair, name, r, verdict=answer.verdict, grounding=r.grounding[-1],
                                     knowledge=[k["id"] for k in note.get("knowledge") or []],
                                     route=(note.get("route") or {}).get("strategy")))
                    continue
                t = time.perf_counter()
                variables = {"facts": index.facts_text(pair.question, facts)} if name.endswith("_retrieval") and index \
                    else {}
                tuned = name.startswith("fine_tuned")
                tpl = ft_tpl if tuned else pe_tpl
                assert tpl is not None
                msgs = render_messages(tpl, question=pair.question, variables=variables)
                [out] = gen.generate([GenerationRequest(messages=msgs, max_new_tokens=max_new_tokens,
                                                        adapter=dom.adapter if tuned and dom else None)])
                checks = rt.guardrails.run([out.text], stage="output")[0] if out.text else []
                _score(r, pair, out.text, (time.perf_counter() - t) * 1000,
                       passed=bool(out.text) and all(c.passed for c in checks),
                       tokens=(out.prompt_tokens, out.completion_tokens))
                rows.append(_row(i, pair, name, r))
            bar.update((i + 1) / len(pairs), f"{i + 1}/{len(pairs)} questions")
    summary = {name: r.summary() for name, r in results.items()}
    return {
        "domain": domain, "test": {"file": str(data), "questions": len(pairs)},
        "engine": gen.info.as_note(),
        "templates": {"prompt_engineering": pe_tpl.ref, "fine_tuned": ft_tpl.ref if ft_tpl else None},
        "adapter": ({"name": dom.adapter.name, "version": dom.adapter.version, "sha256": dom.adapter.sha256}
                    if dom else None),
        "strategies": summary,
        "classes": {"right": f"more than half of the key facts (key-fact recall > {RIGHT_ABOVE})",
                    "not_sure": "starts with \"I'm not sure\"", "wrong": "every other answer (refusals included)"},
        "served": _served_settings(rt) if served else None,
        "default_route": _default_route(rt, pairs, strategies),
        "retrieval": _retrieval(rt, domain, pairs) if served else None,
        "winner": _winner(summary),
        "costs": _costs(rt, dom, reindex_s, knowledge if index else None),
        "examples": [{"question": p.question, "reference": p.answer,
                      **{name: results[name].answers[i] for name in strategies}} for i, p in enumerate(pairs[:12])],
        "answers": rows,
    }


def _score(r: _Result, pair: Any, text: str, ms: float, *, passed: bool, tokens: tuple[int, int]) -> None:
    r.latency_ms.append(ms)
    r.answers.append(text)
    r.f1.append(token_f1(text, pair.answer))
    r.rl.append(rouge_l(text, pair.answer))
    r.kf.append(key_fact_recall(text, pair.answer, pair.key_facts))
    r.classes.append(answer_class(text, r.kf[-1]))
    r.passed.append(passed)
    r.prompt_tokens.append(tokens[0])
    r.answer_tokens.append(tokens[1])


def _row(i: int, pair: Any, name: str, r: _Result, **served: Any) -> dict[str, Any]:
    """One line of ``--answers``: the strategy's latest answer to question ``i``."""
    return {"question_index": i, "question": pair.question, "reference": pair.answer, "fact": pair.fact,
            "strategy": name, "answer": r.answers[-1], "token_f1": round(r.f1[-1], 4),
            "key_fact_recall": round(r.kf[-1], 4), "class": r.classes[-1], **served}


@contextmanager
def _served_pipeline(rt: Any, *, warm: tuple[str, str | None] | None) -> Iterator[Any]:
    """A request path like the runtime's (its checks, routing, templates, generator and knowledge) whose notes
    go to an audit log in a scratch database, dropped afterwards: comparing writes nothing to the users' log.
    None unless ``warm`` (a strategy and template) is given; it answers once, untimed, to load what a first
    answer loads."""
    if warm is None:
        yield None
        return
    from decorum.audit.log import SqlAuditLog
    from decorum.bot.pipeline import Pipeline
    from decorum.store import Database

    with tempfile.TemporaryDirectory(prefix="decorum-compare-") as tmp:
        db = Database.open(f"sqlite:///{tmp}/audit.db")
        pipeline = Pipeline(guardrails=rt.guardrails, router=rt.router, templates=rt.templates,
                            generator=rt.generator, audit=SqlAuditLog(db), pseudonymiser=rt.pseudonymiser,
                            limits=rt.config.limits)
        pipeline.knowledge_config = rt.config.knowledge
        if rt.config.knowledge.enabled:
            pipeline.knowledge = rt.knowledge_index
            rt.knowledge_index.refresh(force=True)  # embeds the published entries, untimed
        try:
            _served_answer(pipeline, "How do I reset my password?", *warm)
            yield pipeline
        finally:
            pipeline.close()
            db.dispose()


def _served_answer(pipeline: Any, question: str, strategy: str, template: str | None) -> tuple[Any, float]:
    """The answer a user of the CLI gets, and how long the whole request took (ms)."""
    from decorum.bot.pipeline import Request

    req = Request(text=question, surface="cli", strategy=strategy, template=template, command="compare")
    t = time.perf_counter()
    answer = asyncio.run(pipeline.answer(req, rate_checked=True))
    return answer, (time.perf_counter() - t) * 1000


def _served_settings(rt: Any) -> dict[str, Any]:
    k = rt.config.knowledge
    return {"knowledge": k.enabled, "grounding": k.grounding, "top_k": k.top_k, "min_score": k.min_score,
            "max_new_tokens": "the template's max_tokens, else the engine's "
                              f"({rt.config.models.generator.max_new_tokens})"}


def _default_route(rt: Any, pairs: list[Any], strategies: list[str]) -> dict[str, Any]:
    """Where routing sends these questions when the asker names no strategy (rules, then semantic, then the
    default), and the served strategy that measures it: ``auto_grounded`` when it ran, else the served one of
    the strategy most questions go to."""
    from decorum.bot.router import RouteContext

    routed = Counter(rt.router.route(RouteContext(question=p.question, surface="cli")).strategy for p in pairs)
    strategy = routed.most_common(1)[0][0] if routed else rt.config.routing.default_strategy
    as_served = "auto_grounded" if "auto_grounded" in strategies else f"{strategy}_grounded"
    return {"strategy": strategy, "routed": dict(routed), "as_served": as_served}


def _retrieval(rt: Any, domain: str, pairs: list[Any]) -> dict[str, Any] | None:
    """How often the served retrieval finds the question's own entry (the test data's ``fact``): first, among
    the first three, and among those it cites (``knowledge.top_k`` above ``knowledge.min_score``)."""
    cfg = rt.config.knowledge
    index = rt.knowledge_index
    gold = [p for p in pairs if p.fact]
    if not cfg.enabled or not gold or not index.entries(domain):
        return None
    top1 = top3 = cited = 0
    for p in gold:
        hits = index.search(p.question, domain, max(3, cfg.top_k))
        ids = [h.entry.id for h in hits]
        top1 += ids[:1] == [p.fact]
        top3 += p.fact in ids[:3]
        cited += p.fact in [h.entry.id for h in hits[:cfg.top_k] if h.score >= cfg.min_score]
    n = len(gold)
    return {"questions": n, "top_1": round(top1 / n, 4), "top_3": round(top3 / n, 4),
            "cited": round(cited / n, 4), "top_k": cfg.top_k, "min_score": cfg.min_score,
            "entries": len(index.entries(domain))}


def _ref(spec: str) -> tuple[str, int | None]:
    from decorum.prompts.base import TemplateRef

    r = TemplateRef.parse(spec)
    return r.name, r.version


def _prompt_template(rt: Any, domain: str, dom: Any) -> str:
    """The domain's prompt-engineering template: a template of that domain other than the adapter's own."""
    tuned = dom.template.split("@")[0] if dom else None
    for name in rt.templates.names():
        tpl = rt.templates.get(name)
        if tpl.domain == domain and name != tuned:
            return name
    return rt.config.routing.default_template


def _winner(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in ("token_f1", "rouge_l", "key_fact_recall", "guardrail_pass_rate"):
        scored = {k: v[metric] for k, v in summary.items() if v[metric] is not None}
        if scored:
            out[metric] = max(scored, key=lambda k: scored[k])
    lat = {k: v["latency_ms_p50"] for k, v in summary.items() if v["latency_ms_p50"] is not None}
    if lat:
        out["latency_ms_p50"] = min(lat, key=lambda k: lat[k])
    wrong = {k: v["wrong_share"] for k, v in summary.items() if v["wrong_share"] is not None}
    if wrong:
        out["fewest_wrong"] = min(wrong, key=lambda k: wrong[k])
    if "fine_tuned" in summary and "prompt_engineering" in summary:
        a, b = summary["fine_tuned"]["token_f1"], summary["prompt_engineering"]["token_f1"]
        if a is not None and b is not None:
            out["fine_tuned_minus_prompt_engineering_token_f1"] = round(a - b, 4)
    best = out.get("token_f1")
    if best:
        out["overall"] = best
        out["statement"] = (f"{best} answers best on this test split (token F1 {summary[best]['token_f1']}, "
                            f"key-fact recall {summary[best]['key_fact_recall']}).")
    return out


def _costs(rt: Any, dom: Any, reindex_s: float | None, knowledge: Path | None) -> dict[str, Any]:
    costs: dict[str, Any] = {"template_edit_ms": round(_template_edit_ms(), 1)}
    if reindex_s is not None and knowledge is not None:
        costs["knowledge_reindex_s"] = round(reindex_s, 3)
        costs["knowledge_facts"] = sum(1 for line in knowledge.read_text(encoding="utf-8").splitlines() if line.strip())
    if dom is not None and dom.version is not None:
        card = dom.version.card
        costs.update(training_seconds=card.get("training", {}).get("seconds"),
                     train_pairs=card.get("data", {}).get("train_pairs"),
                     adapter_bytes=card.get("adapter", {}).get("bytes"),
                     retrain_command=card.get("command"))
    costs["time_to_change"] = {
        "prompt_engineering": "a template edit: a new version and a label move, live on the next request "
                              f"({costs['template_edit_ms']} ms measured)",
        "prompt_engineering_retrieval": "a knowledge-file edit: re-embed the facts "
                                        f"({costs.get('knowledge_reindex_s', '?')} s measured), no training",
        "fine_tuned": f"a retrain on new pairs ({_minutes(costs.get('training_seconds'))} for this version), "
                      "then promote",
        "fine_tuned_retrieval": "facts at once via the knowledge file; style and phrasing via a retrain",
        "prompt_engineering_grounded": "a knowledge-base edit (decorum knowledge edit --publish), cited and checked "
                                       "against in every process within prompts.cache_check_s; no training",
        "fine_tuned_grounded": "facts at once via the knowledge base (checked, regenerated with, quoted); style and "
                               "phrasing via a retrain",
    }
    return costs


def _minutes(seconds: Any) -> str:
    return f"{seconds / 60:.1f} min" if isinstance(seconds, int | float) else "unknown"


def _template_edit_ms() -> float:
    """How long publishing a template edit takes: a new version and a label move, on a scratch database."""
    from decorum.prompts.base import Template
    from decorum.prompts.sql_store import SqlTemplateStore
    from decorum.store import Database

    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(f"sqlite:///{tmp}/scratch.db")
        try:
            store = SqlTemplateStore(db)
            t = time.perf_counter()
            v = store.add_version(Template(name="scratch", version=0, system="Be brief."), author="compare")
            store.set_label("scratch", v.version)
            return (time.perf_counter() - t) * 1000
        finally:
            db.dispose()


def text_report(report: dict[str, Any]) -> str:
    rows = [f"{'strategy':<30}{'token F1':>9}{'ROUGE-L':>9}{'key facts':>10}{'guard ok':>9}{'p50 ms':>8}"
            f"{'p95 ms':>8}{'prompt tok':>11}{'answer tok':>11}"]
    for name, s in report["strategies"].items():
        rows.append(f"{name:<30}{s['token_f1']:>9.3f}{s['rouge_l']:>9.3f}{s['key_fact_recall']:>10.3f}"
                    f"{s['guardrail_pass_rate']:>9.2f}{s['latency_ms_p50']:>8.0f}{s['latency_ms_p95']:>8.0f}"
                    f"{s['prompt_tokens_mean']:>11.0f}{s['answer_tokens_mean']:>11.0f}")
    rows.append("")
    rows.append(f"{'answers':<30}{'right':>12}{'not sure':>12}{'wrong':>12}   grounding kept/regenerated/not_sure")
    for name, s in report["strategies"].items():
        n = s["questions"] or 1
        cells = "".join(f"{s[c]:>5} ({s[c] / n:>4.0%})" for c in ("right", "not_sure", "wrong"))
        g = s.get("grounding_actions")
        rows.append(f"{name:<30}{cells}" + (f"   {g['kept']}/{g['regenerated']}/{g['not_sure']}" if g else ""))
    classes = report.get("classes") or {}
    if classes:
        rows.append("; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in classes.items()))
    route = report.get("default_route")
    if route:
        served = report["strategies"].get(route["as_served"])
        tail = (f"; as served ({route['as_served']}): wrong {served['wrong']}/{served['questions']} "
                f"({served['wrong_share']:.1%})" if served else "")
        routed = ", ".join(f"{k} {v}" for k, v in route["routed"].items())
        rows.append(f"default route: {route['strategy']} ({routed}){tail}")
    r = report.get("retrieval")
    if r:
        rows.append(f"retrieval of the question's own entry ({r['questions']} questions, {r['entries']} entries): "
                    f"top-1 {r['top_1']:.1%}, top-3 {r['top_3']:.1%}, cited (top {r['top_k']}, score >= "
                    f"{r['min_score']}) {r['cited']:.1%}")
    w = report["winner"]
    if "statement" in w:
        rows.append(w["statement"])
    if "fine_tuned_minus_prompt_engineering_token_f1" in w:
        delta = w["fine_tuned_minus_prompt_engineering_token_f1"]
        rows.append(f"fine_tuned - prompt_engineering token F1: {delta:+.3f}")
    for name, text in report["costs"]["time_to_change"].items():
        rows.append(f"time to change ({name}): {text}")
    return "\n".join(rows)


def _num(value: Any, digits: int = 3) -> str:
    """A figure as a person reads it: ``0.412``, ``1,234``, ``-`` for none (never ``None`` or 17 digits)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"
    return str(value)


_COST_LABELS = {"template_edit_ms": ("template edit", "ms"), "knowledge_reindex_s": ("knowledge re-index", "s"),
                "knowledge_facts": ("knowledge facts", ""), "training_seconds": ("training time", "s"),
                "train_pairs": ("training pairs", ""), "adapter_bytes": ("adapter size", "bytes"),
                "retrain_command": ("retrain command", "")}


def _settings_text(value: Any) -> str:
    """A small settings object as ``key value · key value`` (the report never prints a Python dict)."""
    if isinstance(value, dict):
        return " · ".join(f"{k.replace('_', ' ')} {_settings_text(v)}" for k, v in value.items() if v is not None)
    return _num(value)


def html_report(report: dict[str, Any]) -> str:
    from decorum.charts import bar_chart, stacked_bar_chart

    strategies = report["strategies"]
    charts = [bar_chart({k: v[m] or 0.0 for k, v in strategies.items()}, title=title, y_label=label, y_max=1.0)
              for m, title, label in (("token_f1", "Token F1", "token F1 (0-1)"),
                                      ("rouge_l", "ROUGE-L", "ROUGE-L (0-1)"),
                                      ("key_fact_recall", "Key-fact recall", "share of key facts"),
                                      ("guardrail_pass_rate", "Guardrail pass rate", "share passed"))]
    charts.append(bar_chart({k: v["latency_ms_p50"] or 0.0 for k, v in strategies.items()},
                            title="Latency p50 (generation + checks)", y_label="milliseconds"))
    charts.append(stacked_bar_chart(list(strategies), {c.replace("_", " "): [v[f"{c}_share"] or 0.0 for v in
                                                                             strategies.values()]
                                                       for c in ANSWER_CLASSES},
                                    title="Answers: right, not sure, wrong (share)", y_label="share of answers",
                                    y_max=1.0, colors={"right": "#15803d", "not sure": "#a16207", "wrong": "#b91c1c"}))
    head = "".join(f"<th scope=\"col\">{escape(h)}</th>" for h in (
        "strategy", "token F1", "ROUGE-L", "key-fact recall", "guardrail pass", "p50 ms", "p95 ms", "prompt tokens",
        "answer tokens", "right", "not sure", "wrong", "grounding kept / regenerated / not sure"))

    def shares(v: dict[str, Any], c: str) -> str:
        share = v.get(f"{c}_share")
        return f"{v[c]:,} ({share:.0%})" if share is not None else f"{v[c]:,}"

    body = "".join(
        f"<tr><th scope=\"row\">{escape(k)}</th>"
        + "".join(f'<td class="num">{_num(v[m])}</td>' for m in ("token_f1", "rouge_l", "key_fact_recall"))
        + f'<td class="num">{_num(v["guardrail_pass_rate"], 2)}</td>'
        + "".join(f'<td class="num">{_num(v[m], 0)}</td>' for m in ("latency_ms_p50", "latency_ms_p95",
                                                                   "prompt_tokens_mean", "answer_tokens_mean"))
        + "".join(f'<td class="num">{shares(v, c)}</td>' for c in ANSWER_CLASSES)
        + "<td>" + escape(" / ".join(str(v["grounding_actions"][a]) for a in GROUNDING_ACTIONS)
                          if v.get("grounding_actions") else "") + "</td></tr>"
        for k, v in strategies.items())
    costs = report["costs"]

    def cost(k: str, v: Any) -> str:
        label, unit = _COST_LABELS.get(k, (k.replace("_", " "), ""))
        shown = f"{v / 1e6:.2f} MB" if unit == "bytes" and isinstance(v, int | float) else \
            (f"{_num(v, 1)} {unit}".strip() if isinstance(v, int | float) else _num(v))
        return f"<tr><th scope=\"row\">{escape(label)}</th><td>{escape(shown)}</td></tr>"

    cost_rows = "".join(cost(k, v) for k, v in costs.items() if k != "time_to_change")
    change_rows = "".join(f"<tr><th scope=\"row\">{escape(k)}</th><td>{escape(v)}</td></tr>"
                          for k, v in costs["time_to_change"].items())
    names = list(strategies)
    examples = "".join(
        "<tr><td>" + escape(e["question"]) + "</td><td>" + escape(e["reference"]) + "</td>"
        + "".join(f"<td>{escape(e[n])}</td>" for n in names) + "</tr>" for e in report["examples"])
    statement = escape(report["winner"].get("statement", ""))
    facts = []
    classes = report.get("classes") or {}
    if classes:
        facts.append("Classes: " + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in classes.items()) + ".")
    route = report.get("default_route")
    if route:
        facts.append(f"Default route: {route['strategy']} ({', '.join(f'{k} {v}' for k, v in route['routed'].items())}"
                     f" of these questions), as served: {route['as_served']}.")
    r = report.get("retrieval")
    if r:
        facts.append(f"Retrieval finds the question's own entry first in {r['top_1']:.1%}, among the first three in "
                     f"{r['top_3']:.1%}, among those cited in {r['cited']:.1%} ({r['questions']} questions, "
                     f"{r['entries']} entries).")
    served = report.get("served")
    if served:
        facts.append(f"As served: {_settings_text(served)}.")
    notes = "".join(f"<p>{escape(f)}</p>" for f in facts)
    engine = report["engine"]
    templates = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in (report["templates"] or {}).items() if v) or "-"
    adapter = report.get("adapter")
    adapter_text = (f"{adapter['name']}@{adapter['version']} (sha256 {str(adapter.get('sha256', ''))[:12]}…)"
                    if adapter else "none")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Decorum: fine-tuning vs prompt engineering ({escape(report['domain'])})</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1f2328;
line-height:1.45}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #d0d7de;padding:4px 8px;font-size:13px;
vertical-align:top;text-align:left}}th{{background:#f6f8fa}}td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.charts{{display:flex;flex-wrap:wrap;gap:8px}}.charts svg{{width:520px;height:auto}}</style></head><body>
<h1>Fine-tuning vs prompt engineering: {escape(report['domain'])}</h1>
<p><strong>{statement}</strong></p>
<p>{report['test']['questions']:,} questions from <code>{escape(report['test']['file'])}</code>; engine
{escape(str(engine.get('engine') or '-'))} {escape(str(engine.get('precision') or ''))}; templates:
{escape(templates)}; adapter {escape(adapter_text)}.</p>
<table><tr>{head}</tr>{body}</table>
{notes}
<div class="charts">{''.join(charts)}</div>
<h2>Cost</h2><table>{cost_rows}</table>
<h2>Time to change behaviour</h2><table>{change_rows}</table>
<h2>Examples</h2><table><tr><th>question</th><th>reference</th>{''.join(f'<th>{escape(n)}</th>' for n in names)}</tr>
{examples}</table></body></html>
"""

