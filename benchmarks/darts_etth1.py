"""DeepLinearModel (darts) on ETTh1, L = 336, H = 96, every test window, against the core and darts.

1. DeepLinearModel with the core's default config, read from ``--config``
   (``configs/etth1.yaml``: net, lr, scheduler, max epochs, seed; batch 32, early stopping on the
   validation loss with patience 3, best epoch restored) vs the core LightningModule
   (``DLNForecaster`` + ``LTSFDataModule``) trained in the same script with that same config.
2. darts' NLinearModel and DLinearModel (LTSF-Linear's ETTh1 setting: weights shared across
   channels, Adam 5e-3 and the config's scheduler, same epochs and early stopping).
3. Coverage of the 10-90% interval of DeepLinearModel with QuantileRegression([0.1, 0.5, 0.9])
   (constant Adam lr ``--quantile-lr``: the quantile offsets are biases that a halving schedule
   freezes before they open up).
4. Wall time of ``historical_forecasts`` over the whole test split: DeepLinearModel at depth 100
   predicting through its collapsed map vs NLinearModel (and the deep depth-100 forward).

Data: the LTSF splits and train-only scaler of ``LTSFDataModule``; darts series are the scaled
rows ``[0, 8640)`` (train), ``[8640 - L, 11520)`` (val) and ``[0, 14400)`` for
``historical_forecasts(start=11520, forecast_horizon=96, stride=1, retrain=False)``, i.e. all
2785 test windows. Metrics are MSE / MAE over every window, step and channel on the scaled data.

Usage: ``python benchmarks/darts_etth1.py [--quick] [--epochs N] [--config YAML] [--out DIR]``.
Writes ``darts_etth1.csv`` and ``darts_etth1.md`` to ``--out`` (``--quick``: ``*_quick.*``).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import lightning.pytorch as lpl
import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
import yaml
from darts import TimeSeries
from darts.models import DLinearModel, NLinearModel
from darts.utils.likelihood_models import QuantileRegression

from lightning_dln.data import LTSFDataModule, load_dataset
from lightning_dln.integrations.darts import DeepLinearModel
from lightning_dln.models import DLNConfig
from lightning_dln.module import SCHEDULERS, DLNForecaster

L, H, BATCH, PATIENCE = 336, 96, 32, 3


def core_config(path: str) -> dict:
    """Net, optimiser and schedule of the core's default config (a LightningCLI YAML)."""
    cfg = yaml.safe_load(Path(path).read_text())
    model = cfg.get("model", {})
    scheduler = model.get("scheduler")
    return {"net": model.get("net", {}), "lr": float(model.get("lr", 1e-4)),
            "scheduler": scheduler, "scheduler_kwargs": model.get("scheduler_kwargs") or {},
            "scheduler_cls": _import(SCHEDULERS.get(scheduler, scheduler)) if scheduler else None,
            "max_epochs": cfg.get("trainer", {}).get("max_epochs", 10),
            "seed": cfg.get("seed_everything", 2024)}


