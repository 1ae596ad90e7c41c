"""After a study: the best trial as a runnable config, a trials table and Optuna's plots.

For ``dln`` the best trial becomes ``best.yaml``, a ``lightning-dln fit`` config with the
structure of ``configs/etth1.yaml`` (seed, deterministic trainer with the trial's budget,
``ModelCheckpoint`` on ``val_mse``, CSV logger, model, data, ``artifacts_dir``); ``lightning-dln
fit --config best.yaml`` replays the trial and then tests the best epoch. Other models get
``best_params.yaml`` (model, class, constructor arguments). Plots are written with
``optuna.visualization.matplotlib`` as PNG files (no plotly needed).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import yaml

from ._deps import optuna
from .config import TuneConfig

log = logging.getLogger(__name__)
PLOTS = {"history": "plot_optimization_history", "importances": "plot_param_importances",
         "parallel_coordinate": "plot_parallel_coordinate"}


def fit_config(cfg: TuneConfig, params: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Build the ``lightning-dln fit`` config of ``params`` (a ``dln`` trial) as a dict."""
    from .lightning_objective import split_params

    net, module, data = split_params({**cfg.space.fixed, **params})
    out = Path(out_dir)
    trainer = {"deterministic": True, "num_sanity_val_steps": 0, **cfg.trainer}
    trainer["callbacks"] = [{
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"monitor": "val_mse", "mode": "min", "save_top_k": 1,
                      "filename": "best-{epoch}-{val_mse:.4f}"}}]
    if cfg.patience is not None:  # the trial stopped early the same way
        trainer["callbacks"].append({
            "class_path": "lightning.pytorch.callbacks.EarlyStopping",
            "init_args": {"monitor": "val_mse", "mode": "min", "patience": cfg.patience}})
    trainer["logger"] = {"class_path": "lightning.pytorch.loggers.CSVLogger",
                         "init_args": {"save_dir": str(out), "name": "logs"}}
    data_section = {k: v for k, v in cfg.data.items() if v is not None}
    return {"seed_everything": cfg.seed, "trainer": trainer, "model": {"net": net, **module},
            "data": {**data_section, **data}, "artifacts_dir": str(out)}


def _check_study(study: object) -> None:
    if not isinstance(study, optuna.Study):
        raise ValueError(f"study must be an optuna.Study, got {type(study).__name__}")


def export_best(study: optuna.Study, cfg: TuneConfig, out_dir: str | Path | None = None) -> Path:
    """Write the best trial's config (and ``trials.csv``) to ``out_dir`` (default output_dir).

    Returns:
        The path of ``best.yaml`` (``dln``) or ``best_params.yaml`` (other models).

    Raises:
        ValueError: the study has no complete trial yet.

    """
    _check_study(study)
    if not isinstance(cfg, TuneConfig):
        raise ValueError(f"cfg must be a TuneConfig, got {type(cfg).__name__}")
    out = Path(out_dir or cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name!r} has no complete trial to export")
    best = study.best_trial
    header = (f"# Best trial {best.number} of study {study.study_name!r} ({cfg.model}): "
              f"val_mse={best.value:.6g}\n# from {cfg.storage_url}\n")
    try:
        study.trials_dataframe().to_csv(out / "trials.csv", index=False)
    except Exception as err:  # pandas is there; a storage glitch must not lose best.yaml
        log.warning("no trials.csv: %s", err)
    if cfg.spec.kind == "lightning":
        path = out / "best.yaml"
        body = fit_config(cfg, best.params, out / "best")
        header += "# Run: lightning-dln fit --config " + str(path) + "\n"
    else:
        path = out / "best_params.yaml"
        body = {"model": cfg.model, "class": cfg.spec.target, "val_mse": best.value,
                "params": {**cfg.space.fixed, **best.params}, "data": cfg.data,
                "trainer": cfg.trainer, "patience": cfg.patience, "seed": cfg.seed}
    path.write_text(header + yaml.safe_dump(body, sort_keys=False))
    return path


def write_plots(study: optuna.Study, out_dir: str | Path) -> list[Path]:
    """History, parameter importances and parallel coordinates as PNG files.

    A plot that cannot be drawn (too few complete trials, matplotlib missing) is skipped with
    a warning; the others are still written.

    Returns:
        The written files.

    """
    _check_study(study)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as ovm
    except ImportError as err:
        log.warning("no plots (matplotlib missing: %s)", err)
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, function in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ExperimentalWarning of the matplotlib backend
                ax = getattr(ovm, function)(study)
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).get_figure()
            fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
            written.append(out / f"{name}.png")
        except Exception as err:  # e.g. importances need two complete trials
            log.warning("plot %s skipped: %s", name, err)
    return written
