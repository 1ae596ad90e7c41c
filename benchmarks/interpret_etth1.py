"""Interpretation figures and numbers for the ETTh1 default model (configs/etth1.yaml).

Writes to ``benchmarks/results/interpret/``: everything ``lightning-dln explain`` writes for the
trained checkpoint (steps 1 and 96), ``spectra_by_depth.png`` (temporal-map spectra of the same
configuration trained at depths 1, 4 and 8 with an equal, short budget) and a ``summary.md`` with
the dominant periods, top-5 lags and the explain / predict timing (medians, side by side).

Usage (after ``lightning-dln fit --config configs/etth1.yaml --artifacts_dir outputs/etth1``)::

    LIGHTNING_DLN_DATA=/path/to/data nice -n 10 python benchmarks/interpret_etth1.py \
        --ckpt outputs/etth1/model.ckpt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
import yaml

from lightning_dln.explain import load_datamodule, load_forecaster, main, time_explain
from lightning_dln.interpret import collapsed, spectrum
from lightning_dln.interpret_plots import plot_spectra
from lightning_dln.module import DLNForecaster

ROOT = Path(__file__).resolve().parents[1]


def depth_spectra(config: Path, depths: list[int], epochs: int, limit: float) -> tuple[dict,
                                                                                        dict]:
    """Train the config's model at each depth on the same budget; return spectra and ranks."""
    cfg = yaml.safe_load(config.read_text())
    spectra, ranks = {}, {}
    for depth in depths:
        pl.seed_everything(cfg.get("seed_everything", 0))
        dm = load_datamodule(config)
        net = {**cfg["model"].get("net", {}), "depth": depth}
        model = DLNForecaster(dm.lookback, dm.horizon, dm.n_channels, net,
                              lr=cfg["model"].get("lr", 1e-4))
        trainer = pl.Trainer(max_epochs=epochs, limit_train_batches=limit, limit_val_batches=0,
                             logger=False, enable_checkpointing=False, enable_model_summary=False,
                             enable_progress_bar=False)
        trainer.fit(model, datamodule=dm)
        s, r = spectrum(model)
        spectra[f"depth {depth}"], ranks[f"depth {depth}"] = s[0], float(r[0])
    return spectra, ranks


def deep_predict_time(ckpt: Path, x: torch.Tensor, repeats: int) -> float:
    """Median time of the deep (uncollapsed) model's forward over all windows."""
    model = load_forecaster(ckpt)
    times = []
    with torch.no_grad():
        model(x[:8])
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, len(x), 1024):
                model(x[i:i + 1024])
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def run() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", type=Path, default=ROOT / "outputs/etth1/model.ckpt")
    p.add_argument("--config", type=Path, default=ROOT / "configs/etth1.yaml")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/interpret")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--depths", type=int, nargs="*", default=[1, 4, 8])
    p.add_argument("--spectra_epochs", type=int, default=1)
    p.add_argument("--spectra_batches", type=float, default=1.0,
                   help="fraction (or count) of training batches per epoch for the depth runs")
    args = p.parse_args()
    summary = main(["--ckpt", str(args.ckpt), "--config", str(args.config), "--out",
                    str(args.out), "--steps", "1", "96", "--repeats", "0"])
    model = load_forecaster(args.ckpt)
    cf = collapsed(model, torch.float64).float()
    dm = load_datamodule(args.config)
    dm.setup("test")
    x = torch.stack([dm.test_set[i][0] for i in range(len(dm.test_set))]).float()
    timing = time_explain(cf, x, [0, cf.horizon - 1], repeats=args.repeats)
    timing["predict_deep"] = deep_predict_time(args.ckpt, x, args.repeats)
    summary["timing_s"] = timing
    if args.depths:
        spectra, ranks = depth_spectra(args.config, args.depths, args.spectra_epochs,
                                       args.spectra_batches)
        summary["depth_effective_rank"] = ranks
        fig = plot_spectra(spectra, ranks, "temporal-map spectra, same config and budget "
                                           f"({args.spectra_epochs} epoch(s)), by depth")
        fig.savefig(args.out / "spectra_by_depth.png", dpi=110, bbox_inches="tight")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    text = (args.out / "summary.md").read_text()
    t = timing
    text += (f"\nTiming (median of {t['repeats']}, {t['windows']} test windows, "
             f"{torch.get_num_threads()} threads): predict through the collapsed map "
             f"{t['predict']:.4f} s, deep model {t['predict_deep']:.4f} s; explain (forecast + "
             f"exact per-lag attributions at steps 1 and {cf.horizon}, aggregated) "
             f"{t['explain']:.4f} s; ratio explain / collapsed predict = {t['ratio']:.2f}.\n")
    hp = model.hparams
    text += (f"\nCheckpoint: {args.ckpt.name}, optimizer {hp.optimizer} lr {hp.lr}, scheduler "
             f"{hp.scheduler} {hp.scheduler_kwargs or ''}, net {dict(hp.net)}.\n")
    if args.depths:
        text += "\nEffective rank by depth (equal budget): " + ", ".join(
            f"{k}: {v:.1f}" for k, v in summary["depth_effective_rank"].items()) + "\n"
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    run()
