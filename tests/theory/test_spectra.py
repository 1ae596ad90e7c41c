"""Spectra: effective rank and the Menon-Yu entropy vs the orbit-volume Gram determinant."""

import math

import pytest
import torch

from lightning_dln.theory import (
    balanced_factors,
    effective_rank,
    entropy,
    orbit_gram_logdet,
    singular_values,
)

F64 = torch.float64


def _square(spectrum, seed):
    gen = torch.Generator().manual_seed(seed)
    d = len(spectrum)
    u, _ = torch.linalg.qr(torch.randn(d, d, dtype=F64, generator=gen))
    v, _ = torch.linalg.qr(torch.randn(d, d, dtype=F64, generator=gen))
    return u @ torch.diag(torch.tensor(spectrum, dtype=F64)) @ v.T


def test_effective_rank_roy_vetterli():
    """erank = exp(H(s / sum s)): rank r for a flat spectrum, 1 for rank one, 0 for zero."""
    assert float(effective_rank(torch.tensor([2.0, 2.0, 2.0, 0.0]))) == pytest.approx(3.0)
    assert float(effective_rank(torch.tensor([5.0, 0.0, 0.0]))) == pytest.approx(1.0)
    assert float(effective_rank(torch.zeros(4))) == 0.0
    p = torch.tensor([0.5, 0.25, 0.25], dtype=F64)
    expected = math.exp(-float((p * p.log()).sum()))
    assert float(effective_rank(4 * p)) == pytest.approx(expected, rel=1e-12)
    w = _square([3.0, 1.0, 0.5], seed=0)
    assert float(effective_rank(w)) == pytest.approx(float(effective_rank(singular_values(w))))


def test_effective_rank_batches():
    history = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # (T, r) spectrum history
    assert effective_rank(history, is_spectrum=True).tolist() == pytest.approx([1.0, 2.0])
    mats = torch.stack([torch.eye(3), torch.diag(torch.tensor([1.0, 0.0, 0.0]))])
    assert effective_rank(mats).tolist() == pytest.approx([3.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        effective_rank(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="floating"):
        effective_rank(torch.tensor([1, 2]))


SPECTRA = [
    [3.0, 2.0, 1.0, 0.5],
    [1.0, 1.0, 2.0, 0.3],  # repeated
    [2.0, 2.0, 2.0, 1.0],  # triple
    [1.5, 1.5, 1.5, 1.5],  # all equal (X = scaled orthogonal)
    [4.0, 1.0, 0.2, 0.1],
    [1.0, 0.5, 0.2, 0.0],  # rank d - 1: still finite (one zero, no zero pair)
]


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_entropy_matches_orbit_gram_logdet(depth):
    """S_N(X) = 1/2 sum_{i<j} ln K_ij equals 1/2 log det of the orbit's tangent Gram matrix up
    to an X-independent constant: differences S(X1) - S(X2) agree within 1e-9."""
    gaps = []
    for seed, spectrum in enumerate(SPECTRA):
        x = _square(spectrum, seed)
        factors = balanced_factors(x, depth, generator=torch.Generator().manual_seed(seed))
        gaps.append(orbit_gram_logdet(factors) - float(entropy(x, depth)))
    assert max(gaps) - min(gaps) <= 1e-9, gaps


def test_entropy_of_singular_matrix():
    """Two zero singular values give K = 0 for that pair: S = -inf, and the Gram is singular."""
    x = _square([2.0, 1.0, 0.0, 0.0], seed=9)
    assert float(entropy(x, 3)) == -math.inf
    for seed in range(5):
        gen = torch.Generator().manual_seed(seed)
        assert orbit_gram_logdet(balanced_factors(x, 3, widths=[4, 4], generator=gen)) == -math.inf
    assert float(entropy(x, 1)) == 0.0  # N = 1: K = 1, a single point per X


def test_entropy_closed_form_and_limits():
    """1/2 ln(van(s^2)/van(s^{2/N})) for distinct s; repeated s use K = N s^{2-2/N}; the
    math.inf entropy is the limit of S_N - (d(d-1)/4) ln N."""
    s = torch.tensor([3.0, 1.5, 0.4], dtype=F64)
    x = _square(s.tolist(), seed=3)
    depth = 4
    van = sum(
        math.log((s[i] ** 2 - s[j] ** 2) / (s[i] ** (2 / depth) - s[j] ** (2 / depth)))
        for i in range(3)
        for j in range(i + 1, 3)
    )
    assert float(entropy(x, depth)) == pytest.approx(0.5 * van, rel=1e-12)
    rep = _square([2.0, 2.0], seed=4)
    assert float(entropy(rep, depth)) == pytest.approx(
        0.5 * math.log(depth * 2.0 ** (2 - 2 / depth))
    )
    big = 10**6
    shifted = float(entropy(x, big)) - 3 / 2 * math.log(big)
    assert shifted == pytest.approx(float(entropy(x, math.inf)), abs=1e-4)
    batch = entropy(torch.stack([x, 2 * x]), depth)
    assert batch.shape == (2,)


def test_entropy_invalid_inputs():
    with pytest.raises(ValueError, match="square"):
        entropy(torch.randn(3, 4), 2)
    with pytest.raises(ValueError, match="depth"):
        entropy(torch.randn(3, 3), 0)
    with pytest.raises(ValueError, match="square"):
        orbit_gram_logdet([torch.randn(3, 4), torch.randn(4, 3)])
    with pytest.raises(ValueError, match="at least 2"):
        orbit_gram_logdet([torch.randn(3, 3)])