def _import(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def darts_schedule(cfg: dict) -> dict:
    """The config's per-epoch scheduler as darts arguments."""
    if cfg["scheduler_cls"] is None:
        return {}
    return {"lr_scheduler_cls": cfg["scheduler_cls"],
            "lr_scheduler_kwargs": dict(cfg["scheduler_kwargs"])}


def load_series(dataset: str) -> tuple[TimeSeries, TimeSeries, TimeSeries, int, LTSFDataModule]:
    """Scaled ``(full, train, val)`` series, the first test target index and the data module."""
    dm = LTSFDataModule(dataset, lookback=L, horizon=H, batch_size=BATCH)
    dm.setup()
    (_, train_end), (val_start, val_end), (_, test_end) = dm.borders
    frame = load_dataset(dm.dataset, dm.csv_path)  # the frame the data module scaled
    values = dm.scaler.transform(frame[dm.channel_names].to_numpy(np.float64))[:test_end]
    full = TimeSeries.from_times_and_values(pd.DatetimeIndex(frame["date"].iloc[:test_end]),
                                            values.astype(np.float32),
                                            columns=dm.channel_names, freq="h")
    return full, full[:train_end], full[val_start:val_end], val_end, dm


def run_core(dm: LTSFDataModule, cfg: dict, epochs: int, seed: int, progress: bool) -> dict:
    """The core LightningModule: fit, best epoch by val MSE, test on every window."""
    lpl.seed_everything(seed, verbose=False)
    model = DLNForecaster(L, H, dm.n_channels, net=DLNConfig(**cfg["net"]), lr=cfg["lr"],
                          scheduler=cfg["scheduler"], scheduler_kwargs=cfg["scheduler_kwargs"])
    ckpt = lpl.callbacks.ModelCheckpoint(monitor="val_mse", mode="min", save_top_k=1,
                                         dirpath=tempfile.mkdtemp(prefix="core_etth1_"))
    stop = lpl.callbacks.EarlyStopping(monitor="val_mse", mode="min", patience=PATIENCE)
    trainer = lpl.Trainer(max_epochs=epochs, deterministic=True, logger=False,
                          callbacks=[ckpt, stop], enable_progress_bar=progress,
                          enable_model_summary=False, accelerator="cpu")
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    fit_s = time.perf_counter() - start
    out = trainer.test(model, datamodule=dm, ckpt_path=ckpt.best_model_path, verbose=False)[0]
    return {"model": "core DLNForecaster (lightning)", "test_mse": out["test_mse"],
            "test_mae": out["test_mae"], "epochs": trainer.current_epoch, "fit_s": fit_s,
            "n_windows": len(dm.test_set)}


def darts_trainer_kwargs(work_dir: str, progress: bool) -> dict:
    return dict(accelerator="cpu", enable_progress_bar=progress, enable_model_summary=False,
                callbacks=[pl.callbacks.EarlyStopping("val_loss", patience=PATIENCE)],
                logger=False, deterministic=True)


def fit_darts(model, train: TimeSeries, val: TimeSeries) -> tuple[float, int]:
    """Fit with early stopping, restore the best epoch; return wall time and epochs run."""
    start = time.perf_counter()
    model.fit(train, val_series=val, load_best=True, verbose=None)
    return time.perf_counter() - start, model.trainer.current_epoch


def forecasts(model, full: TimeSeries, test_start: int, **kw) -> tuple[np.ndarray, float]:
    """Every test window: ``(N, H, C[, Q])`` values and the wall time of the call."""
    start = time.perf_counter()
    hfc = model.historical_forecasts(full, start=test_start, start_format="position",
                                     forecast_horizon=H, stride=1, retrain=False,
                                     last_points_only=False, verbose=False, **kw)
    wall = time.perf_counter() - start
    assert hfc[0].start_time() == full.time_index[test_start], "misaligned test windows"
    return np.stack([fc.values() for fc in hfc]), wall


def truth(full: TimeSeries, test_start: int, n: int) -> np.ndarray:
    values = full.values()
    return np.stack([values[test_start + i: test_start + i + H] for i in range(n)])


def point_row(name: str, model, full: TimeSeries, test_start: int,
              fit: tuple[float, int]) -> dict:
    pred, wall = forecasts(model, full, test_start)
    y = truth(full, test_start, len(pred))
    return {"model": name, "test_mse": float(np.mean((pred - y) ** 2)),
            "test_mae": float(np.mean(np.abs(pred - y))), "epochs": fit[1],
            "fit_s": fit[0], "hf_s": wall, "n_windows": len(pred)}


def timed_hf(models: dict, full: TimeSeries, test_start: int, repeats: int) -> dict:
    """Wall times of each model's historical_forecasts, interleaved (shared, noisy CPUs)."""
    for model in models.values():
        forecasts(model, full, len(full) - H - 10)  # warm-up on a few windows
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            times[name].append(forecasts(model, full, test_start)[1])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch per model, 1 timing run")
    parser.add_argument("--epochs", type=int, default=None, help="max epochs (default 10)")
    parser.add_argument("--config", default="configs/etth1.yaml", help="the core's config")
    parser.add_argument("--seed", type=int, default=None, help="default: the config's")
    parser.add_argument("--dataset", default="ETTh1")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default 3)")
    parser.add_argument("--progress", action="store_true", help="show Lightning's bars")
    parser.add_argument("--quantile-lr", type=float, default=1e-3,
                        help="Adam lr of the quantile model (its quantile offsets are biases)")
    parser.add_argument("--timing-only", action="store_true",
                        help="only part 4 without the deep forward, 7 repeats: *_timing.*")
    parser.add_argument("--out", default="benchmarks/results/darts")
    args = parser.parse_args()
    cfg = core_config(args.config)
    args.seed = cfg["seed"] if args.seed is None else args.seed
    epochs = args.epochs or (1 if args.quick else cfg["max_epochs"])
    repeats = args.repeats or (1 if args.quick else 7 if args.timing_only else 3)
    work = tempfile.mkdtemp(prefix="darts_etth1_")
    full, train, val, test_start, dm = load_series(args.dataset)
    rows: list[dict] = []

    def log(row: dict) -> None:
        rows.append(row)
        print({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}, flush=True)

    if args.timing_only:
        speed = timing(None, full, train, test_start, cfg, args, work, repeats, log)
        return write(rows, speed, args, epochs, cfg)

    def darts_kw(name: str) -> dict:
        return dict(input_chunk_length=L, output_chunk_length=H, batch_size=BATCH,
                    n_epochs=epochs, random_state=args.seed, save_checkpoints=True,
                    force_reset=True, model_name=name, work_dir=work,
                    pl_trainer_kwargs=darts_trainer_kwargs(work, args.progress))

    log(run_core(dm, cfg, epochs, args.seed, args.progress))
    dln = DeepLinearModel(**cfg["net"], optimizer_kwargs={"lr": cfg["lr"]}, **darts_schedule(cfg),
                          **darts_kw("dln"))
    log(point_row("DeepLinearModel (darts)", dln, full, test_start, fit_darts(dln, train, val)))
    for cls in (NLinearModel, DLinearModel):
        base = cls(shared_weights=True, optimizer_kwargs={"lr": 5e-3}, **darts_schedule(cfg),
                   **darts_kw(cls.__name__))
        log(point_row(f"{cls.__name__} (darts)", base, full, test_start,
                      fit_darts(base, train, val)))
        if cls is NLinearModel:
            nlinear = base

    quantiles = [0.1, 0.5, 0.9]
    qdln = DeepLinearModel(**cfg["net"], optimizer_kwargs={"lr": args.quantile_lr},
                           likelihood=QuantileRegression(quantiles), **darts_kw("dln_q"))
    fit_s, q_epochs = fit_darts(qdln, train, val)
    params, wall = forecasts(qdln, full, test_start, predict_likelihood_parameters=True)
    params = params.reshape(len(params), H, -1, len(quantiles))  # (N, H, C, Q)
    y = truth(full, test_start, len(params))
    coverage = float(np.mean((y >= params[..., 0]) & (y <= params[..., 2])))
    log({"model": f"DeepLinearModel + QuantileRegression, lr {args.quantile_lr:g} (median)",
         "epochs": q_epochs,
         "test_mse": float(np.mean((params[..., 1] - y) ** 2)),
         "test_mae": float(np.mean(np.abs(params[..., 1] - y))), "coverage_10_90": coverage,
         "fit_s": fit_s, "hf_s": wall, "n_windows": len(params)})

    speed = timing(nlinear, full, train, test_start, cfg, args, work, repeats, log)
    write(rows, speed, args, epochs, cfg)


