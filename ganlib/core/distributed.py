"""Several processes (torchrun): rank and world size, the process group, shards, rank-0 writes.

``torchrun --nproc-per-node N ...`` (and across nodes with its rendezvous flags) starts N
processes per node and tells each its place through the environment: ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``. Without torchrun these are absent and everything here
degrades to one process: rank 0 of 1, the whole list as the shard, no process group.

The backend is NCCL when the processes have GPUs, gloo on CPUs (the tests run 2 gloo processes).
"""
from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")


def rank() -> int:
    """This process's rank among all processes (0 without torchrun)."""
    return int(os.environ.get("RANK", 0))


def world_size() -> int:
    """How many processes take part (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    """This process's rank on its node: the GPU it uses."""
    return int(os.environ.get("LOCAL_RANK", 0))


def local_world_size() -> int:
    """Processes on this node (they share its CPU cores)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", 1))


def is_main() -> bool:
    """Rank 0: the one process that writes shared outputs and reports progress."""
    return rank() == 0


def active() -> bool:
    """A process group is initialised and has more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def device() -> torch.device:
    """This process's device: ``cuda:<local rank>`` when CUDA is present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank() % torch.cuda.device_count())
    return torch.device("cpu")


def init(timeout_s: float = 1800) -> bool:
    """Join the process group when started by torchrun with more than one process (NCCL on GPUs,
    gloo on CPUs); True if this process is now in a group of several. Idempotent."""
    if world_size() <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(device())
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s))
    return True


def destroy(wait: bool = True) -> None:
    """Leave the process group (if any), after every process has arrived here (``wait``): tearing
    gloo down while another process is still leaving sometimes aborts that one (measured: 1 run in 6
    of a 2-process compression without the barrier). ``wait=False`` after an error, when another
    process may never arrive."""
    if dist.is_available() and dist.is_initialized():
        if wait and dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def group() -> Iterator[bool]:
    """``with distributed.group() as several:`` init on entry, destroy on exit (after a barrier,
    unless the block raised)."""
    several = init()
    try:
        yield several
    except BaseException:
        destroy(wait=False)
        raise
    destroy()


def shard(items: Sequence[T], r: int | None = None, n: int | None = None) -> list[T]:
    """Rank ``r``'s share of ``items`` (default: this process's): every n-th item from the r-th,
    so shards differ in length by at most one and the union, in order, is ``items``."""
    r, n = rank() if r is None else r, world_size() if n is None else n
    if not 0 <= r < n:
        raise ValueError(f"rank={r} is not allowed; it must be from 0 to {n - 1}")
    return list(items[r::n])


def rank_seed(seed: int, r: int | None = None) -> int:
    """The seed of rank ``r``'s own random draws: ``seed`` on rank 0 (a single process draws as
    before), a different one on every other rank."""
    r = rank() if r is None else r
    return (seed + 1_000_003 * r) % 2**63


def barrier() -> None:
    if active():
        dist.barrier()


def mean(values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of a float tensor over all processes (itself with one process)."""
    if not active():
        return values
    out = values.detach().clone()
    dist.all_reduce(out)
    return out / dist.get_world_size()


def total(value: float) -> float:
    """The sum of a number over all processes."""
    if not active():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


def maximum(value: float) -> float:
    """The largest value of a number over all processes."""
    if not active():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


# ---------------------------------------------------------------- batch norm over all processes
class _AllReduceSum(torch.autograd.Function):
    """The sum over processes, differentiable: the gradient of each process's input is the sum of
    every process's gradient of the output."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the *global* batch (all processes), on any
    device (``nn.SyncBatchNorm`` needs GPUs): mean and variance from all-reduced sums, gradients
    through a differentiable all-reduce. Same parameters and buffers as ``nn.BatchNorm1d/2d``, so
    a state dict loads either way; in eval mode it is plain batch norm. With one process it equals
    ``nn.BatchNorm`` up to rounding (variance from E[x^2] - E[x]^2)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        c, n = x.shape[1], stats[-1]
        mean, var = stats[:c] / n, (stats[c:2 * c] / n - (stats[:c] / n) ** 2).clamp_min(0)
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm1d/2d computing global-batch statistics: ``nn.SyncBatchNorm``
    on CUDA, :class:`SyncBatchNorm` elsewhere. Parameters and buffers are the same tensors."""
    if any(p.is_cuda for p in module.parameters()):
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _swap_batchnorm(module)


def _swap_batchnorm(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            new = SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                child.track_running_stats)
            new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            setattr(module, name, new)
        else:
            _swap_batchnorm(child)
    return module


def on_main(fn, *args, **kwargs):
    """Run ``fn`` on rank 0 only (the one writer of shared files), then wait for every process;
    returns its result on rank 0 and None elsewhere."""
    result = fn(*args, **kwargs) if is_main() else None
    barrier()
    return result
