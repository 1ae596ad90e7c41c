"""Small helpers for Lightning's multi-process strategies (no maths here)."""

from __future__ import annotations

import atexit

import torch

_registered = False


def _destroy_process_group() -> None:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # best effort at exit: the peers may already be gone
            pass


def destroy_process_group_at_exit() -> None:
    """Destroy the default process group when this interpreter exits (registered once).

    Lightning leaves the ``gloo`` process group alive at the end of ``fit``. A ``ddp_spawn``
    worker then exits with it, and now and then the group's C++ threads are destroyed while
    still running: ``terminate called without an active exception`` and ``SIGABRT``, which
    Lightning reports as a failed fit although training finished. Tearing the group down
    from an ``atexit`` hook joins those threads first.
    """
    global _registered
    if not _registered:
        atexit.register(_destroy_process_group)
        _registered = True
