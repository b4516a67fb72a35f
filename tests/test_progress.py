"""The progress line long jobs print (the ONNX build's among them)."""

from __future__ import annotations

import io

from decorum.adapters.onnx_build import _advance
from decorum.progress import ProgressLine


def test_a_log_gets_throttled_lines_with_eta_and_a_final_done() -> None:
    out = io.StringIO()  # not a terminal: whole lines, at most one per every_s
    with ProgressLine("building", stream=out, every_s=0) as bar:
        bar.update(0.5, "half way")
        bar.update(0.25, "going back is ignored")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("building   0% [") and "ETA" not in lines[0]
    assert " 50% [############............] half way" in lines[1] and ", ETA " in lines[1]
    assert "50%" in lines[2] and "going back is ignored" in lines[2]
    assert lines[-1].startswith("building 100% [########################] done")


def test_a_failed_job_does_not_claim_to_be_done() -> None:
    out = io.StringIO()
    try:
        with ProgressLine("building", stream=out, every_s=0) as bar:
            bar.update(0.3, "reading")
            raise RuntimeError("builder crashed")
    except RuntimeError:
        pass
    assert "done" not in out.getvalue() and out.getvalue().splitlines()[-1].startswith("building  30%")


def test_the_builders_output_moves_the_bar_through_its_phases() -> None:
    out = io.StringIO()
    bar = ProgressLine("b", stream=out, every_s=0)
    seen = []
    for line in ["Reading embedding layer", "Reading layer 14",
                 "... [INFO] - start to quantize /model/layers.29/mlp/down_proj/MatMul ...",
                 "Saving lm_head.MatMul.weight_Q8 (u8, [49152,18,32]): 100%|#########9| 365/366 [00:01<00:00]"]:
        _advance(bar, line, layers=30, offset=0.0, read_end=0.3, quant_end=0.7)
        seen.append((round(bar.fraction, 2), bar.detail))
    assert seen == [(0.0, ""), (0.15, "reading layer 15/30"), (0.7, "quantising layer 30/30"),
                    (1.0, "saving tensors 365/366")]