def timing(nlinear, full: TimeSeries, train: TimeSeries, test_start: int, cfg: dict,
           args: argparse.Namespace, work: str, repeats: int, log) -> dict:
    """historical_forecasts wall times: NLinear vs depth 100, deep and collapsed, interleaved."""
    trainer = dict(accelerator="cpu", enable_progress_bar=args.progress,
                   enable_model_summary=False, logger=False)
    short = dict(batch_size=BATCH, n_epochs=1, random_state=args.seed, work_dir=work,
                 pl_trainer_kwargs=trainer)  # weights barely trained: only time is measured
    if nlinear is None:
        nlinear = NLinearModel(L, H, shared_weights=True, **short)
        nlinear.fit(train, max_samples_per_ts=512, verbose=None)
    deep100 = DeepLinearModel(L, H, **{**cfg["net"], "depth": 100}, **short)
    deep100.fit(train, max_samples_per_ts=512, verbose=None)
    collapsed100 = DeepLinearModel.load(_saved(deep100, work)).use_collapsed(True)
    models = {"NLinearModel": nlinear, "DeepLinearModel depth 100 (collapsed)": collapsed100}
    if not args.timing_only:  # the deep forward is ~20x slower: once per full run only
        models["DeepLinearModel depth 100 (deep forward)"] = deep100
    speed = timed_hf(models, full, test_start, repeats)
    for name, times in speed.items():
        log({"model": f"timing: {name}", "hf_s": statistics.median(times),
             "hf_s_all": " ".join(f"{t:.2f}" for t in times),
             "n_windows": len(full) - test_start - H + 1})
    return speed


