"""The deep linear stack: factors, initialisations, collapse, bad input."""

import pytest
import torch

from lightning_dln.models import (
    DeepLinear,
    DenseFactor,
    DiagonalFactor,
    LowRankFactor,
    ResidualFactor,
    balanced_from_target,
    init_matrices,
)


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("kind", ["dense", "lowrank", "diagonal"])
@pytest.mark.parametrize("groups", [1, 3])
def test_factor_forward_equals_its_matrix(kind, groups):
    """Every factor's forward is multiplication by its dense matrix()."""
    torch.manual_seed(0)
    factor = {"dense": DenseFactor(6, 4, groups), "lowrank": LowRankFactor(6, 4, 2, groups),
              "diagonal": DiagonalFactor(6, 4, groups)}[kind]
    x = torch.randn(5, groups, 6)
    expected = torch.einsum("bgi,goi->bgo", x, factor.matrix())
    assert torch.allclose(factor(x), expected, atol=1e-6)


def test_parameter_counts():
    assert DenseFactor(6, 4, 2).num_parameters() == 2 * 24
    assert LowRankFactor(6, 4, 3).num_parameters() == (6 + 4) * 3
    assert DiagonalFactor(6, 4).num_parameters() == 4
    assert ResidualFactor(DenseFactor(5, 5)).num_parameters() == 25


def test_lowrank_set_matrix_is_exact_for_low_rank_targets():
    f = LowRankFactor(7, 5, rank=2)
    target = torch.randn(1, 5, 2) @ torch.randn(1, 2, 7)
    f.set_matrix(target)
    assert torch.allclose(f.matrix(), target, atol=1e-5)


@pytest.mark.parametrize("groups", [1, 3])
def test_lowrank_zero_target_leaves_the_saddle(groups):
    # Regression: set_matrix(0) once gave U = V = 0, where neither factor gets a gradient, so
    # identity-residual low-rank stacks never trained their hidden factors.
    torch.manual_seed(0)
    f = LowRankFactor(6, 6, rank=2, groups=groups)
    f.set_matrix(torch.zeros(groups, 6, 6))
    assert f.matrix().abs().max() == 0  # the product is exactly the target
    assert f.u.abs().min() > 0  # but U is random, so V receives a gradient
    stack = DeepLinear(6, 4, depth=3, factor="lowrank", rank=2, residual=True,
                       init="identity_residual", groups=groups)
    x = torch.randn(5, 6) if groups == 1 else torch.randn(5, groups, 6)
    stack(x).square().sum().backward()
    for factor in stack.factors:
        if isinstance(factor, ResidualFactor):
            assert factor.inner.v.grad.abs().max() > 0


def test_residual_factor_is_identity_plus_inner():
    inner = DenseFactor(4, 4)
    r = ResidualFactor(inner)
    assert torch.allclose(r.matrix(), torch.eye(4) + inner.matrix())
    with pytest.raises(ValueError, match="square"):
        ResidualFactor(DenseFactor(4, 3))


def test_balanced_construction_is_exact_and_balanced():
    """THEORY.md section 1: product equals the target and every imbalance D_j is zero."""
    torch.manual_seed(0)
    target = torch.randn(2, 5, 12, dtype=torch.float64)
    mats = balanced_from_target(target, [12, 9, 7, 8, 5])
    prod = mats[0]
    for m in mats[1:]:
        prod = m @ prod
    assert rel(prod, target) < 1e-12
    for lower, upper in zip(mats[:-1], mats[1:], strict=True):
        imbalance = upper.transpose(-1, -2) @ upper - lower @ lower.transpose(-1, -2)
        assert imbalance.abs().max() < 1e-12


@pytest.mark.parametrize("init", ["balanced", "orthogonal", "identity_residual", "small"])
@pytest.mark.parametrize("kind", ["dense", "lowrank", "diagonal"])
def test_collapse_equals_deep_forward(init, kind):
    torch.manual_seed(1)
    stack = DeepLinear(10, 6, depth=5, width=12, factor=kind, rank=4, residual=True, init=init,
                       init_scale=0.5, groups=3).double()
    torch.nn.init.normal_(stack.bias)
    x = torch.randn(8, 3, 10, dtype=torch.float64)
    assert rel(stack.collapse()(x), stack(x)) < 1e-12


def test_depth_1000_collapse_float64_and_init_scale():
    """Depth 1000: collapse matches to 1e-9 (float64); end-to-end norm within 2x of init_scale."""
    torch.manual_seed(0)
    stack = DeepLinear(48, 16, depth=1000, width=48, init="balanced", init_scale=0.5).double()
    x = torch.randn(32, 48, dtype=torch.float64)
    y = stack(x)
    assert torch.isfinite(y).all()
    assert rel(stack.collapse()(x), y) <= 1e-9
    w, _ = stack.end_to_end()
    norm = torch.linalg.matrix_norm(w[0], ord=2).item()
    assert 0.25 <= norm <= 1.0


def test_depth_100_collapse_float32():
    torch.manual_seed(0)
    stack = DeepLinear(64, 24, depth=100, init="orthogonal", init_scale=1.0)
    x = torch.randn(16, 64)
    assert rel(stack.collapse()(x), stack(x)) <= 1e-4


