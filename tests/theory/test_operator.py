"""The closed-form depth-N operator, its limits, the metric and the singular-value velocity."""

import math

import pytest
import torch

from lightning_dln.theory import (
    depth_operator,
    depth_operator_reference,
    riemannian_metric,
    singular_value_velocity,
)

F64 = torch.float64


def _with_spectrum(m, n, spectrum, seed):
    """U diag(spectrum) V^T with Haar-random U (m x m), V (n x n), float64."""
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(m, m, dtype=F64, generator=gen))
    v, _ = torch.linalg.qr(torch.randn(n, n, dtype=F64, generator=gen))
    s = torch.zeros(m, n, dtype=F64)
    idx = torch.arange(len(spectrum))
    s[idx, idx] = torch.tensor(spectrum, dtype=F64)
    return u @ s @ v.T


CASES = {
    "wide m<n": (4, 7, [2.0, 1.3, 0.7, 0.4]),
    "tall m>n": (7, 4, [2.0, 1.3, 0.7, 0.4]),
    "square": (5, 5, [2.5, 1.7, 1.1, 0.8, 0.5]),
    "rank-deficient": (6, 5, [2.0, 1.0, 0.5, 0.0, 0.0]),
    "rank-deficient wide": (3, 8, [1.5, 0.6, 0.0]),
    "repeated": (5, 5, [1.5, 1.5, 1.0, 1.0, 0.3]),
    "repeated rectangular": (4, 6, [1.2, 1.2, 1.2, 0.7]),
}


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("depth", [1, 2, 3, 8, 64, 1000])
@pytest.mark.parametrize("case", sorted(CASES))
def test_closed_form_matches_reference_sum(case, depth):
    """P_N[W](G) in the SVD basis equals the literal sum of PSD matrix powers (rel 1e-9)."""
    m, n, spectrum = CASES[case]
    w = _with_spectrum(m, n, spectrum, seed=len(case))
    g = torch.randn(m, n, dtype=F64, generator=torch.Generator().manual_seed(depth))
    assert _rel(depth_operator(w, g, depth), depth_operator_reference(w, g, depth)) <= 1e-9


def test_rank_deficient_product_with_roundoff_singular_values():
    """A low-rank product has round-off singular values ~1e-16: the rcond threshold zeroes them.

    Without it, at N = 1000, s^{2/N} of a round-off value is ~0.93 and the kernel would switch on.
    """
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 2, dtype=F64, generator=gen) @ torch.randn(2, 8, dtype=F64, generator=gen)
    g = torch.randn(6, 8, dtype=F64, generator=gen)
    for depth in (64, 1000):
        assert _rel(depth_operator(w, g, depth), depth_operator_reference(w, g, depth)) <= 1e-9
    wrong = depth_operator(w, g, 1000, rcond=0.0)
    assert _rel(wrong, depth_operator_reference(w, g, 1000)) > 1e-3


@pytest.mark.parametrize("case", ["wide m<n", "tall m>n", "rank-deficient", "repeated"])
def test_infinite_depth_is_limit_of_normalised_operator(case):
    """A_inf = lim P_N / N. At N = 1e6 (closed form; the literal sum is out of reach) they agree
    within 1e-5: K_N / N = (ab)^{1-1/N} sinh(x)/(N sinh(x/N)) differs from the logarithmic mean
    ab sinh(x)/x by about |ln(ab)|/N <= 2e-6 here (x = ln(a/b)), and one-zero entries are
    s^{2-2/N}/N ~ 1e-6 against 0."""
    m, n, spectrum = CASES[case]
    w = _with_spectrum(m, n, spectrum, seed=1)
    g = torch.randn(m, n, dtype=F64, generator=torch.Generator().manual_seed(2))
    limit = depth_operator(w, g, math.inf)
    assert _rel(depth_operator(w, g, 10**6, normalized=True), limit) <= 1e-5
    assert _rel(depth_operator(w, g, 10**6) / 10**6, limit) <= 1e-5


def test_infinite_depth_equals_integral_definition():
    """A_inf(G) = int_0^1 (W W^T)^{1-s} G (W^T W)^s ds, approximated by the literal P_N / N.

    P_N / N is a Riemann sum of the integral with exponents (1 - j/N, (j-1)/N): O(1/N) error.
    """
    w = _with_spectrum(3, 5, [1.6, 0.9, 0.5], seed=4)
    g = torch.randn(3, 5, dtype=F64, generator=torch.Generator().manual_seed(5))
    depth = 400
    approx = depth_operator_reference(w, g, depth) / depth
    assert _rel(approx, depth_operator(w, g, math.inf)) <= 5e-3


def test_depth_one_is_identity_and_normalised_is_scaled():
    """P_1[W](G) = G (0-th powers are identities, kernel included); normalized=True is P_N/N."""
    w = _with_spectrum(4, 6, [1.0, 0.5, 0.0, 0.0], seed=3)
    g = torch.randn(4, 6, dtype=F64)
    assert torch.equal(depth_operator(w, g, 1), g)
    assert _rel(depth_operator(w, g, 8, normalized=True), depth_operator(w, g, 8) / 8) <= 1e-14


@pytest.mark.parametrize("depth", [3, math.inf])
def test_batched_equals_per_matrix(depth):
    """(G, m, n) input gives the per-matrix results (per-channel maps of the core model)."""
    gen = torch.Generator().manual_seed(7)
    w = torch.randn(4, 3, 5, dtype=F64, generator=gen)
    w[1] = w[1, :, :1] @ w[1, :1, :]  # a rank-1 member: per-matrix thresholds
    g = torch.randn(4, 3, 5, dtype=F64, generator=gen)
    batched = depth_operator(w, g, depth)
    for i in range(4):
        assert _rel(batched[i], depth_operator(w[i], g[i], depth)) <= 1e-13


