"""Data-parallel training across processes and machines, on PyTorch's own engine (DDP + torchrun).

``torchrun`` starts one process per device and tells each its place through environment
variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``). Here
those become a ``DistributedContext``: gloo on CPU, NCCL on GPU, one device per local rank.
Without torchrun the context is a world of one and nothing here starts a process group.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the run.

    Args:
        rank: global index of this process.
        local_rank: index on this machine (selects the GPU).
        world_size: number of processes in total.
        device: the device this process trains on.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0, the only process that logs and writes files."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"--device {name!r} is not a device mobilenets runs on; use auto, cpu, cuda or cuda:N."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} was asked for but CUDA is not available; use --device cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"--device {name!r}: this machine has {torch.cuda.device_count()} CUDA devices; "
            f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}."
        )
    return device


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group when started by torchrun; otherwise a single-process context.

    Args:
        device: 'auto', 'cpu' or 'cuda'. Under torchrun each process on a GPU machine takes
            the GPU numbered by its ``LOCAL_RANK``.

    Returns:
        The context; ``dist`` is initialized when ``world_size > 1``.
    """
    base = resolve_device(device)
    if not launched_by_torchrun():
        return DistributedContext(device=base)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if base.type == "cuda":
        base = torch.device("cuda", local_rank)
        torch.cuda.set_device(base)
    backend = "nccl" if base.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, device_id=base if base.type == "cuda" else None)
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size, device=base)


def shutdown(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum a tensor over all ranks (a no-op in a single process)."""
    if context.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_flag(flag: bool, context: DistributedContext) -> bool:
    """True on every rank if ``flag`` is true on any rank (to stop all ranks together)."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def broadcast_buffers(module: nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics, EMA counters) to every rank.

    DDP averages gradients, so parameters stay equal, but each rank updates its running mean
    and variance from its own shard. DDP sends rank 0's buffers at the start of every forward;
    after the last step of an epoch they still differ, so do the same once more before
    evaluating and checkpointing.
    """
    if context.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in state-dict order: equal digests mean equal bits."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def ranks_agree(model: nn.Module, context: DistributedContext) -> tuple[bool, list[str]]:
    """Gather every rank's ``weights_digest``; DDP's promise is that they are all the same.

    Returns:
        (all equal, the digests by rank).
    """
    own = weights_digest(model)
    if not context.enabled:
        return True, [own]
    gathered: list[str | None] = [None] * context.world_size
    dist.all_gather_object(gathered, own)
    digests = [str(d) for d in gathered]
    return len(set(digests)) == 1, digests
