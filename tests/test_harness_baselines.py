"""The harness's own baselines against independent references: the closed form vs a
minimum-norm lstsq, its ridge and rank choices on validation, and the naive forecasts."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.harness.closed_form import RidgeIN


def _reference_ols(segment, lookback, horizon):
    """Minimum-norm lstsq on the explicit design matrix (Toner & Darlow's features).

    The centred lookback columns sum to zero, so the Gram matrix is singular: the solution is
    defined up to that null direction, and both solvers return the minimum-norm one.
    """
    win = np.lib.stride_tricks.sliding_window_view(segment, lookback + horizon, axis=0)
    win = win.astype(np.float64)
    mu = win[..., :lookback].mean(-1, keepdims=True)
    win = win - mu
    sd = np.sqrt(win[..., :lookback].var(-1, keepdims=True) + 1e-5)
    x = np.concatenate([win[..., :lookback], sd], -1).reshape(-1, lookback + 1)
    y = win[..., lookback:].reshape(-1, horizon)
    return np.linalg.lstsq(x, y, rcond=None)[0]


def _toy_split(n_rows, n_train, lookback, horizon, noise, seed):
    """Two noisy sinusoids: the train rows and the validation windows ``(N, L + H, 2)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)
    segment = np.stack([np.sin(t / 7) + noise * rng.standard_normal(n_rows),
                        np.cos(t / 5) + noise * rng.standard_normal(n_rows)], axis=1)
    val = np.lib.stride_tricks.sliding_window_view(segment[n_train:], lookback + horizon, axis=0)
    return segment, val.transpose(0, 2, 1)


def test_closed_form_matches_reference_solver():
    lookback, horizon = 20, 5
    segment, val = _toy_split(600, 400, lookback, horizon, noise=0.1, seed=0)
    model = RidgeIN(lookback, horizon, alphas=(0.0,), chunk=37).fit(
        segment[:400], val[:, :lookback], val[:, lookback:])
    ref = _reference_ols(segment[:400], lookback, horizon)
    np.testing.assert_allclose(model.weight, ref, rtol=1e-5, atol=1e-8)
    pred = model.predict(val[:, :lookback])
    assert pred.shape == (len(val), horizon, 2)
    assert np.mean((pred - val[:, lookback:]) ** 2) < 0.05


def test_ridge_path_scores_each_alpha_like_a_fit_with_that_alpha_alone():
    lookback, horizon = 20, 5
    segment, val = _toy_split(700, 400, lookback, horizon, noise=0.3, seed=1)
    x, y = val[:, :lookback], val[:, lookback:]
    alphas = (0.0, 0.1, 10.0)
    model = RidgeIN(lookback, horizon, alphas=alphas).fit(segment[:400], x[:150], y[:150])
    chosen = model.weight.copy()
    path = model.mse_by_alpha(x[150:], y[150:])
    for alpha in alphas:  # reference: a separate fit that can only pick this alpha
        alone = RidgeIN(lookback, horizon, alphas=(alpha,)).fit(segment[:400], x[:150], y[:150])
        ref = np.mean((alone.predict(x[150:]) - y[150:]) ** 2)
        assert path[alpha] == pytest.approx(ref, rel=1e-10)
    np.testing.assert_array_equal(model.weight, chosen)  # the fitted choice is untouched
    assert path[10.0] > path[0.0]  # a heavy ridge shrinks a well-determined fit
    with pytest.raises(RuntimeError, match="not fitted"):
        RidgeIN(lookback, horizon).mse_by_alpha(x, y)


def test_closed_form_rejects_bad_options():
    with pytest.raises(ValueError, match="norm"):
        RidgeIN(10, 2, norm="layer")
    with pytest.raises(ValueError, match="alphas"):
        RidgeIN(10, 2, alphas=(-1.0,))


