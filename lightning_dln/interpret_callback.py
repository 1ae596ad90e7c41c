"""``InterpretationFigures``: log the lag x horizon map, frequency response and spectrum.

Works with ``lightning.pytorch`` and ``pytorch_lightning`` Trainers (callbacks are duck-typed),
on a :class:`~lightning_dln.module.DLNForecaster` or the darts ``DeepLinearModel``'s module.
Figures go to every logger of the trainer: TensorBoard through ``experiment.add_figure``;
any logger with a ``log_dir`` (``CSVLogger``) as PNG files
``<log_dir>/images/<name>_epoch=<e>.png``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class InterpretationFigures(Callback):
    """Log interpretation figures of a deep linear forecaster every ``every_n_epochs`` epochs.

    Args:
        every_n_epochs: log after every this many training epochs (``>= 1``).
        freq: pandas frequency of the data for the axes; ``None``: the trainer's data module's
            ``freq`` when it has one, else steps.
        periods: seasonal periods (time units) to mark on the frequency response.
        group: temporal map of a per-channel model to draw (channel index).
        tag: prefix of the figure names.

    """

    def __init__(self, every_n_epochs: int = 1, freq: str | None = None,
                 periods: Sequence[float] = (), group: int = 0,
                 tag: str = "interpret") -> None:
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or \
                every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be an integer >= 1, got {every_n_epochs!r}")
        self.every_n_epochs, self.freq, self.periods = every_n_epochs, freq, tuple(periods)
        self.group, self.tag = group, tag

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Fail before training when the model has no exact linear map (nonlinear control)."""
        from lightning_dln.interpret import unwrap

        core = unwrap(pl_module)
        if not getattr(core, "is_linear", True):
            raise ValueError(f"InterpretationFigures needs a deep linear model; "
                             f"activation={core.config.activation!r} has no single linear map")

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Draw and log the figures when the epoch count is a multiple of ``every_n_epochs``."""
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs or not trainer.is_global_zero:
            return
        from lightning_dln.interpret_plots import _pyplot, interpretation_figures

        freq = self.freq
        if freq is None:
            freq = getattr(getattr(trainer, "datamodule", None), "freq", None)
        figures = interpretation_figures(pl_module, freq, self.periods, self.group)
        try:
            for name, fig in figures.items():
                for logger in trainer.loggers:
                    log_figure(logger, f"{self.tag}/{name}", fig, epoch, trainer.global_step)
        finally:
            plt = _pyplot()
            for fig in figures.values():
                plt.close(fig)


def log_figure(logger: Any, tag: str, fig: Any, epoch: int, step: int) -> Path | None:
    """Send one figure to one logger; return the PNG path when it was written as a file.

    TensorBoard-like loggers (``experiment.add_figure``) get the figure at ``step``; loggers
    with a ``log_dir`` get ``<log_dir>/images/<tag>_epoch=<epoch>.png``; others are skipped.
    """
    experiment = getattr(logger, "experiment", None)
    if callable(getattr(experiment, "add_figure", None)):
        experiment.add_figure(tag, fig, global_step=step, close=False)
        return None
    log_dir = getattr(logger, "log_dir", None)
    if not log_dir:
        log.warning("InterpretationFigures: %s has neither add_figure nor log_dir; skipped",
                    type(logger).__name__)
        return None
    path = Path(log_dir) / "images" / f"{tag.replace('/', '_')}_epoch={epoch}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
