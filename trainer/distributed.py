"""Data parallel training under `torchrun`: process group, FSDP2 / DDP wrapping, collectives.

`torchrun` sets RANK, LOCAL_RANK and WORLD_SIZE; without them (plain `python -m trainer.train`)
everything here is a no-op and the trainer runs in one process exactly as before.

* FSDP2 (`torch.distributed.fsdp.fully_shard`, the default): every transformer block and then the
  root (embedding, final norm, output head) are sharded over all ranks (ZeRO-3: parameters,
  gradients and AdamW moments live 1/N on each rank). The weights are initialised once, on rank 0
  on the CPU, exactly as in a single-process run with the same seed, and broadcast shard by shard;
  the other ranks build the model on the meta device (no memory). In bf16, parameters are gathered
  in bf16 and gradients reduced in float32 (`MixedPrecisionPolicy`, as torchtitan does).
* DDP (`--parallel ddp`): a full replica per rank, gradients all-reduced once per optimizer step
  (`no_sync` on the other micro-batches).

Backends: NCCL for CUDA tensors (with gloo for CPU ones) on GPUs, gloo on CPUs.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, ContextManager, Iterable, Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.distributed.tensor import DTensor


@dataclass(frozen=True)
class World:
    """This process's place in the job (rank 0 of 1 outside torchrun)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """True under torchrun (or any launcher that sets the env:// variables)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init(device_arg: str, timeout_s: int = 1800) -> tuple[World, torch.device]:
    """Join the process group when launched by torchrun; pick this rank's device."""
    if not launched():
        if device_arg == "auto":
            return World(), torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return World(), torch.device(device_arg)
    world = World(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"]))
    if device_arg.startswith("cuda") or (device_arg == "auto" and torch.cuda.is_available()):
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
        backend = "cuda:nccl,cpu:gloo"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return world, device


def shutdown(world: World) -> None:
    if world.distributed:
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def mean(value: torch.Tensor, world: World) -> torch.Tensor:
    """The average of a tensor over ranks (gloo has no AVG: sum, then divide)."""
    if not world.distributed:
        return value
    total = value.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / world.size


def broadcast_object(obj, world: World):
    """Rank 0's Python object on every rank."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard_fsdp(build: Callable[[], nn.Module], make_meta: Callable[[], nn.Module], world: World,
               device: torch.device, param_dtype: Optional[torch.dtype],
               compile_blocks: bool) -> nn.Module:
    """FSDP2 model whose weights equal `build()` on rank 0 (the single-process initialisation).

    `make_meta()` builds the same model on the meta device; `build()` (rank 0 only) on the CPU.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    reference = build().state_dict() if world.main else {}
    model = make_meta()
    mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32) if param_dtype else None
    kwargs = {"mp_policy": mp} if mp else {}
    for block in model.layers:
        if compile_blocks:
            block.compile()
        fully_shard(block, **kwargs)
    fully_shard(model, **kwargs)
    model.to_empty(device=device)
    model.init_buffers()
    set_model_state_dict(model, reference,
                         options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    return model


def wrap_ddp(model: nn.Module, device: torch.device, compile_blocks: bool) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    if compile_blocks:
        for block in model.layers:
            block.compile()
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def no_sync(wrapped: nn.Module, last_micro_batch: bool) -> ContextManager:
    """DDP: skip the gradient all-reduce on all but the last micro-batch of a step.

    FSDP2 keeps reduce-scattering every micro-batch (holding unsharded gradients would undo the
    memory saving); a single process has nothing to skip."""
    if last_micro_batch or not hasattr(wrapped, "no_sync"):
        return nullcontext()
    return wrapped.no_sync()


def clip_grad_norm(parameters: Iterable[nn.Parameter], max_norm: float) -> torch.Tensor:
    """`torch.nn.utils.clip_grad_norm_` that also takes FSDP2's sharded (DTensor) gradients."""
    params = [p for p in parameters if p.grad is not None]
    norm = torch.nn.utils.get_total_norm([p.grad for p in params], 2.0)
    if isinstance(norm, DTensor):
        norm = norm.full_tensor()
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
    return norm
