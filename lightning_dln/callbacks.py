"""Theory diagnostics of deep linear stacks, logged during training (THEORY.md sections 1-5).

:class:`TheoryDiagnostics` finds every deep linear map in the module being trained by walking
``pl_module.modules()``, so it works for any host: our ``DLNForecaster``, the Darts and
pytorch-forecasting adapters, or a bare :class:`~lightning_dln.models.DeepLinear`. Lightning
callbacks are duck-typed, so the same instance works in ``lightning.pytorch.Trainer`` and in
``pytorch_lightning.Trainer`` (the one darts uses).

Monitored maps (each gets a ``tag``):

- every :class:`~lightning_dln.models.DeepLinearTimeSeries` ``F`` (module name ``name``): its
  temporal end-to-end map ``W (G, K, L)`` (all multi-scale views summed), tag
  ``"<name>.temporal"``; its balancedness is the worst over ``F.stacks``; its depth ``N`` is
  ``F.config.flow_depth`` (the flow's N with ``parametrization='flow'``, where the single
  matrix *is* the end-to-end map and the balancedness is trivially 0);
- every other linear :class:`~lightning_dln.models.DeepLinear` (e.g. a channel-mixing stack), tag
  ``"<name>"``, depth ``stack.depth``.

Logged per map, as ``theory/<tag>/<quantity>``:

- ``balancedness``: :func:`lightning_dln.theory.balancedness` of the dense factor matrices
  ``stack.matrices()`` (residual factors enter as ``I + A_j``, the matrix the network applies);
- ``sv_0 .. sv_{k-1}``: the ``top_k`` largest singular values of ``W``;
- ``erank``: the Roy-Vetterli effective rank :func:`lightning_dln.theory.effective_rank`;
- ``entropy``: the Menon-Yu entropy of the **rank-r core**. :func:`lightning_dln.theory.entropy`
  is defined for square full-rank maps; ``W`` is a rectangular ``K x L`` map, whose balanced
  factorisations rotate only its ``r`` non-zero singular directions (the kernel directions carry
  no orbit volume: ``S = -inf`` for any square embedding of a rank-deficient map). We therefore
  log ``S_N(diag(sigma_1..sigma_r))``, the formula on the ``r x r`` core with ``r`` the numerical
  rank: finite, depth-dependent, and the Menon-Yu value whenever ``W`` is square full-rank. It is
  skipped at N = 1 (``S_1 = 0`` identically: no hidden layer, no orbit).

For per-channel maps (``G > 1``) each scalar is the mean over the ``G`` maps, the balancedness
the worst. Values are computed in float64 on the rank-zero process and sent straight to
``trainer.loggers`` (so the cadence does not depend on ``log_every_n_steps``) and into
``trainer.callback_metrics``; every record is also kept in :attr:`TheoryDiagnostics.history`
for :func:`lightning_dln.plots.plot_spectrum_trajectory` and
:func:`lightning_dln.plots.plot_balancedness`.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from lightning_dln import theory
from lightning_dln.models import DeepLinear, DeepLinearTimeSeries


def _check_every(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be None or an integer >= 1, got {value!r}")
    return value


def monitored_maps(root: nn.Module) -> list[tuple[str, float, list[DeepLinear], Any]]:
    """Find the deep linear maps inside ``root``: ``(tag, depth, stacks, end_to_end_fn)``.

    ``end_to_end_fn()`` returns the float64 end-to-end matrix ``(G, out, in)``. See the module
    docstring for the tags and depths.
    """
    found: list[tuple[str, float, list[DeepLinear], Any]] = []
    covered: set[int] = set()
    named = list(root.named_modules())
    for name, module in named:
        if isinstance(module, DeepLinearTimeSeries) and module.is_linear:
            stacks = list(module.stacks)
            covered |= {id(s) for s in stacks}
            tag = f"{name}.temporal" if name else "temporal"
            found.append((tag, module.config.flow_depth, stacks,
                          lambda m=module: m.temporal_end_to_end(torch.float64)[0]))
    for name, module in named:
        if isinstance(module, DeepLinear) and module.is_linear and id(module) not in covered:
            found.append((name or "stack", float(module.depth), [module],
                          lambda m=module: m.end_to_end(torch.float64)[0]))
    return found


@torch.no_grad()
def map_diagnostics(
    stacks: list[DeepLinear], weight: Tensor, depth: float, top_k: int
) -> dict[str, Any]:
    """Balancedness, spectrum, effective rank and core entropy of one monitored map.

    Args:
        stacks: the deep linear stacks whose factors make up the map.
        weight: the end-to-end matrix ``(G, out, in)``.
        depth: the depth ``N`` of the (possibly simulated) factorisation, ``math.inf`` allowed.
        top_k: number of leading singular values to report as scalars.

    Returns:
        ``balancedness`` (float), ``singular_values`` (``(k,)`` float64 tensor, the mean over
        groups), ``effective_rank``, ``entropy`` (``None`` at N = 1), ``rank`` and the scalars
        ``sv_0 .. sv_{top_k-1}``.

    """
    bal = max(theory.balancedness([w.detach().double() for w in s.matrices()]) for s in stacks)
    w = weight.detach().to("cpu", torch.float64)
    s = theory.singular_values(w)  # (G, k), descending
    erank = float(theory.effective_rank(s, is_spectrum=True).mean())
    tol = max(w.shape[-2:]) * torch.finfo(torch.float64).eps
    ranks = (s > tol * s[..., :1]).sum(dim=-1)  # (G,)
    entropy = None
    if depth != 1:
        values = [theory.entropy(torch.diag(row[: int(r)]), depth)
                  for row, r in zip(s, ranks, strict=True) if int(r) >= 1]
        entropy = float(torch.stack(values).mean()) if values else -math.inf
    mean_s = s.mean(dim=0)  # (k,)
    out: dict[str, Any] = {"balancedness": bal, "singular_values": mean_s,
                           "effective_rank": erank, "entropy": entropy,
                           "rank": float(ranks.double().mean())}
    for i in range(min(top_k, mean_s.numel())):
        out[f"sv_{i}"] = float(mean_s[i])
    return out


class TheoryDiagnostics(pl.Callback):
    """Log balancedness, top singular values, effective rank and entropy of deep linear maps.

    Args:
        every_n_steps: record after every ``n``-th optimizer step (``None``: never per step).
        every_n_epochs: record at the end of every ``n``-th training epoch (``None``: never).
        top_k: number of leading singular values logged as ``sv_0 .. sv_{top_k-1}``.
        on_train_start: also record the initial map (step 0) before the first step.
        prefix: metric-name prefix.

    Attributes:
        history: one dict per map and record: ``step``, ``epoch``, ``tag``, ``depth`` and the
            values of :func:`map_diagnostics` (``singular_values`` as a list of floats).

    Raises:
        ValueError: For invalid arguments, or at ``fit`` start when the module holds no linear
            deep linear map.

    Cost: one SVD of each end-to-end map plus ``O(N)`` products of factor matrices (the
    balancedness); at depth 1000 with 336-wide factors about a second on a CPU, so keep
    ``every_n_steps`` at tens of steps or more there.

    """

    def __init__(self, every_n_steps: int | None = 50, every_n_epochs: int | None = None,
                 top_k: int = 8, on_train_start: bool = True, prefix: str = "theory") -> None:
        super().__init__()
        self.every_n_steps = _check_every("every_n_steps", every_n_steps)
        self.every_n_epochs = _check_every("every_n_epochs", every_n_epochs)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0, got {top_k!r}")
        self.top_k = top_k
        self.record_on_train_start = on_train_start
        self.prefix = prefix
        self.history: list[dict[str, Any]] = []

    def record(self, trainer: Any, pl_module: nn.Module) -> dict[str, float]:
        """Compute the diagnostics now, log them and append them to :attr:`history`.

        Returns:
            The logged scalars, ``{"<prefix>/<tag>/<quantity>": value}``.

        """
        maps = monitored_maps(pl_module)
        if not maps:
            raise ValueError(
                f"TheoryDiagnostics found no linear DeepLinear / DeepLinearTimeSeries inside "
                f"{type(pl_module).__name__}; attach it to a deep linear model")
        step, epoch = int(trainer.global_step), int(trainer.current_epoch)
        metrics: dict[str, float] = {}
        for tag, depth, stacks, end_to_end in maps:
            values = map_diagnostics(stacks, end_to_end(), depth, self.top_k)
            self.history.append({"step": step, "epoch": epoch, "tag": tag, "depth": depth,
                                 **values, "singular_values": values["singular_values"].tolist()})
            for key, value in values.items():
                if key not in ("singular_values", "rank") and value is not None:
                    metrics[f"{self.prefix}/{tag}/{'erank' if key == 'effective_rank' else key}"] \
                        = float(value)
        for logger in getattr(trainer, "loggers", []):
            logger.log_metrics(metrics, step=step)
        callback_metrics = getattr(trainer, "callback_metrics", None)
        if isinstance(callback_metrics, dict):
            callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})
        return metrics

    def _due(self, trainer: Any) -> bool:
        return bool(getattr(trainer, "is_global_zero", True)) and \
            not getattr(trainer, "sanity_checking", False)

    def on_train_start(self, trainer: Any, pl_module: nn.Module) -> None:
        """Record the initial map (step 0) when ``on_train_start`` is set."""
        if self.record_on_train_start and self._due(trainer):
            self.record(trainer, pl_module)

    def on_train_batch_end(self, trainer: Any, pl_module: nn.Module, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Record after every ``every_n_steps``-th optimizer step."""
        step = int(trainer.global_step)
        if self.every_n_steps and step > 0 and step % self.every_n_steps == 0 and \
                self._due(trainer) and not self._recorded(step):
            self.record(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Any, pl_module: nn.Module) -> None:
        """Record at the end of every ``every_n_epochs``-th epoch."""
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0 and \
                self._due(trainer) and not self._recorded(int(trainer.global_step)):
            self.record(trainer, pl_module)

    def _recorded(self, step: int) -> bool:
        """Whether this step was already recorded (gradient accumulation repeats a step)."""
        return bool(self.history) and self.history[-1]["step"] == step

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint the history."""
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the history."""
        self.history = list(state_dict.get("history", []))
