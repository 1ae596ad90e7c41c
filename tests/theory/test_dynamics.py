"""Saxe mode trajectories, learning times and the stage detector (THEORY.md section 4)."""

import math

import pytest
import torch

from lightning_dln.theory import (
    Stage,
    detect_stages,
    learning_time,
    saxe_mode_trajectory,
)

F64 = torch.float64


def test_saxe_trajectory_solves_logistic_ode():
    """u(t) = s e^{2st}/(e^{2st} - 1 + s/u0) solves u' = 2u(s - u), u(0) = u0; no overflow."""
    t = torch.linspace(0.0, 5.0, 501, dtype=F64)
    s, u0 = 1.7, 1e-3
    u = saxe_mode_trajectory(t, s, u0)
    assert float(u[0]) == pytest.approx(u0)
    du = (u[2:] - u[:-2]) / (t[2:] - t[:-2])  # (T - 2,) central differences
    assert torch.allclose(du, 2 * u[1:-1] * (s - u[1:-1]), rtol=1e-3, atol=1e-6)
    assert float(saxe_mode_trajectory(1e4, s, u0)) == pytest.approx(s)
    half = math.log(s / u0) / (2 * s)  # time to s/2 from u0 << s
    assert float(saxe_mode_trajectory(half, s, u0)) == pytest.approx(s / 2, rel=1e-3)
    modes = saxe_mode_trajectory(t[:, None], torch.tensor([2.0, 1.0]), 1e-3)
    assert modes.shape == (501, 2)


def test_learning_time_depth_two_is_saxe_half_time():
    """N = 2: t(sigma0 -> phi/2) = ln((phi - sigma0)/sigma0)/(2 phi), the Saxe logistic."""
    sigma0, phi = 1e-3, 1.7
    t = learning_time(sigma0, phi, 2)
    assert float(saxe_mode_trajectory(t, phi, sigma0)) == pytest.approx(phi / 2, rel=1e-12)
    assert learning_time(sigma0, phi, 2, exact=True) == pytest.approx(t, rel=1e-8)
    assert learning_time(sigma0, phi, 1, exact=True) == pytest.approx(
        learning_time(sigma0, phi, 1), rel=1e-8
    )


@pytest.mark.parametrize("depth", [3, 4, 8])
def test_learning_time_asymptotic_for_small_init(depth):
    """N > 2: sigma0^{-(1-2/N)}/((N-2) phi) is the leading term as sigma0 -> 0."""
    phi = 1.0
    for sigma0, tol in [(1e-4, 0.2), (1e-8, 0.02)]:
        exact = learning_time(sigma0, phi, depth, exact=True)
        assert learning_time(sigma0, phi, depth) == pytest.approx(exact, rel=tol)


def test_learning_time_grows_exponentially_in_depth_from_small_init():
    times = [learning_time(1e-3, 1.0, n, exact=True) for n in (4, 8, 16)]
    assert times[0] < times[1] < times[2]
    assert learning_time(0.3, 1.0, 16, exact=True) < 10 * learning_time(0.3, 1.0, 4, exact=True)


def test_learning_time_invalid():
    with pytest.raises(ValueError, match="sigma0"):
        learning_time(0.6, 1.0, 3)
    with pytest.raises(ValueError, match="phi"):
        learning_time(0.1, -1.0, 3)
    with pytest.raises(ValueError, match="depth"):
        learning_time(0.1, 1.0, 0)


def _sigmoid_steps(n_steps, centers, heights, width, base=1.0):
    t = torch.arange(n_steps, dtype=F64)
    e = torch.full((n_steps,), base, dtype=F64)
    for c, h in zip(centers, heights, strict=True):
        e += h * torch.sigmoid((t - c) / width)
    return e


def test_detect_stages_on_synthetic_plateaus_and_jumps():
    """Plateau then sigmoidal jump: each jump found near its centre with ranks around it."""
    e = _sigmoid_steps(3000, centers=[600, 1500, 2400], heights=[1.0, 1.0, 0.8], width=15)
    noisy = e + 0.003 * torch.randn(3000, dtype=F64, generator=torch.Generator().manual_seed(0))
    for history in (e, noisy, e.tolist()):
        stages = detect_stages(history)
        assert [s.step for s in stages] == pytest.approx([600, 1500, 2400], abs=15)
        assert [round(s.rank_before, 1) for s in stages] == [1.0, 2.0, 3.0]
        assert [round(s.rank_after, 1) for s in stages] == [2.0, 3.0, 3.8]
    assert isinstance(stages[0], Stage)


def test_detect_stages_ignores_drops_small_rises_and_drift():
    e = _sigmoid_steps(2000, centers=[500, 1200], heights=[-1.0, 0.3], width=10, base=3.0)
    assert detect_stages(e) == []  # a drop and a rise below min_jump
    drift = torch.linspace(1.0, 1.8, 2000, dtype=F64)  # slow: never leaves the plateau test
    assert detect_stages(drift) == []
    assert len(detect_stages(e, min_jump=0.2)) == 1


def test_detect_stages_on_saxe_spectrum_history():
    """Effective rank of a (T, r) Saxe spectrum history rises in stages, strongest mode first:
    mode k shows up near its half-way time ln(s_k/u0)/(2 s_k)."""
    t = torch.linspace(0.0, 30.0, 3001, dtype=F64)
    s, u0 = torch.tensor([2.0, 1.0, 0.5], dtype=F64), 1e-8
    spectra = saxe_mode_trajectory(t[:, None], s, u0)  # (T, 3)
    stages = detect_stages(spectra)
    assert len(stages) == 2
    half_times = [math.log(x / u0) / (2 * x) for x in (1.0, 0.5)]
    assert [float(t[st.step]) for st in stages] == pytest.approx(half_times, rel=0.1)
    assert stages[0].rank_before < 1.1 and stages[1].rank_after > 2.4


def test_detect_stages_invalid():
    with pytest.raises(ValueError, match="T >= 2"):
        detect_stages([1.0])
    with pytest.raises(ValueError, match="finite"):
        detect_stages([1.0, float("nan")])
    with pytest.raises(ValueError, match="window"):
        detect_stages([1.0, 2.0, 3.0], window=0)
    with pytest.raises(ValueError, match="min_jump"):
        detect_stages([1.0, 2.0, 3.0], min_jump=-1)
    with pytest.raises(ValueError, match="history of shape .* non-negative"):
        detect_stages([[1.0, -0.5], [1.0, 0.5]])  # a spectrum history, not a rank history
    for not_numbers in (["a", "b"], [[1.0, 2.0], [3.0]], [1.0, None]):
        with pytest.raises(ValueError, match="history must be a sequence of numbers"):
            detect_stages(not_numbers)