def test_reduced_rank_closed_form_keeps_the_best_rank_on_validation():
    lookback, horizon = 24, 6
    segment, val = _toy_split(800, 600, lookback, horizon, noise=0.3, seed=3)
    val_x, val_y = val[:, :lookback], val[:, lookback:]
    for norm in ("mean", "revin"):
        full = RidgeIN(lookback, horizon, norm=norm).fit(segment[:600], val_x, val_y)
        rrr = RidgeIN(lookback, horizon, norm=norm, ranks=(1, 2, 3, 99)).fit(
            segment[:600], val_x, val_y)
        assert set(rrr.rank_val_mse) == {1, 2, 3, 6} and rrr.rank in rrr.rank_val_mse
        assert rrr.rank_val_mse[rrr.rank] == min(rrr.rank_val_mse.values())
        assert np.linalg.matrix_rank(rrr.weight) == rrr.rank
        # Full rank is the plain closed form; the chosen rank is no worse on validation.
        np.testing.assert_allclose(rrr.rank_val_mse[6], full.val_mse[full.alpha], rtol=1e-9)
        mse = float(np.mean((rrr.predict(val_x) - val_y) ** 2))
        assert mse <= full.val_mse[full.alpha] + 1e-12
    with pytest.raises(ValueError, match="ranks"):
        RidgeIN(10, 2, ranks=(0,))
    with pytest.raises(ValueError, match="ranks"):
        RidgeIN(10, 2, ranks=())


@pytest.mark.slow
def test_ridge_path_picks_the_harness_closed_form_on_validation(tmp_path, ltsf_dir):
    """benchmarks/ridge_path.py: its validation pick is the harness's closed-form cell."""
    from benchmarks import ridge_path
    from benchmarks.harness.models import Budget, run_cell
    from benchmarks.harness.task import Task

    out = tmp_path / "path.md"
    rows = ridge_path.main(["--datasets", "ETTh1", "--horizons", "24", "--data-dir",
                            str(ltsf_dir), "--out", str(out)])
    assert [r["alpha"] for r in rows] == list(ridge_path.PATH_ALPHAS)
    cell = run_cell({"kind": "closed_form", "norm": "mean"}, Task("ETTh1", 336, 24,
                                                                  str(ltsf_dir)), 0, Budget())
    picked = min((r for r in rows if r["alpha"] in ridge_path.ALPHA_GRID),
                 key=lambda r: r["val_mse"])
    assert picked["test_mse"] == pytest.approx(cell["mse"], rel=1e-9)
    assert f"| ETTh1 | 24 | {picked['alpha']:g} | {cell['mse']:.4f} |" in out.read_text()
    assert out.with_suffix(".csv").is_file()


def test_naive_forecasts_match_an_explicit_loop():
    from benchmarks.harness.adapters.naive import forecast

    x = np.random.default_rng(0).standard_normal((5, 12, 3)).astype(np.float32)
    last, mean = forecast(x, 4, "last"), forecast(x, 4, "mean")
    for b in range(5):
        for c in range(3):
            np.testing.assert_array_equal(last[b, :, c], np.full(4, x[b, -1, c]))
            np.testing.assert_allclose(mean[b, :, c], np.full(4, x[b, :, c].mean()), atol=1e-6)
    with pytest.raises(ValueError, match="method"):
        forecast(x, 4, "median")
    with pytest.raises(ValueError, match="x must be"):
        forecast(x[0], 4, "last")


def test_naive_repeat_reproduces_the_ltsf_linear_repeat_row(ltsf_dir):
    """LTSF-Linear's "Repeat" baseline on ETTh1 H=96 is MSE 1.295 (Zeng et al. 2023, Table 2)."""
    from benchmarks.harness.models import Budget, run_cell
    from benchmarks.harness.task import Task

    spec = {"name": "naive_last", "kind": "naive", "method": "last"}
    row = run_cell(spec, Task("ETTh1", 336, 96, str(ltsf_dir)), 0, Budget())
    assert row["n_test_windows"] == 2785 and row["params"] == 0
    assert row["mse"] == pytest.approx(1.295, abs=0.002)
    with pytest.raises(ValueError, match="method"):
        run_cell(dict(spec, method="median"), Task("ETTh1", 336, 96, str(ltsf_dir)), 0, Budget())
