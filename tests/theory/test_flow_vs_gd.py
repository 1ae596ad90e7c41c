"""Explicit gradient descent on balanced factors vs the closed-form depth flow (THEORY.md 1-3).

Setting: a 12 -> 5 least-squares problem, loss ``l(W) = ||X W^T - Y||^2 / (2B)`` so
``G = W Sigma - C``. Explicit GD on N balanced factors with per-layer rate ``lr0 / N`` covers
factor time ``t = k lr0 / N`` in k steps; the end-to-end matrix then follows
``dW/dt = -P_N[W](G)``, i.e. ``dW/dtau = -P_N[W](G) / N`` in ``tau = N t = k lr0``. The reference
solves that ODE with RK4 (checked converged); GD differs from it by O(lr0).
"""

import math

import pytest
import torch

from lightning_dln.theory import (
    DepthFlow,
    balanced_factors,
    balancedness,
    depth_operator,
    end_to_end,
    imbalance,
)

F64 = torch.float64
M, N_IN, HIDDEN = 5, 12, 6
TAUS = (1, 2, 3, 4)
LR0 = 1 / 320  # tau = k * lr0 is an exact step count; error ~ 0.12 * lr0 on this problem


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batched matmuls: threading only adds contention
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, N_IN, dtype=F64, generator=gen)  # (B, n)
    a = torch.randn(M, N_IN, dtype=F64, generator=gen) / math.sqrt(N_IN)
    y = x @ a.T + 0.1 * torch.randn(256, M, dtype=F64, generator=gen)  # (B, m)
    sigma, c = x.T @ x / 256, y.T @ x / 256  # (n, n), (m, n)
    w0 = 0.5 * torch.randn(M, N_IN, dtype=F64, generator=gen) / math.sqrt(N_IN)
    return sigma, c, w0


def _pad(factors, size):
    out = torch.zeros(len(factors), size, size, dtype=factors[0].dtype)  # (N, D, D)
    for j, w in enumerate(factors):
        out[j, : w.shape[0], : w.shape[1]] = w
    return out


def _unpad(stack, like):
    return [stack[j, : w.shape[0], : w.shape[1]] for j, w in enumerate(like)]


def explicit_gd(factors, sigma, c, lr, steps, record, dtype=F64, weight_decay=0.0):
    """Plain GD on every factor (true layer gradients), weight decay on each factor.

    Factors are zero-padded to a common square size D (padding stays zero: its gradient
    vanishes), and the prefix/suffix products are Hillis-Steele scans: O(log N) batched
    matmuls per step instead of O(N) tiny ones.
    """
    n_f, size = len(factors), max(max(w.shape) for w in factors)
    stack = _pad([w.to(dtype) for w in factors], size)  # (N, D, D)
    eye = torch.eye(size, dtype=dtype).unsqueeze(0)  # (1, D, D)
    sig = torch.zeros(size, size, dtype=dtype)
    sig[: sigma.shape[0], : sigma.shape[1]] = sigma
    cc = torch.zeros(size, size, dtype=dtype)
    cc[: c.shape[0], : c.shape[1]] = c
    out = {}
    for k in range(1, steps + 1):
        pre, suf, off = stack, stack, 1
        while off < n_f:  # pre[j] = W_j..W_1, suf[j] = W_N..W_j (1-based)
            pre = torch.cat([pre[:off], pre[off:] @ pre[: n_f - off]])
            suf = torch.cat([suf[off:] @ suf[: n_f - off], suf[n_f - off :]])
            off *= 2
        g = pre[-1] @ sig - cc  # (D, D): dl/dW, padded
        grads = torch.cat([suf[1:], eye]).mT @ g @ torch.cat([eye, pre[:-1]]).mT  # (N, D, D)
        stack = stack - lr * (grads + weight_decay * stack)
        if k in record:
            out[k] = _unpad(stack, factors)
    return out


