"""The torch fast paths behind PluginOptimizer: in place, and multi-tensor for small variables.

Every function here takes plain torch tensors (variables' storage, gradients already in the
variables' dtype, 0-d scalars of that dtype) and performs exactly the elementwise operations of
the keras.ops path, one rounding each, in the same order: no fused multiply-add, no `alpha=`
(torch's CPU and CUDA kernels may contract ``a + alpha*b`` into one rounding). The callers in
_fast_paths.py decide when they apply; tests compare them bit for bit with the keras.ops path.

Imported only on the torch backend, from inside the methods that need it.
"""

from __future__ import annotations

import math

import torch

#: On a CPU, tensors with at least this many elements are updated one at a time through a reused
#: scratch buffer: a launch costs nothing next to their memory traffic, and a fresh large
#: temporary per operation pays page faults on every step (large blocks are mmap'ed anew).
CPU_MIN_ELEMENTS_ALONE = 1 << 16


class Scratch:
    """Reusable product buffers, one per (dtype, device), as large as the largest request."""

    def __init__(self, capacity_hint: int = 0):
        self._capacity_hint = capacity_hint
        self._buffers: dict[tuple, torch.Tensor] = {}

    def like(self, tensor: torch.Tensor) -> torch.Tensor:
        key = (tensor.dtype, tensor.device)
        n = tensor.numel()
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < n:
            buffer = torch.empty(max(n, self._capacity_hint), dtype=tensor.dtype, device=tensor.device)
            self._buffers[key] = buffer
        return buffer[:n].view(tensor.shape)


def capacity_hint(shapes) -> int:
    return max((math.prod(s) for s in shapes), default=0)


def split_by_size(tensors: list[torch.Tensor]) -> tuple[list[int], list[int]]:
    """Indices of the tensors to update together (multi-tensor) and of those to update alone."""
    together, alone = [], []
    for i, t in enumerate(tensors):
        (alone if t.device.type == "cpu" and t.numel() >= CPU_MIN_ELEMENTS_ALONE else together).append(i)
    return together, alone


@torch.no_grad()
def ema_momentum(ws, ms, gs, one_minus_beta, beta, learning_rate, scratch: Scratch) -> None:
    """m <- m*b + g*(1-b); w <- w - m*lr, for parallel lists (roundings of the keras.ops path)."""
    together, alone = split_by_size(ws)
    for i in alone:
        w, m, product = ws[i], ms[i], scratch.like(ws[i])
        torch.mul(gs[i], one_minus_beta, out=product)
        m.mul_(beta).add_(product)
        torch.mul(m, learning_rate, out=product)
        w.sub_(product)
    if together:
        w, m, g = ([x[i] for i in together] for x in (ws, ms, gs))
        scaled = torch._foreach_mul(g, one_minus_beta)
        torch._foreach_mul_(m, beta)
        torch._foreach_add_(m, scaled)
        torch._foreach_sub_(w, torch._foreach_mul(m, learning_rate))


@torch.no_grad()
def sgd(ws, gs, learning_rate, scratch: Scratch) -> None:
    """w <- w - g*lr for parallel lists (roundings of the keras.ops path)."""
    together, alone = split_by_size(ws)
    for i in alone:
        product = scratch.like(ws[i])
        torch.mul(gs[i], learning_rate, out=product)
        ws[i].sub_(product)
    if together:
        w, g = ([x[i] for i in together] for x in (ws, gs))
        torch._foreach_sub_(w, torch._foreach_mul(g, learning_rate))
