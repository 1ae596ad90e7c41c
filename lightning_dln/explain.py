"""``lightning-dln explain --ckpt PATH --config YAML --out DIR``: explain a trained checkpoint.

Loads a :class:`~lightning_dln.module.DLNForecaster` checkpoint, builds the
:class:`~lightning_dln.data.LTSFDataModule` from the YAML's ``data:`` section and, on the test
split, writes to ``DIR``: ``lag_horizon.png``, ``frequency_response.png`` (the training series'
periodogram peaks marked), ``spectrum.png``, ``attribution.png`` and ``forecast.png`` for one
window, ``summary.md`` and ``summary.json``.

What it computes per window (all test windows): the forecast through the collapsed map, and the
exact per-lag attributions (summed over input channels) at the selected forecast steps only
(default: the first and the last), aggregated into the mean absolute contribution per
``(step, channel, lag)``; the completeness error ``max |sum of terms - forecast|`` is reported.
Full ``(H, C, L, C)`` attribution tensors for every window would not fit in memory for LTSF
sizes; use :func:`lightning_dln.interpret.attribute` on the windows you need.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor

from lightning_dln.data import LTSFDataModule
from lightning_dln.interpret import (
    attribute,
    attribute_normalised,
    check_index,
    collapsed,
    norm_terms,
    spectrum,
    time_unit,
)
from lightning_dln.models import CollapsedForecaster
from lightning_dln.module import DLNForecaster
from lightning_dln.theory.interpret import (
    check_steps,
    dominant_periods,
    frequency_response,
    periodogram,
    top_lags,
)


def load_forecaster(path: str | Path) -> DLNForecaster:
    """Load a :class:`DLNForecaster` checkpoint on the CPU, in eval mode.

    Raises:
        ValueError: when ``path`` is not a readable DLNForecaster checkpoint.

    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise ValueError(f"ckpt {str(path)!r} is not a readable checkpoint: {err}") from err
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    needed = {"lookback", "horizon", "n_channels", "net"}
    if not isinstance(hp, dict) or not isinstance(state, dict) or not needed <= set(hp) or \
            not any(k.startswith("model.") for k in state):
        raise ValueError(f"ckpt {str(path)!r} is not a DLNForecaster checkpoint (needs "
                         f"hyper_parameters {sorted(needed)} and model.* weights)")
    allowed = set(inspect.signature(DLNForecaster.__init__).parameters) - {"self"}
    try:
        model = DLNForecaster(**{k: v for k, v in hp.items() if k in allowed})
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"ckpt {str(path)!r} does not match a DLNForecaster: {err}") from err
    return model.eval()


def load_datamodule(config: str | Path, data_path: str | None = None) -> LTSFDataModule:
    """Build the data module from a LightningCLI YAML's ``data:`` section."""
    try:
        cfg = yaml.safe_load(Path(config).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"config {str(config)!r} is not a readable YAML file: {err}") from err
    data = cfg.get("data") if isinstance(cfg, dict) else None
    if not isinstance(data, dict):
        raise ValueError(f"config {str(config)!r} has no 'data:' section")
    data = dict(data.get("init_args", data))
    data.pop("class_path", None)
    if data_path is not None:
        data["path"] = data_path
    return LTSFDataModule(**data)


def _check_windows(cf: CollapsedForecaster, x: Tensor, batch_size: object) -> None:
    """``x`` must hold at least one window of ``cf``; ``batch_size`` must be a positive int."""
    cf.check_input(x)
    if len(x) == 0:
        raise ValueError("x must hold at least one window, got an empty batch")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


