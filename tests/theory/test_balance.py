"""Factor lists: end-to-end product, imbalance, balancedness and the balanced construction."""

import pytest
import torch

from lightning_dln.theory import balanced_factors, balancedness, end_to_end, imbalance

F64 = torch.float64


def _rel(a, b):
    return float((a - b).norm() / b.norm())


def test_end_to_end_is_product_with_w1_at_the_input():
    gen = torch.Generator().manual_seed(0)
    w1, w2, w3 = (torch.randn(s, generator=gen, dtype=F64) for s in [(4, 6), (3, 4), (2, 3)])
    assert torch.allclose(end_to_end([w1, w2, w3]), w3 @ w2 @ w1)
    assert torch.equal(end_to_end([w1]), w1)
    batched = end_to_end([torch.stack([w1, 2 * w1]), torch.stack([w2, w2])])
    assert torch.allclose(batched[1], 2 * w2 @ w1)


@pytest.mark.parametrize("depth", [2, 3, 7])
@pytest.mark.parametrize("shape", [(5, 12), (12, 5), (6, 6)])
def test_balanced_factors_reproduce_target_and_are_balanced(depth, shape):
    """Product == target (float64, 1e-10) and every D_j = W_{j+1}^T W_{j+1} - W_j W_j^T ~ 0."""
    target = torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(depth))
    widths = [min(shape) + j for j in range(depth - 1)]  # any widths >= rank
    factors = balanced_factors(target, depth, widths, torch.Generator().manual_seed(1))
    assert [w.shape for w in factors][0] == (widths[0], shape[1])
    assert factors[-1].shape == (shape[0], widths[-1])
    assert _rel(end_to_end(factors), target) <= 1e-10
    assert balancedness(factors) <= 1e-12
    assert all(float(d.abs().max()) <= 1e-12 for d in imbalance(factors))


def test_balanced_factors_rank_deficient_target_and_narrow_widths():
    """Widths only need to reach the rank; round-off singular values are dropped."""
    gen = torch.Generator().manual_seed(2)
    target = torch.randn(7, 2, dtype=F64, generator=gen) @ torch.randn(
        2, 9, dtype=F64, generator=gen
    )
    factors = balanced_factors(target, 5, widths=[2, 3, 2, 4], generator=gen)
    assert _rel(end_to_end(factors), target) <= 1e-10
    assert balancedness(factors) <= 1e-12
    with pytest.raises(ValueError, match="rank"):
        balanced_factors(target, 3, widths=[1, 2])


def test_balanced_factors_depth_1000_small():
    """Depth 1000 works: factor singular values are s^{1/1000}, product still exact."""
    target = torch.randn(3, 4, dtype=F64, generator=torch.Generator().manual_seed(3))
    factors = balanced_factors(target, 1000)
    assert len(factors) == 1000
    assert _rel(end_to_end(factors), target) <= 1e-10
    assert balancedness(factors) <= 1e-12


def test_balanced_factors_batch_and_dtype():
    """(G, m, n) targets give (G, d_j, d_{j-1}) factors, each balanced; dtype is kept."""
    target = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(4))
    target[1] = 0.0  # a zero member: zero factors, still balanced
    factors = balanced_factors(target, 4, widths=[5, 5, 5])
    assert all(w.dtype == torch.float32 and w.shape[0] == 3 for w in factors)
    assert _rel(end_to_end(factors).double(), target.double()) <= 1e-6
    assert float(end_to_end(factors)[1].abs().max()) == 0.0
    assert balancedness(factors) <= 1e-6
    assert torch.equal(balanced_factors(target, 1)[0], target)


def test_balanced_factors_reproducible_with_generator():
    target = torch.randn(4, 6, dtype=F64)
    a = balanced_factors(target, 3, generator=torch.Generator().manual_seed(5))
    b = balanced_factors(target, 3, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_balancedness_rescaling_symmetry():
    """W_j -> c W_j, W_{j+1} -> W_{j+1}/c keeps the product but breaks balance (c != 1);
    a global rescale of all factors keeps the relative measure."""
    target = torch.randn(4, 5, dtype=F64, generator=torch.Generator().manual_seed(6))
    w1, w2, w3 = balanced_factors(target, 3)
    skewed = [w1, 2.0 * w2, w3 / 2.0]
    assert _rel(end_to_end(skewed), target) <= 1e-12
    assert balancedness(skewed) > 0.1
    assert balancedness([3 * w for w in skewed]) == pytest.approx(balancedness(skewed), rel=1e-12)
    assert balancedness([w1]) == 0.0
    assert balancedness([torch.zeros(3, 4), torch.zeros(2, 3)]) == 0.0


def test_imbalance_shapes():
    factors = [torch.randn(4, 6), torch.randn(3, 4), torch.randn(2, 3)]
    assert [d.shape for d in imbalance(factors)] == [(4, 4), (3, 3)]
    assert imbalance(factors[:1]) == []


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="at least one"):
        end_to_end([])
    with pytest.raises(ValueError, match="chain"):
        end_to_end([torch.randn(4, 6), torch.randn(3, 5)])
    with pytest.raises(ValueError, match="batch shape"):
        end_to_end([torch.randn(2, 4, 6), torch.randn(3, 3, 4)])
    with pytest.raises(ValueError, match="list of tensors"):
        imbalance(torch.randn(3, 3))
    bad = torch.randn(3, 3)
    bad[1, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        balancedness([bad])
    with pytest.raises(ValueError, match="depth"):
        balanced_factors(torch.randn(3, 3), 0)
    with pytest.raises(ValueError, match="widths"):
        balanced_factors(torch.randn(3, 3), 3, widths=[3])
    with pytest.raises(ValueError, match="target must be finite"):
        balanced_factors(bad, 2)
