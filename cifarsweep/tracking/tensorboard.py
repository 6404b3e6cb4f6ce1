"""Optional TensorBoard event files, as the original notebook wrote them."""

from __future__ import annotations

from pathlib import Path

from cifarsweep.errors import UserError
from cifarsweep.metrics import metric
from cifarsweep.trainer.results import EpochReport


class TensorBoardWriter:
    """Writes each epoch's metrics as scalars under ``log_dir``."""

    def __init__(self, log_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                "tensorboard: true needs the tensorboard package (pip install 'cifarsweep[tensorboard]')"
            ) from None
        self.log_dir = Path(log_dir)
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def __call__(self, report: EpochReport) -> None:
        for name, value in report.metrics().items():
            self._writer.add_scalar(f"{metric(name).group}/{name}", value, report.epoch)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