@torch.no_grad()
def predict_windows(cf: CollapsedForecaster, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Forecasts ``(N, H, C, Q)`` of all windows ``x (N, L, C)`` through the collapsed map."""
    _check_windows(cf, x, batch_size)
    out = [cf(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    y = torch.cat(out)
    return y if cf.n_outputs is not None else y.unsqueeze(-1)


@torch.no_grad()
def explain_windows(cf: CollapsedForecaster, x: Tensor, steps: list[int],
                    batch_size: int = 1024) -> dict[str, Tensor]:
    """Forecasts, per-lag attributions at ``steps`` (0-based) and their aggregates.

    Returns:
        ``forecast (N, H, C, Q)``, ``mean_abs (S, C, Q, L)`` mean absolute contribution of each
        lag over windows, ``max_error`` (completeness: ``max |total - forecast|``).

    """
    sel = check_steps(steps, cf.horizon)
    _check_windows(cf, x, batch_size)
    mean_abs, err, forecasts = 0.0, x.new_zeros(()), []
    for i in range(0, len(x), batch_size):
        z, out_scale, level = norm_terms(cf, x[i:i + batch_size])  # one normalisation pass
        a = attribute_normalised(cf, z, out_scale, level, steps=sel, reduce="lag")
        y = cf.core(z)  # (B, C, K) normalised
        y = y if out_scale is None else y * out_scale + level
        y = y.view(len(z), cf.n_channels, cf.horizon, cf.q).transpose(1, 2)  # (B, H, C, Q)
        forecasts.append(y)
        err = torch.maximum(err, (a.total() - y[:, sel]).abs().max())
        mean_abs = mean_abs + torch.linalg.vector_norm(a.inputs, ord=1, dim=0)  # sum |.|
    return {"forecast": torch.cat(forecasts), "mean_abs": mean_abs / len(x), "max_error": err}


def time_explain(cf: CollapsedForecaster, x: Tensor, steps: list[int],
                 repeats: int = 3) -> dict[str, float]:
    """Median wall times of :func:`predict_windows` and :func:`explain_windows`, side by side.

    One warm-up call each on a few windows first; then ``repeats`` alternating timed runs.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    _check_windows(cf, x, 1)
    predict_windows(cf, x[:8])
    explain_windows(cf, x[:8], steps)
    times: dict[str, list[float]] = {"predict": [], "explain": []}
    for _ in range(repeats):
        for name, fn in (("predict", lambda: predict_windows(cf, x)),
                         ("explain", lambda: explain_windows(cf, x, steps))):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"windows": len(x), "repeats": repeats, **med,
            "ratio": med["explain"] / max(med["predict"], 1e-12)}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lightning-dln explain", description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, help="DLNForecaster checkpoint (.ckpt)")
    p.add_argument("--config", required=True, help="YAML with the data: section used to train")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data_path", default=None, help="CSV file or folder (overrides data.path)")
    p.add_argument("--channel", type=int, default=-1, help="channel to draw (default: last)")
    p.add_argument("--window", type=int, default=-1, help="test window to draw (default: last)")
    p.add_argument("--steps", type=int, nargs="+", default=None,
                   help="1-based forecast steps to attribute (default: 1 and H)")
    p.add_argument("--top_k", type=int, default=5, help="lags listed per step")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs of predict and explain (medians in the summary; 0: none)")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run ``lightning-dln explain``; returns the summary written to ``summary.json``."""
    args = _parser().parse_args(argv)
    model = load_forecaster(args.ckpt)
    cf = collapsed(model, torch.float64).float()  # ValueError for the nonlinear control
    hp = model.hparams
    dm = load_datamodule(args.config, args.data_path)
    if (dm.lookback, dm.horizon, dm.n_channels) != (hp.lookback, hp.horizon, hp.n_channels):
        raise ValueError(f"config data (lookback, horizon, n_channels) = "
                         f"{(dm.lookback, dm.horizon, dm.n_channels)} does not match the ckpt's "
                         f"{(hp.lookback, hp.horizon, hp.n_channels)}")
    channel = check_index("channel", args.channel, hp.n_channels)
    steps = [1, hp.horizon] if args.steps is None else args.steps
    if any(not 1 <= s <= hp.horizon for s in steps):
        raise ValueError(f"steps must be 1-based forecast steps in [1, {hp.horizon}], "
                         f"got {steps}")
    sel = [s - 1 for s in dict.fromkeys(steps)]
    if not 1 <= args.top_k <= hp.lookback:
        raise ValueError(f"top_k must be in [1, {hp.lookback}], got {args.top_k}")
    dm.setup("test")
    test = dm.test_set
    window = check_index("window", args.window, len(test))
    x = torch.stack([test[i][0] for i in range(len(test))]).float()  # (N, L, C)
    timing = time_explain(cf, x, sel, args.repeats) if args.repeats > 0 else None
    result = explain_windows(cf, x, sel)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = _summarise(model, cf, dm, result, sel, channel, args.top_k)
    if timing is not None:
        summary["timing_s"] = timing
    _figures(model, cf, dm, x, sel, channel, window, summary, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(_markdown(summary))
    return summary


def _summarise(model: DLNForecaster, cf: CollapsedForecaster, dm: LTSFDataModule,
               result: dict[str, Tensor], sel: list[int], channel: int, k: int) -> dict:
    step, unit = time_unit(dm.freq)
    w = cf.weight.detach().double()
    g = channel if w.shape[0] > 1 else 0
    w = w[g].view(cf.horizon, cf.q, cf.lookback)[:, cf.q // 2]  # (H, L)
    freqs, response = frequency_response(w, step)
    f_data, power = periodogram(dm.train_set.segment.double(), step)
    s, ranks = spectrum(cf)
    rows = []
    for i, h in enumerate(sel):
        lag_w, val_w = top_lags(w[h], k)
        lag_a, val_a = top_lags(result["mean_abs"][i, channel, cf.q // 2].double(), k)
        rows.append({"step": h + 1, "weight_lags": (lag_w * step).tolist(),
                     "weights": val_w.tolist(), "attribution_lags": (lag_a * step).tolist(),
                     "mean_abs_attribution": val_a.tolist()})
    return {
        "dataset": dm.hparams.dataset, "unit": unit, "lookback": cf.lookback,
        "horizon": cf.horizon, "channel": dm.channel_names[channel], "net": model.hparams.net,
        "top_lags": rows,
        "model_periods": dominant_periods(freqs, response.abs().mean(0), 5),
        "data_periods": dominant_periods(f_data, power.mean(1), 5, cf.lookback * step),
        "effective_rank": float(ranks[g]), "top_singular_values": s[g, :5].tolist(),
        "max_completeness_error": float(result["max_error"]),
    }


def _figures(model, cf, dm, x, sel, channel, window, summary, out: Path) -> None:
    from lightning_dln.interpret_plots import (
        _pyplot,
        interpretation_figures,
        plot_attribution,
    )
    from lightning_dln.plots import plot_forecast

    periods = [p for p, _ in summary["data_periods"]]
    figs = interpretation_figures(cf, dm.freq, periods, channel if cf.weight.shape[0] > 1 else 0)
    xw = x[window:window + 1]
    a = attribute(cf, xw, steps=[sel[0]], reduce="lag", forecaster=cf)
    q = cf.q // 2
    figs["attribution"] = plot_attribution(
        a.inputs[0, 0, channel, q], xw[0, :, channel], dm.freq,
        f"{dm.channel_names[channel]}, step {sel[0] + 1}, test window {window}: forecast "
        f"{float(a.total()[0, 0, channel, q]):.3f} = baseline "
        f"{float(a.baseline()[0, 0, channel, q]):.3f} + sum of lag contributions")
    with torch.no_grad():
        pred = model(xw)[0]
    figs["forecast"] = plot_forecast(xw[0], dm.test_set[window][1], pred, channel,
                                     model.quantiles, f"{dm.channel_names[channel]}, "
                                                      f"test window {window} (scaled)")
    plt = _pyplot()
    for name, fig in figs.items():
        fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)


def _markdown(s: dict) -> str:
    u = s["unit"]
    lines = [f"# Explanation: {s['dataset']}, L={s['lookback']}, H={s['horizon']}, "
             f"channel {s['channel']}", "",
             f"Lags in {u} before the forecast origin (1 = last observation). Weights: the "
             "collapsed temporal map (normalised space). Attribution: mean |exact contribution| "
             "over all test windows (output units, summed over input channels).", "",
             "| step | top lags by weight | top lags by mean abs attribution |",
             "|---:|---|---|"]
    for r in s["top_lags"]:
        lines.append(f"| {r['step']} | {', '.join(f'{v:g}' for v in r['weight_lags'])} | "
                     f"{', '.join(f'{v:g}' for v in r['attribution_lags'])} |")
    fmt = ", ".join
    lines += ["", f"Dominant periods of the frequency response (mean gain over steps, {u}): "
              + fmt(f"{p:.4g}" for p, _ in s["model_periods"]),
              f"Dominant periods of the training series (periodogram, {u}): "
              + fmt(f"{p:.4g}" for p, _ in s["data_periods"]), "",
              f"Effective rank of the temporal map: {s['effective_rank']:.2f}; "
              f"completeness error max |sum of terms - forecast| = "
              f"{s['max_completeness_error']:.2e}."]
    t = s.get("timing_s")
    if t:
        lines += ["", f"Timing on {t['windows']} test windows: predict {t['predict']:.4f} s, "
                  f"explain (forecast + attributions at {len(s['top_lags'])} steps) "
                  f"{t['explain']:.4f} s, ratio {t['ratio']:.2f}."]
    return "\n".join(lines) + "\n"
