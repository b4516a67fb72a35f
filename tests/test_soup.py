"""`decorum guardrails soup`: the stacked adapter equals the weighted average of the ingredients' updates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from decorum.errors import UsageError
from decorum.guardrails.classifier import DEFAULT_ARTIFACT, MANIFEST_FILE
from decorum.guardrails.training.soup import mix_adapters


def _adapter(seed: int, r: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "lora.bert.encoder.layer.0.attention.self.query.A": torch.randn(r, 8, generator=g),
        "lora.bert.encoder.layer.0.attention.self.query.B": torch.randn(8, r, generator=g),
        "full.classifier.weight": torch.randn(3, 8, generator=g),
        "full.classifier.bias": torch.randn(3, generator=g),
    }


def test_stacked_factors_give_the_weighted_mean_update() -> None:
    a, b = _adapter(1), _adapter(2)
    mixed = mix_adapters([a, b], [0.75, 0.25])
    key = "lora.bert.encoder.layer.0.attention.self.query"
    delta = mixed[f"{key}.B"] @ mixed[f"{key}.A"]
    expected = 0.75 * (a[f"{key}.B"] @ a[f"{key}.A"]) + 0.25 * (b[f"{key}.B"] @ b[f"{key}.A"])
    assert torch.allclose(delta, expected, atol=1e-5)
    assert mixed[f"{key}.A"].shape == (8, 8)  # rank 4 + 4
    assert torch.allclose(mixed["full.classifier.weight"],
                          0.75 * a["full.classifier.weight"] + 0.25 * b["full.classifier.weight"])


def test_adapters_with_different_tensors_are_refused() -> None:
    a, b = _adapter(1), _adapter(2)
    del b["full.classifier.bias"]
    with pytest.raises(UsageError, match="different tensors"):
        mix_adapters([a, b], [0.5, 0.5])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "two or more"),
        (["--from", "{same}", "--weights", "1"], "one positive --weights"),
        (["--from", "{same}", "--weights", "1", "0"], "one positive --weights"),
        (["--from", "{smoke}", "--weights", "1", "1"], "smoke"),
        (["--from", "{rank8}", "--weights", "1", "1"], "LoRA r"),
    ],
)
def test_bad_soups_are_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    from decorum.cli import main

    def variant(name: str, change) -> Path:
        folder = tmp_path / name
        shutil.copytree(DEFAULT_ARTIFACT, folder)
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        change(manifest)
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
        return folder

    paths = {
        "same": str(DEFAULT_ARTIFACT),
        "smoke": str(variant("smoke", lambda m: m["training"].update(smoke=True))),
        "rank8": str(variant("rank8", lambda m: m["lora"].update(r=8))),
    }
    args = [a.format(**paths) for a in extra]
    weights = [] if "--weights" in args else ["--weights", "1"]
    rc = main(["guardrails", "soup", "--from", str(DEFAULT_ARTIFACT), *args, *weights, "--out", str(tmp_path / "out")])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