def rk4_flow(w0, sigma, c, depth, taus, h):
    """RK4 for dW/dtau = -P_N[W](W Sigma - C) / N; returns {tau: W(tau)}."""

    def f(w):
        return -depth_operator(w, w @ sigma - c, depth, normalized=True)

    w, out, steps = w0.clone(), {}, round(max(taus) / h)
    for k in range(1, steps + 1):
        k1 = f(w)
        k2 = f(w + h / 2 * k1)
        k3 = f(w + h / 2 * k2)
        k4 = f(w + h * k3)
        w = w + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if any(abs(k * h - t) < 1e-12 for t in taus):
            out[round(k * h)] = w
    return out


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("depth", [8, 64])
def test_explicit_gd_tracks_closed_form_flow(problem, depth):
    """GD with per-layer rate lr0/N on exactly balanced factors tracks the depth-N flow.

    Invariant: ||W_gd(k) - W_flow(tau = k lr0)|| / ||W_flow|| <= 5e-4 at tau = 1..4, and the
    error is first order in lr0 (halving lr0 halves it: ratio 2.0 +- 0.2).
    """
    sigma, c, w0 = problem
    ref = rk4_flow(w0, sigma, c, depth, TAUS, h=0.02)
    coarse = rk4_flow(w0, sigma, c, depth, TAUS, h=0.04)
    assert max(_rel(coarse[t], ref[t]) for t in TAUS) < 1e-7  # the reference has converged
    assert _rel(ref[4], w0) > 0.5  # the flow moves W substantially

    factors = balanced_factors(
        w0, depth, widths=[HIDDEN] * (depth - 1), generator=torch.Generator().manual_seed(1)
    )
    errors = {}
    for lr0 in (LR0, LR0 / 2):
        steps = {round(t / lr0): t for t in TAUS}
        runs = explicit_gd(factors, sigma, c, lr0 / depth, max(steps), set(steps))
        errors[lr0] = [_rel(end_to_end(runs[k]), ref[t]) for k, t in steps.items()]
    assert max(errors[LR0]) <= 5e-4, errors
    ratios = [a / b for a, b in zip(errors[LR0], errors[LR0 / 2], strict=True)]
    assert all(1.8 <= r <= 2.2 for r in ratios), ratios


@pytest.mark.parametrize("depth", [8, 64])
def test_depth_flow_optimizer_tracks_closed_form_flow(problem, depth):
    """DepthFlow(lr0, N) is forward Euler on dW/dtau = -P_N[W](G)/N: O(lr0) from the flow."""
    sigma, c, w0 = problem
    ref = rk4_flow(w0, sigma, c, depth, TAUS, h=0.02)
    errors = {}
    for lr0 in (LR0, LR0 / 2):
        w = torch.nn.Parameter(w0.clone())
        opt = DepthFlow([w], lr=lr0, depth=depth)
        steps, errs = {round(t / lr0): t for t in TAUS}, []
        for k in range(1, max(steps) + 1):
            w.grad = w.detach() @ sigma - c
            opt.step()
            if k in steps:
                errs.append(_rel(w.detach(), ref[steps[k]]))
        errors[lr0] = errs
    assert max(errors[LR0]) <= 5e-4, errors
    ratios = [a / b for a, b in zip(errors[LR0], errors[LR0 / 2], strict=True)]
    assert all(1.8 <= r <= 2.2 for r in ratios), ratios


@pytest.mark.parametrize("depth", [8, 64])
def test_balancedness_conserved_float32(problem, depth):
    """Balance is conserved by the flow; GD drifts by O(lr): <= 1e-4 relative in float32."""
    sigma, c, w0 = problem
    factors = balanced_factors(
        w0.float(), depth, widths=[HIDDEN] * (depth - 1), generator=torch.Generator().manual_seed(1)
    )
    assert balancedness(factors) < 1e-6
    steps = round(max(TAUS) / LR0)
    run = explicit_gd(factors, sigma.float(), c.float(), LR0 / depth, steps, {steps}, torch.float32)
    assert balancedness(run[steps]) <= 1e-4


def test_weight_decay_shrinks_imbalance_exponentially(problem):
    """With per-factor weight decay lambda, D_j(t) = exp(-2 lambda t) D_j(0) (any init).

    Explicit GD with small lr from a non-balanced init: relative error <= 1e-3.
    """
    sigma, c, _ = problem
    gen = torch.Generator().manual_seed(3)
    shapes = [(HIDDEN, N_IN), (HIDDEN, HIDDEN), (M, HIDDEN)]
    factors = [0.4 * torch.randn(*s, dtype=F64, generator=gen) for s in shapes]
    lam, lr, steps = 0.5, 5e-4, 2000
    d0 = imbalance(factors)
    assert min(float(d.norm()) for d in d0) > 0.1  # genuinely non-balanced
    run = explicit_gd(factors, sigma, c, lr, steps, {steps}, weight_decay=lam)[steps]
    decay = math.exp(-2 * lam * lr * steps)
    for d_t, d_0 in zip(imbalance(run), d0, strict=True):
        assert _rel(d_t, decay * d_0) <= 1e-3