def write(rows: list[dict], speed: dict, args: argparse.Namespace, epochs: int,
          cfg: dict) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "darts_etth1" + ("_timing" if args.timing_only else "_quick" if args.quick else "")
    keys = sorted({k for row in rows for k in row}, key=lambda k: (k != "model", k))
    with open(out / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    fast, base = speed["DeepLinearModel depth 100 (collapsed)"], speed["NLinearModel"]
    ratio = statistics.median(fast) / statistics.median(base)
    lines = [
        f"# DeepLinearModel (darts) on {args.dataset}, L={L}, H={H}, every test window",
        "",
        f"Command: `python benchmarks/darts_etth1.py{' --quick' * args.quick}"
        f"{' --timing-only' * args.timing_only}` "
        f"(max epochs {epochs}, seed {args.seed}); core config `{args.config}`: net "
        f"{cfg['net']}, Adam lr {cfg['lr']:g}, scheduler {cfg['scheduler']} "
        f"{cfg['scheduler_kwargs']}, batch {BATCH}, early stopping patience {PATIENCE}; "
        f"{platform.node()}, "
        f"{os.cpu_count()} CPU cores (shared), torch {torch.__version__}.",
        "",
        "| model | epochs | test MSE | test MAE | windows | fit s | hist. forecasts s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r.get('epochs', '')} | {_f(r.get('test_mse'))} | "
                     f"{_f(r.get('test_mae'))} | {r.get('n_windows', '')} | "
                     f"{_f(r.get('fit_s'), 1)} | {_f(r.get('hf_s'), 2)} |")
    lines.append("")
    if not args.timing_only:
        core, dln = rows[0]["test_mse"], rows[1]["test_mse"]
        cover = next(r for r in rows if "coverage_10_90" in r)["coverage_10_90"]
        lines += [
            f"- DeepLinearModel / core test MSE: **{dln / core:.4f}** (target within 2%: "
            f"{'met' if abs(dln / core - 1) <= 0.02 else 'NOT met'}).",
            f"- 10-90% interval coverage on the test split: **{cover:.3f}** "
            f"(target 0.70-0.90: {'met' if 0.70 <= cover <= 0.90 else 'NOT met'}).",
        ]
    lines += [
        f"- historical_forecasts wall time, depth-100 collapsed / NLinearModel (median of "
        f"{len(base)} interleaved runs): **{ratio:.2f}x** (target <= 1.5x: "
        f"{'met' if ratio <= 1.5 else 'NOT met'}); per run: "
        + ", ".join(f"{a / b:.2f}x" for a, b in zip(fast, base, strict=True))
        + f" (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores).",
    ]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _saved(model, work: str) -> str:
    path = os.path.join(work, "dln100.pt")
    model.save(path)
    return path


def _f(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