def test_svd_driver_is_ignored_on_cpu():
    w, g = torch.randn(3, 5, dtype=F64), torch.randn(3, 5, dtype=F64)
    assert torch.equal(depth_operator(w, g, 4, svd_driver=None), depth_operator(w, g, 4))


def test_float32_input_keeps_dtype():
    w = _with_spectrum(5, 9, [2.0, 1.0, 0.5, 0.2, 0.1], seed=8)
    g = torch.randn(5, 9, dtype=F64)
    out = depth_operator(w.float(), g.float(), 64)
    assert out.dtype == torch.float32
    assert _rel(out.double(), depth_operator(w, g, 64)) <= 1e-5


@pytest.mark.parametrize("depth", [1, 2, 5, 64, math.inf])
def test_metric_of_flow_velocity_is_loss_decrease(depth):
    """g_N(P G, P G) = <G, P G> = -dl/dt along dW/dt = -P G (P = P_N, or A_inf for N = inf)."""
    w = _with_spectrum(4, 7, [2.0, 1.2, 0.6, 0.0], seed=9)
    g = torch.randn(4, 7, dtype=F64, generator=torch.Generator().manual_seed(10))
    velocity = depth_operator(w, g, depth)
    metric = riemannian_metric(w, velocity, depth)
    assert abs(float(metric) - float((g * velocity).sum())) <= 1e-10 * float(metric)


def test_metric_is_infinite_off_the_fixed_rank_manifold():
    """Z with a component in ker(W^T) x ker(W) is not tangent to the rank-r manifold: inf."""
    w = _with_spectrum(4, 5, [1.0, 0.5, 0.0, 0.0], seed=11)
    u, _, vh = torch.linalg.svd(w)
    z = torch.outer(u[:, 3], vh[3])  # kernel row x kernel column
    assert math.isinf(float(riemannian_metric(w, z, 3)))
    assert float(riemannian_metric(w, z, 1)) == pytest.approx(1.0)  # N = 1: Euclidean
    batch = riemannian_metric(torch.stack([w, w]), torch.stack([z, torch.outer(u[:, 0], vh[0])]), 3)
    assert math.isinf(float(batch[0])) and math.isfinite(float(batch[1]))


@pytest.mark.parametrize("depth", [1, 2, 4, 32])
def test_singular_value_velocity_matches_finite_difference(depth):
    """d sigma_r/dt = -N sigma_r^{2-2/N} <G, u_r v_r^T> along dW/dt = -P_N[W](G)."""
    w = _with_spectrum(4, 6, [2.0, 1.3, 0.8, 0.4], seed=12)
    g = torch.randn(4, 6, dtype=F64, generator=torch.Generator().manual_seed(13))
    h = 1e-6
    s_plus = torch.linalg.svdvals(w - h * depth_operator(w, g, depth))
    s_minus = torch.linalg.svdvals(w + h * depth_operator(w, g, depth))
    numeric = (s_plus - s_minus) / (2 * h)
    predicted = singular_value_velocity(w, g, depth)
    assert _rel(predicted, numeric) <= 1e-6
    assert _rel(singular_value_velocity(w, g, depth, normalized=True), predicted / depth) <= 1e-14


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 0}, "depth"),
        ({"depth": -2}, "depth"),
        ({"depth": 2.5}, "depth"),
        ({"depth": float("nan")}, "depth"),
        ({"depth": True}, "depth"),
        ({"depth": 3, "rcond": -1.0}, "rcond"),
        ({"depth": 3, "svd_driver": "lapack"}, "svd_driver"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    w, g = torch.randn(3, 4), torch.randn(3, 4)
    with pytest.raises(ValueError, match=match):
        depth_operator(w, g, **kwargs)


def test_invalid_tensors_raise():
    w, g = torch.randn(3, 4), torch.randn(3, 4)
    bad = w.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="W must be finite"):
        depth_operator(bad, g, 3)
    with pytest.raises(ValueError, match="G must be finite"):
        depth_operator(w, g.clone().fill_(float("inf")), 3)
    with pytest.raises(ValueError, match="same shape"):
        depth_operator(w, torch.randn(4, 3), 3)
    with pytest.raises(ValueError, match=r"\(m, n\)"):
        depth_operator(torch.randn(3), torch.randn(3), 3)
    with pytest.raises(ValueError, match="floating"):
        depth_operator(torch.ones(3, 4, dtype=torch.long), g, 3)
    with pytest.raises(ValueError, match="depth"):
        depth_operator_reference(w, g, math.inf)
    with pytest.raises(ValueError, match="atol"):
        riemannian_metric(w, g, 3, atol=-1.0)
    with pytest.raises(ValueError, match="Z must be finite"):
        riemannian_metric(w, bad, 3)


def test_svd_that_fails_to_converge_is_redone_in_float64(monkeypatch, caplog):
    from lightning_dln.theory import operator

    w = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    real_svd = torch.linalg.svd

    def flaky_svd(a, *args, **kwargs):
        if a.dtype == torch.float32:  # as LAPACK/cuSOLVER now and then do in float32
            raise torch.linalg.LinAlgError("failed to converge")
        return real_svd(a, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "svd", flaky_svd)
    with caplog.at_level("WARNING", logger=operator.__name__):
        u, s, vh = operator.thresholded_svd(w, full_matrices=False)
    assert "retrying in float64" in caplog.text
    assert u.dtype == s.dtype == vh.dtype == torch.float32
    torch.testing.assert_close(s, real_svd(w.double())[1].float())
    torch.testing.assert_close((u * s) @ vh, w, rtol=1e-5, atol=1e-5)
