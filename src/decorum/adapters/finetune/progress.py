"""A transformers ``TrainerCallback`` that draws ``decorum.progress.ProgressLine`` (with ETA) for a training run."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from decorum.progress import ProgressLine


class ProgressCallback(TrainerCallback):  # type: ignore[misc]
    """``fine-tuning  42% [#####...] epoch 3/20, step 120/860, eval loss 1.23 · 2m elapsed, ETA 3m``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: ProgressLine | None = None
        self.eval_loss: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar = ProgressLine(self.label).__enter__()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is None or not state.max_steps:
            return
        loss = f", eval loss {self.eval_loss:.3f}" if self.eval_loss is not None else ""
        self.bar.update(state.global_step / state.max_steps,
                        f"epoch {int(state.epoch or 0) + 1}/{int(args.num_train_epochs)}, "
                        f"step {state.global_step}/{state.max_steps}{loss}")

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None,
                    **kwargs: Any) -> None:
        if metrics and "eval_loss" in metrics:
            self.eval_loss = metrics["eval_loss"]

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            stopped = state.global_step < state.max_steps
            self.bar.detail = (f"stopped early at epoch {state.epoch:.0f} (eval loss rose)" if stopped
                               else f"{state.global_step} steps")
            self.bar.fraction = 1.0
            self.bar.render(force=True, final=True)
            self.bar = None
