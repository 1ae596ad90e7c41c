"""A run of residual low-rank factors ``x <- x + (x V_j^T) U_j^T`` as one autograd node.

Why: through plain autograd, each factor of a deep residual low-rank stack allocates and keeps a
fresh ``(rows, width)`` activation (2.4 GB at depth 1000 for an ETTh1 batch), and its backward
allocates as many again; at rank 16 those memory passes, not the flops, set the step time.
Here the forward runs in place on one buffer and keeps only the rank-``r`` projections
``T_j = x_j V_j^T`` ``(rows, r)`` plus a copy of ``x`` every ``checkpoint_every`` factors. The
backward walks the factors in reverse and recovers each input ``x_j`` from the output of its
factor by subtracting the same ``T_j U_j^T`` (restarting from the stored copy at every
checkpoint, so round-off cannot build up over more than ``checkpoint_every`` factors); the
gradients agree with autograd's to float round-off (tests compare them).

Shared weights only (``groups == 1``); per-channel stacks keep the per-factor path.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

CHECKPOINT_EVERY = 16


class _LowRankResidualChain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, every: int, *params: Tensor) -> Tensor:  # noqa: D102
        n = len(params) // 2
        us, vs = params[:n], params[n:]  # u: (1, width, r), v: (1, r, width)
        rows, rank = x.shape[0], vs[0].shape[1]
        out = x.clone()  # the working buffer, updated in place factor after factor
        projections = x.new_empty(n, rows, rank)  # T_j = x_j V_j^T
        checkpoints = []
        keep = any(ctx.needs_input_grad)  # inference: nothing to keep for a backward
        for j in range(n):
            if keep and j % every == 0:
                checkpoints.append(out.clone())
            torch.mm(out, vs[j][0].T, out=projections[j])
            out.addmm_(projections[j], us[j][0].T)
        ctx.every = every
        ctx.save_for_backward(out, projections, *checkpoints, *params)
        ctx.n_checkpoints = len(checkpoints)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):  # noqa: D102
        saved = ctx.saved_tensors
        out, projections = saved[0], saved[1]
        checkpoints = saved[2:2 + ctx.n_checkpoints]
        params = saved[2 + ctx.n_checkpoints:]
        n = len(params) // 2
        us, vs = params[:n], params[n:]
        every = ctx.every
        g = grad_out.contiguous().clone()  # d loss / d (output of factor j), updated in place
        x = out.clone()  # becomes the input of factor j, walking backwards
        grad_us = [torch.empty_like(u) for u in us]
        grad_vs = [torch.empty_like(v) for v in vs]
        g_u = g.new_empty(g.shape[0], projections.shape[-1])
        for j in reversed(range(n)):
            if j % every == 0:
                x.copy_(checkpoints[j // every])  # exact input of factor j
            else:
                x.addmm_(projections[j], us[j][0].T, alpha=-1)  # undo factor j
            t, u, v = projections[j], us[j][0], vs[j][0]
            torch.mm(g.T, t, out=grad_us[j][0])  # dU_j = g^T T_j          (width, r)
            torch.mm(g, u, out=g_u)  # g U_j                                  (rows, r)
            torch.mm(g_u.T, x, out=grad_vs[j][0])  # dV_j = (g U_j)^T x_j  (r, width)
            g.addmm_(g_u, v)  # g <- g (I + U_j V_j) = g + (g U_j) V_j
        return (g, None, *grad_us, *grad_vs)


def lowrank_residual_chain(x: Tensor, us: list[Tensor], vs: list[Tensor],
                           checkpoint_every: int = CHECKPOINT_EVERY) -> Tensor:
    """Apply ``x <- x + (x V_j^T) U_j^T`` for ``j = 1..n`` (the residual low-rank factors).

    Args:
        x: ``(rows, width)`` input.
        us: ``n`` tensors ``(1, width, r)`` (each ``LowRankFactor.u``).
        vs: ``n`` tensors ``(1, r, width)`` (each ``LowRankFactor.v``).
        checkpoint_every: store ``x`` every this many factors for the backward.

    Returns:
        ``(rows, width)``, equal to applying the factors one by one.

    """
    if len(us) != len(vs) or not us:
        raise ValueError(f"us and vs must be equally long and non-empty, got {len(us)} and "
                         f"{len(vs)}")
    if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
    if x.dim() != 2:
        raise ValueError(f"x must be (rows, width), got shape {tuple(x.shape)}")
    return _LowRankResidualChain.apply(x, checkpoint_every, *us, *vs)
