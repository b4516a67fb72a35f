"""The default engine against the reference: greedy answers to 20 fixed prompts, first 32 tokens.

At fp32, onnxruntime-genai must give the same tokens as transformers fp32 for at least 16 of the 20
prompts; int8 (the default precision) and int4 are reported, since quantised weights change some greedy
choices. Measured on the development VM: fp32 20/20, int8 9/20 (common prefix 22 tokens on average),
int4 0/20 (5 tokens); the table is printed on every run. Both engines run with their default settings against
repetition (``Decoding``: repetition_penalty 1.1, no_repeat_ngram_size 4, which both libraries implement
alike); with them, 2026-12-07: fp32 20/20, int8 10/20 (22.4), int4 0/20 (2.9).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from decorum.adapters.base import DEFAULT_DECODING, GenerationRequest
from decorum.adapters.onnx_generator import OnnxGenerator
from tests.conftest import MODEL_CACHE

pytestmark = pytest.mark.models

PROMPTS = json.loads((Path(__file__).parent / "data" / "engine_prompts.json").read_text())
TOKENS = 32


def answers(generator, prompts: list[str]) -> list[tuple[int, ...]]:
    return [generator.generate([GenerationRequest(messages=[{"role": "user", "content": p}],
                                                  max_new_tokens=TOKENS)])[0].token_ids for p in prompts]


def common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def test_default_engine_agrees_with_the_reference_at_fp32_and_reports_quantised(smollm, onnx_smollm,
                                                                             capsys) -> None:
    assert len(PROMPTS) == 20
    assert smollm.decoding == onnx_smollm.decoding == DEFAULT_DECODING  # the penalties on, the same in both
    reference = answers(smollm, PROMPTS)
    assert all(reference), "the reference produced an empty answer"
    rows = {}
    for precision in ("fp32", "int8", "int4"):
        engine = onnx_smollm if precision == onnx_smollm.precision else OnnxGenerator(
            MODEL_CACHE, precision=precision, show_progress=False)
        got = answers(engine, PROMPTS)
        prefixes = [common_prefix(r, g) for r, g in zip(reference, got, strict=True)]
        agree = sum(r == g for r, g in zip(reference, got, strict=True))
        rows[precision] = (agree, statistics.mean(prefixes))
    with capsys.disabled():
        print(f"\nagreement with transformers fp32 on the first {TOKENS} greedy tokens of {len(PROMPTS)} prompts:")
        for precision, (agree, prefix) in rows.items():
            print(f"  onnx {precision:<5} {agree:>2}/{len(PROMPTS)} identical, mean common prefix {prefix:.1f} tokens")
    assert rows["fp32"][0] >= 16
    assert rows["int8"][1] >= 10, "int8 answers diverge from the first tokens: the quantised build is broken"
