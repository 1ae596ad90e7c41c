"""The ``lightning-dln`` command: LightningCLI over :class:`DLNForecaster` and the LTSF data.

``lightning-dln fit|validate|test|predict --config configs/etth1.yaml``. Window sizes are linked
once from the data module to the model. With ``--artifacts_dir DIR``, ``fit`` then tests the best
checkpoint on every test window and writes to ``DIR``: ``metrics.json``, ``model.ckpt``, the
collapsed end-to-end map ``collapsed.pt`` and a forecast plot ``forecast.png``.
"""

from __future__ import annotations

import importlib
import json
import logging
import shutil
import sys
from pathlib import Path

import torch
from lightning.pytorch.cli import LightningCLI

from lightning_dln.data import LTSFDataModule
from lightning_dln.module import DLNForecaster

log = logging.getLogger(__name__)


class DLNCLI(LightningCLI):
    """LightningCLI with linked window sizes and an artifact export after ``fit``."""

    def add_arguments_to_parser(self, parser) -> None:  # noqa: D102
        parser.link_arguments("data.lookback", "model.lookback")
        parser.link_arguments("data.horizon", "model.horizon")
        parser.link_arguments("data.n_channels", "model.n_channels", apply_on="instantiate")
        parser.add_argument(
            "--artifacts_dir", type=str | None, default=None,
            help="After fit: test the best checkpoint and write metrics, checkpoint, collapsed "
                 "weights and a forecast plot here.")

    def after_fit(self) -> None:
        """Test the best checkpoint on every test window and export the artifacts."""
        out = self.config[self.config.subcommand].get("artifacts_dir")
        if not out or self.trainer.fast_dev_run:
            return
        ckpt = self.trainer.checkpoint_callback
        best = ckpt.best_model_path if ckpt is not None and ckpt.best_model_path else None
        results = self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best)
        if not self.trainer.is_global_zero:
            return
        export_artifacts(self.model, self.datamodule, Path(out), results[0], best)


def export_artifacts(model: DLNForecaster, datamodule: LTSFDataModule, out: Path,
                     metrics: dict[str, float], ckpt_path: str | None) -> None:
    """Write ``metrics.json``, ``model.ckpt``, ``collapsed.pt`` and ``forecast.png`` to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    metrics = {k: float(v) for k, v in metrics.items()}
    summary = {"metrics": metrics, "checkpoint": ckpt_path, "hparams": dict(model.hparams)}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, default=str))
    if ckpt_path:
        shutil.copyfile(ckpt_path, out / "model.ckpt")
    model = model.cpu().eval()
    if model.model.is_linear:
        collapsed = model.collapse(torch.float64)
        weight, bias = collapsed.weight.detach(), collapsed.bias.detach()
        torch.save({"weight": weight.float(), "bias": bias.float(),
                    "state_dict": collapsed.float().state_dict(),
                    "lookback": model.hparams.lookback, "horizon": model.hparams.horizon,
                    "channels": datamodule.channel_names, "net": model.hparams.net},
                   out / "collapsed.pt")
    try:
        from lightning_dln.plots import plot_forecast
    except ImportError as err:  # matplotlib is an optional extra
        log.warning("no forecast plot: %s", err)
    else:
        test = datamodule.test_dataloader().dataset
        x, y = test[len(test) - 1]
        with torch.no_grad():
            pred = model(x.unsqueeze(0))[0]
        channel = len(datamodule.channel_names) - 1
        fig = plot_forecast(x, y, pred, channel=channel, quantiles=model.quantiles,
                            title=f"{datamodule.hparams.dataset}: last test window, "
                                  f"{datamodule.channel_names[channel]} (scaled)")
        fig.savefig(out / "forecast.png", dpi=120, bbox_inches="tight")
    print(f"test_mse={metrics.get('test_mse', float('nan')):.4f} "
          f"test_mae={metrics.get('test_mae', float('nan')):.4f}  artifacts in {out}")


# Commands beside LightningCLI's own, as "module:function" taking the remaining argv. Resolved
# only when called, so the core never imports an integration (or its optional library) itself.
PLUGIN_COMMANDS = {
    "explain": "lightning_dln.explain:main",
    "tune": "lightning_dln.integrations.optuna.cli:main",
}


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``lightning-dln`` console script."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv and argv[0] in PLUGIN_COMMANDS:
        module, _, function = PLUGIN_COMMANDS[argv[0]].partition(":")
        try:
            command = getattr(importlib.import_module(module), function)
        except ImportError as err:
            raise SystemExit(f"lightning-dln {argv[0]} is unavailable: {err}") from err
        return command(argv[1:])
    DLNCLI(DLNForecaster, LTSFDataModule, args=argv, save_config_kwargs={"overwrite": True})


if __name__ == "__main__":
    main()
