"""Theory figures: each returns a Figure with the expected axes and never shows it."""

import pytest

pytest.importorskip("matplotlib")

import torch  # noqa: E402

from lightning_dln.plots import (  # noqa: E402
    plot_balancedness,
    plot_flow_vs_explicit,
    plot_forecast,
    plot_spectrum_trajectory,
)

X, Y = torch.randn(24, 2), torch.randn(6, 2)


def history() -> list[dict]:
    recs = []
    for step in range(0, 50, 10):
        grow = 1 + step / 10
        recs.append({"step": step, "epoch": 0, "tag": "model.temporal", "depth": 4.0,
                     "balancedness": 1e-3 * step, "singular_values": [grow, 0.5 * grow, 0.1],
                     "effective_rank": 1.5 + step / 100, "entropy": -1.0})
        recs.append({"step": step, "epoch": 0, "tag": "model.channel_mixer", "depth": 1.0,
                     "balancedness": 0.0, "singular_values": [1.0, 1.0],
                     "effective_rank": 2.0, "entropy": None})
    return recs


def test_spectrum_trajectory_has_spectrum_and_rank_axes():
    fig = plot_spectrum_trajectory(history(), top_k=2)
    ax_s, ax_e = fig.axes
    assert len(ax_s.lines) == 2 and ax_s.get_yscale() == "log"
    assert list(ax_e.lines[0].get_ydata()) == pytest.approx([1.5, 1.6, 1.7, 1.8, 1.9])
    other = plot_spectrum_trajectory(history(), tag="model.channel_mixer", top_k=None)
    assert len(other.axes[0].lines) == 2


def test_balancedness_draws_one_line_per_map_with_zeros_on_the_floor():
    fig = plot_balancedness(history())
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["model.temporal", "model.channel_mixer"]
    assert min(ax.lines[1].get_ydata()) > 0  # exact zeros clipped for the log axis


def test_forecast_draws_lookback_truth_and_quantile_band():
    fig = plot_forecast(X, Y, torch.randn(6, 2, 3), channel=1, quantiles=[0.1, 0.5, 0.9])
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines[:3]] == ["lookback", "truth",
                                                           "forecast (median)"]
    assert list(ax.lines[1].get_ydata()) == pytest.approx(Y[:, 1].tolist())


def test_flow_vs_explicit_has_loss_and_distance_axes():
    runs = {n: {"explicit_loss": [1.0, 0.5, 0.3], "flow_loss": [1.0, 0.51, 0.31],
                "distance": [0.0, 1e-3, 2e-3]} for n in (2, 8)}
    fig = plot_flow_vs_explicit(runs, steps=[0, 10, 20])
    ax_l, ax_d = fig.axes
    assert len(ax_l.lines) == 4 and len(ax_d.lines) == 2
    assert list(ax_d.lines[0].get_xdata()) == [0, 10, 20]


@pytest.mark.parametrize("call, match", [
    (lambda: plot_spectrum_trajectory([]), "empty"),
    (lambda: plot_spectrum_trajectory(history(), tag="nope"), "tag"),
    (lambda: plot_balancedness([]), "empty"),
    (lambda: plot_flow_vs_explicit({}), "runs"),
    (lambda: plot_balancedness([{"step": 0, "tag": "a"}]), r"history\[0\].*\['balancedness'\]"),
    (lambda: plot_spectrum_trajectory([{"tag": "a"}]), r"history\[0\].*missing \['step'"),
    (lambda: plot_spectrum_trajectory(history(), top_k=0), "top_k"),
    (lambda: plot_flow_vs_explicit({2: {"flow_loss": [1.0]}}), r"runs\[2\] must be a mapping"),
    (lambda: plot_flow_vs_explicit({2: {"explicit_loss": [1.0], "flow_loss": [1.0],
                                        "distance": [0.0]}}, steps=[0, 1]), "2 points"),
    (lambda: plot_forecast(X, Y, torch.randn(5, 2)), r"y must have shape \(H, C\) = \(5, 2\)"),
    (lambda: plot_forecast(X, None, torch.full((6, 2), float("nan"))), "pred must be finite"),
    (lambda: plot_forecast(X, Y, torch.randn(6, 3)), "pred must have x's 2 channels"),
    (lambda: plot_forecast(X, Y, torch.randn(6, 2, 3), quantiles=[0.1, 0.9]), "quantiles"),
    (lambda: plot_forecast(X[:, 0], Y, torch.randn(6, 2)), "x must be a tensor with 2 dims"),
    (lambda: plot_forecast(X, Y, torch.randn(6, 2), channel=2), "channel"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
