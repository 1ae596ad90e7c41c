"""The fused residual low-rank chain against factor-by-factor autograd."""

import pytest
import torch

from lightning_dln.models import DeepLinear
from lightning_dln.models.lowrank_chain import lowrank_residual_chain


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def reference(x, us, vs):
    for u, v in zip(us, vs, strict=True):
        x = x + (x @ v[0].T) @ u[0].T
    return x


def make(n, width, rank, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    us = [(0.3 * torch.randn(1, width, rank, generator=g, dtype=dtype)).requires_grad_()
          for _ in range(n)]
    vs = [(0.3 * torch.randn(1, rank, width, generator=g, dtype=dtype)).requires_grad_()
          for _ in range(n)]
    x = torch.randn(11, width, generator=g, dtype=dtype).requires_grad_()
    return x, us, vs


@pytest.mark.parametrize("every", [1, 3, 16, 100])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-11), (torch.float32, 1e-4)])
def test_values_and_gradients_match_autograd(every, dtype, tol):
    x, us, vs = make(40, 9, 2, dtype)
    weights = torch.randn(11, 9, dtype=dtype)
    y_ref = reference(x, us, vs)
    grads_ref = torch.autograd.grad((y_ref * weights).sum(), [x, *us, *vs])
    y = lowrank_residual_chain(x, us, vs, checkpoint_every=every)
    grads = torch.autograd.grad((y * weights).sum(), [x, *us, *vs])
    assert rel(y, y_ref) < tol
    for got, want in zip(grads, grads_ref, strict=True):
        assert got.shape == want.shape
        assert rel(got, want) < tol


def test_input_is_not_modified_and_inference_keeps_nothing():
    x, us, vs = make(5, 6, 2, torch.float64)
    before = x.detach().clone()
    with torch.no_grad():
        y = lowrank_residual_chain(x, us, vs)
    assert torch.equal(x.detach(), before)
    assert rel(y, reference(x, us, vs).detach()) < 1e-12
    assert y.grad_fn is None


def test_deep_linear_uses_the_chain_and_matches_its_collapse():
    torch.manual_seed(0)
    stack = DeepLinear(12, 5, depth=30, factor="lowrank", rank=3, residual=True,
                       init="identity_residual").double()
    with torch.no_grad():
        for p in stack.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(7, 12, dtype=torch.float64)
    w, b = stack.end_to_end()
    assert rel(stack(x), x @ w[0].T + b[0]) < 1e-12
    # gradients equal those of the factor-by-factor path
    loss = stack(x).square().sum()
    fused = torch.autograd.grad(loss, list(stack.parameters()))
    h = x
    for factor in stack.factors:
        h = factor(h)
    slow = torch.autograd.grad((h + stack.bias[0]).square().sum(), list(stack.parameters()))
    for a, c in zip(fused, slow, strict=True):
        assert rel(a, c) < 1e-11


@pytest.mark.parametrize("kwargs, match", [
    ({"us": []}, "non-empty"), ({"checkpoint_every": 0}, "checkpoint_every"),
    ({"x": torch.randn(2, 3, 6)}, "rows, width")])
def test_bad_input(kwargs, match):
    x, us, vs = make(2, 6, 2, torch.float64)
    args = {"x": x, "us": us, "vs": vs, **kwargs}
    with pytest.raises(ValueError, match=match):
        lowrank_residual_chain(**args)
