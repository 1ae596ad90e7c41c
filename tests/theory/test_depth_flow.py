"""The DepthFlow optimizer: one closed-form depth-N step per call, any N including infinity."""

import math

import pytest
import torch

from lightning_dln.theory import DepthFlow, depth_operator

F64 = torch.float64


def _params(seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.nn.Parameter(torch.randn(5, 12, dtype=F64, generator=gen))
    b = torch.nn.Parameter(torch.randn(5, dtype=F64, generator=gen))
    grads = [torch.randn(5, 12, dtype=F64, generator=gen), torch.randn(5, dtype=F64, generator=gen)]
    return [w, b], grads


def _run(opt_factory, steps=3, seed=0):
    params, grads = _params(seed)
    opt = opt_factory(params)
    for k in range(steps):
        for p, g in zip(params, grads, strict=True):
            p.grad = (k + 1) * g + 0.1 * p.detach()  # state-dependent gradient
        opt.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize(
    ("momentum", "weight_decay"), [(0.0, 0.0), (0.9, 0.0), (0.0, 0.01), (0.5, 0.1)]
)
def test_depth_one_is_plain_sgd(momentum, weight_decay):
    """P_1 is the identity, so DepthFlow(depth=1) is torch.optim.SGD (momentum, weight decay)."""
    kwargs = {"lr": 0.05, "momentum": momentum, "weight_decay": weight_decay}
    ours = _run(lambda p: DepthFlow(p, depth=1, **kwargs))
    sgd = _run(lambda p: torch.optim.SGD(p, **kwargs))
    for a, b in zip(ours, sgd, strict=True):
        assert torch.allclose(a, b, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("depth", [2, 8, 1000, math.inf])
def test_step_is_normalised_operator_step(depth):
    """W <- W - lr (P_N[W](G)/N + lambda W) (A_inf for N = inf); biases take an SGD step."""
    (w, b), (gw, gb) = _params(1)
    w0, b0 = w.detach().clone(), b.detach().clone()
    opt = DepthFlow([w, b], lr=0.1, depth=depth, weight_decay=0.01)
    w.grad, b.grad = gw, gb
    opt.step()
    expected = w0 - 0.1 * (depth_operator(w0, gw, depth, normalized=True) + 0.01 * w0)
    assert torch.allclose(w.detach(), expected, rtol=1e-13, atol=1e-13)
    assert torch.allclose(b.detach(), b0 - 0.1 * (gb + 0.01 * b0))


def test_batched_parameter_equals_per_matrix():
    """A (G, m, n) parameter (per-channel maps) moves like G separate (m, n) parameters."""
    gen = torch.Generator().manual_seed(2)
    w = torch.nn.Parameter(torch.randn(3, 4, 6, dtype=F64, generator=gen))
    g = torch.randn(3, 4, 6, dtype=F64, generator=gen)
    singles = [torch.nn.Parameter(w.detach()[i].clone()) for i in range(3)]
    opt_b, opt_s = DepthFlow([w], lr=0.2, depth=16), DepthFlow(singles, lr=0.2, depth=16)
    w.grad = g
    for i, p in enumerate(singles):
        p.grad = g[i].clone()
    opt_b.step()
    opt_s.step()
    for i, p in enumerate(singles):
        assert torch.allclose(w.detach()[i], p.detach(), rtol=1e-13, atol=1e-13)


def test_param_groups_carry_their_own_depth():
    (w, b), (gw, gb) = _params(3)
    w2 = torch.nn.Parameter(w.detach().clone())
    opt = DepthFlow([{"params": [w], "depth": 4}, {"params": [w2]}], lr=0.1, depth=math.inf)
    w.grad, w2.grad = gw, gw.clone()
    start = w.detach().clone()
    opt.step()
    assert torch.allclose(w.detach(), start - 0.1 * depth_operator(start, gw, 4, normalized=True))
    assert torch.allclose(w2.detach(), start - 0.1 * depth_operator(start, gw, math.inf))


def test_closure_state_dict_and_skipped_params():
    (w, b), (gw, _) = _params(4)
    opt = DepthFlow([w, b], lr=0.1, depth=8, momentum=0.9)

    def closure():
        opt.zero_grad()
        w.grad = gw.clone()
        return 1.5

    assert opt.step(closure) == 1.5  # b has no gradient: untouched
    state = opt.state_dict()
    clone = DepthFlow([w, b], lr=0.1, depth=8, momentum=0.9)
    clone.load_state_dict(state)
    assert torch.equal(clone.state[w]["momentum_buffer"], opt.state[w]["momentum_buffer"])


def test_float32_cpu_step_keeps_dtype():
    w = torch.nn.Parameter(torch.randn(3, 7))
    w.grad = torch.randn(3, 7)
    DepthFlow([w], lr=0.1, depth=64).step()
    assert w.dtype == torch.float32 and bool(torch.isfinite(w).all())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": -0.1, "depth": 2}, "lr"),
        ({"lr": 0.1, "depth": 0}, "depth"),
        ({"lr": 0.1, "depth": 1.5}, "depth"),
        ({"lr": 0.1, "depth": -math.inf}, "depth"),
        ({"lr": 0.1, "depth": 2, "momentum": 1.0}, "momentum"),
        ({"lr": 0.1, "depth": 2, "weight_decay": -1.0}, "weight_decay"),
        ({"lr": 0.1, "depth": 2, "rcond": 2.0}, "rcond"),
        ({"lr": 0.1, "depth": 2, "svd_driver": "magma"}, "svd_driver"),
    ],
)
def test_invalid_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DepthFlow([torch.nn.Parameter(torch.randn(2, 2))], **kwargs)


def test_invalid_group_and_gradient_raise():
    w = torch.nn.Parameter(torch.randn(2, 3))
    with pytest.raises(ValueError, match="depth"):
        DepthFlow([{"params": [w], "depth": 0}], lr=0.1, depth=2)
    opt = DepthFlow([w], lr=0.1, depth=2)
    w.grad = torch.full((2, 3), float("nan"))
    with pytest.raises(ValueError, match="gradient .* not finite"):
        opt.step()
    w.grad = torch.ones(2, 3)
    with torch.no_grad():
        w[0, 0] = float("inf")
    with pytest.raises(ValueError, match="diverged"):
        opt.step()
