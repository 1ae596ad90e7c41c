"""Head-to-head on pytorch-forecasting's Stallion data: DeepLinear vs p-f's own models.

One ``TimeSeriesDataSet`` for every model, built as in p-f's tutorials (target ``volume``,
encoder 24 / prediction 6 months, groups ``agency`` + ``sku``, the tutorial's categoricals and
reals), with the changes the models need to share it:

* fixed lengths (``min_encoder_length = 24``, ``min_prediction_length = 6``) and
  ``add_relative_time_idx=False``: NHiTS, TiDE and DeepLinear require them;
* ``GroupNormalizer(groups=["agency", "sku"])`` without the tutorial's softplus transformation:
  DeepAR's NormalDistributionLoss over a softplus-transformed target rejects the zero volumes
  Stallion has (the tutorial trains DeepAR on other data);
* ``--variant common`` (default): the only unknown real is the target, as DeepAR requires;
  ``--variant tutorial`` adds the tutorial's unknown reals (``log_volume``, ``industry_volume``,
  ...) and skips DeepAR, which cannot take them.

DeepLinear ignores the categoricals (``ignore_categoricals=True``); the others embed them.
Same epochs, seeds, batch size, learning rate and gradient clipping for every trained model;
Baseline (last value) is not trained. Validation MAE is p-f's ``MAE`` on the tutorial's
validation set (the last 6 months of every series, never seen in training).

    python benchmarks/pf_stallion.py --data ../shared/data/stallion.parquet [--variant tutorial]
    python benchmarks/pf_stallion.py --quick        # smoke run: 2 epochs, 10 batches
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch

warnings.filterwarnings("ignore")
OUT = Path(__file__).resolve().parent / "results" / "pytorch_forecasting"
SPECIAL_DAYS = ["easter_day", "good_friday", "new_year", "christmas", "labor_day",
                "independence_day", "revolution_day_memorial", "regional_games",
                "fifa_u_17_world_cup", "football_gold_cup", "beer_capital", "music_fest"]
TUTORIAL_UNKNOWN = ["log_volume", "industry_volume", "soda_volume", "avg_max_temp",
                    "avg_volume_by_agency", "avg_volume_by_sku"]
MODELS = ("Baseline", "DeepLinear", "NHiTS", "TiDEModel", "DeepAR")


def load_stallion(path: str | None) -> pd.DataFrame:
    """Read stallion.parquet from ``--data``, else ``$LIGHTNING_DLN_DATA/stallion.parquet``."""
    if path is None and os.environ.get("LIGHTNING_DLN_DATA"):
        path = str(Path(os.environ["LIGHTNING_DLN_DATA"]) / "stallion.parquet")
    if path is None or not Path(path).is_file():
        raise SystemExit(f"stallion.parquet not found ({path}); pass --data or set "
                         "LIGHTNING_DLN_DATA to its folder")
    data = pd.read_parquet(path)
    data["time_idx"] = data.date.dt.year * 12 + data.date.dt.month
    data["time_idx"] -= data.time_idx.min()
    data["month"] = data.date.dt.month.astype(str).astype("category")
    data["log_volume"] = np.log(data.volume + 1e-8)
    for key in ("sku", "agency"):
        data[f"avg_volume_by_{key}"] = data.groupby(["time_idx", key], observed=True) \
            .volume.transform("mean")
    data[SPECIAL_DAYS] = data[SPECIAL_DAYS].apply(lambda x: x.map({0: "-", 1: x.name})) \
        .astype("category")
    return data


def make_datasets(data: pd.DataFrame, variant: str):
    """Training and validation sets of the tutorial, adapted as the module docstring says."""
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.data import GroupNormalizer

    cutoff = data.time_idx.max() - 6
    training = TimeSeriesDataSet(
        data[data.time_idx <= cutoff], time_idx="time_idx", target="volume",
        group_ids=["agency", "sku"], min_encoder_length=24, max_encoder_length=24,
        min_prediction_length=6, max_prediction_length=6,
        static_categoricals=["agency", "sku"],
        static_reals=["avg_population_2017", "avg_yearly_household_income_2017"],
        time_varying_known_categoricals=["special_days", "month"],
        variable_groups={"special_days": SPECIAL_DAYS},
        time_varying_known_reals=["time_idx", "price_regular", "discount_in_percent"],
        time_varying_unknown_reals=["volume"] + (TUTORIAL_UNKNOWN if variant == "tutorial"
                                                 else []),
        target_normalizer=GroupNormalizer(groups=["agency", "sku"]),
        add_relative_time_idx=False, add_target_scales=True, add_encoder_length=True,
    )
    validation = TimeSeriesDataSet.from_dataset(training, data, predict=True,
                                                stop_randomization=True)
    return training, validation


def build(name: str, training, lr: float):
    """One model of the grid, sized as in p-f's tutorials, point loss MAE where it can."""
    from pytorch_forecasting import Baseline, DeepAR, NHiTS, TiDEModel
    from pytorch_forecasting.metrics import MAE

    from lightning_dln.integrations.pytorch_forecasting import DeepLinear

    common = dict(learning_rate=lr, log_interval=-1)
    if name == "Baseline":
        return Baseline()
    if name == "DeepLinear":
        return DeepLinear.from_dataset(training, ignore_categoricals=True, depth=4,
                                       loss=MAE(), **common)
    if name == "NHiTS":
        return NHiTS.from_dataset(training, hidden_size=64, loss=MAE(), **common)
    if name == "TiDEModel":
        return TiDEModel.from_dataset(training, hidden_size=64, loss=MAE(), **common)
    if name == "DeepAR":  # needs a distribution loss (default NormalDistributionLoss)
        return DeepAR.from_dataset(training, hidden_size=30, rnn_layers=2, **common)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


