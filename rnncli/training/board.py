"""TensorBoard scalars of a run (`training.tensorboard: true`), in RUN/tensorboard/.

The same numbers the progress display and metrics.jsonl show: training loss, learning
rate and gradient norm (averaged over each logging window), throughput, and every
evaluation metric, against the step. torch's SummaryWriter needs the `tensorboard`
package, an optional extra. A resumed run purges events written after the checkpoint it
resumes from, as metrics.jsonl is truncated, so the curves never show a step twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnncli.errors import UsageError

SKIP = {"step", "epoch", "seconds", "lr"}
NEEDS = (
    "training.tensorboard needs the optional package tensorboard: pip install 'rnncli[tensorboard]'"
)


def check_available() -> None:
    """Refuse at once (before data preparation) when the package is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise UsageError(NEEDS) from None


class Board:
    def __init__(self, directory: Path, resume_step: int = 0) -> None:
        check_available()
        from torch.utils.tensorboard import SummaryWriter

        # events after the step we resume from (written before a kill) are dropped
        purge = resume_step + 1 if resume_step else None
        self.writer: Any = SummaryWriter(str(directory), purge_step=purge)

    def train(
        self, step: int, loss: float, lr: float, grad_norm: float, rate: float, unit: str
    ) -> None:
        w = self.writer
        w.add_scalar("train/loss", loss, step)
        w.add_scalar("train/lr", lr, step)
        w.add_scalar("train/grad_norm", grad_norm, step)
        w.add_scalar(f"train/{unit}_per_second", rate, step)

    def evaluation(self, step: int, metrics: dict[str, Any]) -> None:
        """valid_accuracy -> valid/accuracy...; train_loss (the mean since the last
        evaluation) -> train/loss_since_eval; step, epoch, seconds and lr are not repeated."""
        for key, value in metrics.items():
            if key in SKIP or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            split, _, name = key.partition("_")
            if key == "train_loss":
                tag = "train/loss_since_eval"
            elif name and split in ("valid", "test"):
                tag = f"{split}/{name}"
            else:
                tag = f"eval/{key}"
            self.writer.add_scalar(tag, float(value), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