def test_depth_one_is_a_linear_layer():
    stack = DeepLinear(5, 3, depth=1)
    assert len(stack.factors) == 1 and stack.num_parameters() == 15 + 3
    layer = stack.collapse()
    assert isinstance(layer, torch.nn.Linear)


def test_balanced_init_from_target_matrix():
    target = torch.randn(4, 9)
    stack = DeepLinear(9, 4, depth=6, target=target)
    w, _ = stack.end_to_end(torch.float64)
    assert rel(w[0], target.double()) < 1e-5


@pytest.mark.parametrize(("n_in", "n_out"), [(12, 8), (8, 12)])
def test_balanced_init_through_a_bottleneck_keeps_rank_width_at_scale(n_in, n_out):
    """A hidden width below min(in, out) caps the product's rank; balanced init keeps that rank.

    Reference: the SVD of the collapsed map (exactly ``width`` singular values equal to
    ``init_scale``, the rest zero) and the imbalances ``W_{j+1}^T W_{j+1} - W_j W_j^T``, to
    the float32 round-off of the stored factors.
    """
    torch.manual_seed(3)
    stack = DeepLinear(n_in, n_out, depth=4, width=3, init="balanced", init_scale=0.5,
                       groups=2).double()
    w, _ = stack.end_to_end(torch.float64)
    s = torch.linalg.svdvals(w)
    assert torch.allclose(s[:, :3], torch.full((2, 3), 0.5, dtype=torch.float64), atol=1e-6)
    assert s[:, 3:].abs().max() < 1e-6
    mats = [m.double() for m in stack.matrices()]
    for lower, upper in zip(mats[:-1], mats[1:], strict=True):
        gap = upper.transpose(-1, -2) @ upper - lower @ lower.transpose(-1, -2)
        assert gap.abs().max() < 1e-6


def test_balanced_diagonal_init_through_a_bottleneck_is_balanced():
    torch.manual_seed(0)
    stack = DeepLinear(9, 6, depth=3, width=2, factor="diagonal", init="balanced",
                       init_scale=0.8).double()
    w, _ = stack.end_to_end(torch.float64)
    assert torch.allclose(torch.linalg.svdvals(w[0]), torch.tensor(
        [0.8, 0.8, 0, 0, 0, 0], dtype=torch.float64), atol=1e-6)


def test_activation_control_does_not_collapse():
    stack = DeepLinear(6, 3, depth=3, activation="relu")
    assert stack(torch.randn(2, 6)).shape == (2, 3)
    with pytest.raises(ValueError, match="not linear"):
        stack.collapse()


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 0}, "depth"), ({"depth": 2.5}, "depth"), ({"width": 0}, "width"),
    ({"factor": "monarch"}, "factor"), ({"init": "xavier"}, "init"),
    ({"activation": "swish"}, "activation"), ({"init_scale": -1.0}, "init_scale"),
    ({"init_scale": float("nan")}, "init_scale"), ({"factor": "lowrank"}, "rank"),
    ({"in_features": 0}, "in_features"), ({"groups": 0}, "groups"),
    ({"depth": 3, "width": 2, "target": torch.ones(4, 6) + torch.eye(4, 6)}, "hidden widths"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    args = {"in_features": 6, "out_features": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        DeepLinear(**args)


@pytest.mark.parametrize("args, match", [
    (("xavier", [6, 4], 1, 1.0), "init must be one of"),
    (("balanced", [6], 1, 1.0), "dims must be a list"), (("small", 6, 1, 1.0), "dims"),
    (("orthogonal", [6, 0, 4], 1, 1.0), "dims"), (("small", [6, 4], 0, 1.0), "groups"),
    (("balanced", [6, 4], 1, 0.0), "scale"), (("balanced", [6, 4], 1, float("inf")), "scale"),
    (("balanced", [6, 4], 1, 1.0, torch.ones(4, 6)), "target must be a real"),
    (("balanced", [6, 4], 2, 1.0, torch.ones(1, 4, 6)), "groups=2"),
    (("balanced", [6, 4], 1, 1.0, torch.full((1, 4, 6), float("nan"))), "finite"),
])
def test_init_matrices_bad_arguments_are_value_errors(args, match):
    with pytest.raises(ValueError, match=match):
        init_matrices(*args)


@pytest.mark.parametrize("target, dims, match", [
    (torch.ones(4, 6), [6, 4], "target must be a real"),
    (torch.full((1, 4, 6), float("nan")), [6, 4], "finite"),
    (torch.ones(1, 4, 6), 3, "dims must be a list"),
    (torch.ones(1, 4, 6), [7, 4], "dims must start with 6 and end with 4"),
])
def test_balanced_from_target_bad_arguments_are_value_errors(target, dims, match):
    with pytest.raises(ValueError, match=match):
        balanced_from_target(target, dims)


def test_wrong_input_shape_is_value_error():
    with pytest.raises(ValueError, match="input must have shape"):
        DeepLinear(6, 4, depth=2)(torch.randn(3, 5))