class EpochTimer(pl.Callback):
    """Wall and CPU time of each training epoch, the validation loop excluded.

    CPU time (this process, all its threads) is the fairer figure on a shared machine: wall
    time grows with whatever else runs on the cores.
    """

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cpu: list[float] = []

    @staticmethod
    def _now() -> np.ndarray:
        return np.array([time.perf_counter(), time.process_time()])

    def on_train_epoch_start(self, trainer, module) -> None:
        self._start, self._val = self._now(), np.zeros(2)

    def on_validation_start(self, trainer, module) -> None:
        self._val_start = self._now()

    def on_validation_end(self, trainer, module) -> None:
        if hasattr(self, "_start"):
            self._val += self._now() - self._val_start

    def on_train_epoch_end(self, trainer, module) -> None:
        wall, cpu = self._now() - self._start - self._val
        self.times.append(float(wall))
        self.cpu.append(float(cpu))


def run_one(name: str, training, validation, args, seed: int) -> dict:
    from pytorch_forecasting.metrics import MAE

    pl.seed_everything(seed, verbose=False)
    model = build(name, training, args.lr)
    train_dl = training.to_dataloader(train=True, batch_size=args.batch_size, num_workers=0)
    val_dl = validation.to_dataloader(train=False, batch_size=args.batch_size * 4,
                                      num_workers=0)
    timer = EpochTimer()
    if name != "Baseline":
        trainer = pl.Trainer(
            max_epochs=args.epochs, gradient_clip_val=0.1, logger=False,
            enable_checkpointing=False, enable_model_summary=False, callbacks=[timer],
            limit_train_batches=args.limit_batches, enable_progress_bar=args.progress,
            default_root_dir=args.out, num_sanity_val_steps=0)
        trainer.fit(model, train_dataloaders=train_dl, val_dataloaders=val_dl)
    pred = model.predict(val_dl, return_y=True,
                         trainer_kwargs=dict(logger=False, default_root_dir=args.out))
    mae = float(MAE()(pred.output, pred.y))
    return {"model": name, "variant": args.variant, "seed": seed, "val_MAE": mae,
            "s_per_epoch": float(np.mean(timer.times)) if timer.times else float("nan"),
            "cpu_s_per_epoch": float(np.mean(timer.cpu)) if timer.cpu else float("nan"),
            "params": sum(p.numel() for p in model.parameters()), "epochs": args.epochs}


def write_table(rows: pd.DataFrame, args, path: Path) -> None:
    agg = rows.groupby("model", sort=False).agg(
        mae=("val_MAE", "mean"), mae_std=("val_MAE", "std"), sec=("s_per_epoch", "mean"),
        cpu=("cpu_s_per_epoch", "mean"), params=("params", "first"))
    lines = [f"# Stallion head-to-head ({args.variant} dataset)", "",
             f"Epochs {args.epochs}, seeds {sorted(rows.seed.unique().tolist())}, "
             f"batch {args.batch_size}, lr {args.lr}, "
             f"gradient clip 0.1, limit_train_batches {args.limit_batches}, "
             f"torch threads {torch.get_num_threads()}, CPU. Validation: last 6 months of "
             f"every series ({args.n_val} windows). Command: `{args.command}`", "",
             "| model | val MAE (mean ± std over seeds) | train s/epoch (wall) "
             "| train CPU s/epoch | parameters |", "|---|---|---|---|---|"]
    for name, r in agg.iterrows():
        std = "" if np.isnan(r.mae_std) else f" ± {r.mae_std:.2f}"
        sec, cpu = ("—" if np.isnan(v) else f"{v:.2f}" for v in (r.sec, r.cpu))
        lines.append(f"| {name} | {r.mae:.2f}{std} | {sec} | {cpu} | {int(r.params):,} |")
    path.write_text("\n".join(lines) + "\n")


def plot(rows: pd.DataFrame, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    agg = rows.groupby("model", sort=False)[["val_MAE", "cpu_s_per_epoch"]].mean()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    agg["val_MAE"].plot.bar(ax=axes[0], title="validation MAE (volume)")
    agg["cpu_s_per_epoch"].fillna(0).plot.bar(ax=axes[1], title="train CPU seconds / epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="path of stallion.parquet")
    parser.add_argument("--variant", choices=("common", "tutorial"), default="common")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--limit-batches", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared CPUs)")
    parser.add_argument("--quick", action="store_true", help="2 epochs, 10 batches, 1 seed")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.command = "python benchmarks/pf_stallion.py " + " ".join(
        a for a in (argv if argv is not None else __import__("sys").argv[1:]))
    if args.quick:
        args.epochs, args.limit_batches, args.seeds = 2, 10, args.seeds[:1]
    if args.limit_batches is None:
        args.limit_batches = 1.0
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    training, validation = make_datasets(load_stallion(args.data), args.variant)
    args.n_val = len(validation)
    models = [m for m in args.models if not (m == "DeepAR" and args.variant == "tutorial")]
    stem = f"stallion_{args.variant}" + ("_quick" if args.quick else "") + \
        (f"_{args.tag}" if args.tag else "")
    rows = []
    for seed in args.seeds:
        for name in models:
            rows.append(run_one(name, training, validation, args, seed))
            print(rows[-1], flush=True)
            frame = pd.DataFrame(rows)
            frame.to_csv(args.out / f"{stem}.csv", index=False)
            write_table(frame, args, args.out / f"{stem}.md")
    plot(frame, args.out / f"{stem}.png")
    print((args.out / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
