"""Checkpoints: one file from one process, sharded (`torch.distributed.checkpoint`) from many.

* `OUT/checkpoint.pt` (one process): `torch.save` of model and optimizer `state_dict()`s, step,
  next sample index, RNG states, run key, config and schedule. Only tensors and plain Python types
  (the config is a dict, numpy's RNG state a tensor), so it loads with `torch.load(...,
  weights_only=True)`, which is how it is read here: no pickled code runs on load.
* `OUT/checkpoint/step_NNNNNNNN/` (torchrun): a DCP checkpoint of the model and optimizer state by
  parameter name (each rank writes its own shards; `.metadata` describes the global tensors), plus
  `state.json` (step, sample, run key, config, schedule, world size) and `rng.pt` from rank 0.
  `OUT/checkpoint/latest` names the newest complete one: it is replaced atomically only after every
  rank's shards are written, and older step directories are removed after that, so a crash at any
  moment leaves the previous checkpoint readable.

Either kind loads into any number of ranks and either wrapper (FSDP2, DDP, none): DCP reshards by
parameter name on load, and a single file is converted to the same by-name form. A resume takes
whichever of the two is at the later step; once a checkpoint is written, the other kind is removed.

Every file is written to a temporary name unique to the writer (pid + random), flushed, fsynced and
renamed, then the directory is fsynced. A failed write (disk full, quota, I/O error) removes its
temporary file and raises `CheckpointError`, one line naming the file and the cause (ENOSPC: "no
space left on device"), which the trainer prints before exiting non-zero; the previous checkpoint
stays as it was.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import random
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

import numpy as np
import torch
import torch.nn as nn

from corpus import paths
from trainer import distributed
from trainer.distributed import World
from trainer.model import named_param_groups

FILE = "checkpoint.pt"
SHARDED = "checkpoint"
LATEST = "latest"
STATE = "state.json"
RNG = "rng.pt"


@dataclass(frozen=True)
class Found:
    """The checkpoint a resume reads: `kind` "file" or "sharded", its path and step."""

    kind: str
    path: str
    step: int


class CheckpointError(RuntimeError):
    """A checkpoint (or export) file could not be written; the message is one line for the user."""


def _cause(exc: BaseException) -> str:
    """The OS error behind `exc` (torch wraps it in `RuntimeError: [enforce fail ...]`), in words."""
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            if seen.errno == errno.ENOSPC:
                return "no space left on device"
            return f"{os.strerror(seen.errno).lower()} (errno {seen.errno})"
        seen = seen.__cause__ or seen.__context__
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _fsync(path: Path) -> None:
    """Data of a written file (or the entries of a directory) on disk before it counts as written."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A unique temporary path beside `path` to write to; renamed to `path` (and fsynced) when the
    block ends, removed when it raises. OS errors become `CheckpointError`."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, (OSError, RuntimeError)) and not isinstance(exc, CheckpointError):
            raise CheckpointError(f"cannot write {path}: {_cause(exc)}") from exc
        raise


def write_file(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """`write(handle)` into `path` atomically and checked (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "xb") as handle:  # a Python file: torch's writer then reports the OS error
            write(handle)


def rng_state(device: torch.device) -> dict:
    """Every RNG's state as tensors and plain types (numpy's key array as an int64 tensor)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and device.type == "cuda":
        if isinstance(cuda, (list, tuple)):  # older checkpoints hold every visible GPU's state
            cuda = cuda[min(device.index or 0, len(cuda) - 1)]
        torch.cuda.set_rng_state(cuda, device)


def save_file(path: Path, **state) -> None:
    """One-file checkpoint, atomically; then temporaries left by killed writers are removed."""
    write_file(path, lambda handle: torch.save(state, handle))
    for stale in path.parent.glob(f"{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def load_file(path: str, map_location: "str | torch.device" = "cpu", mmap: bool = True) -> dict:
    """A one-file checkpoint, tensors and plain types only (`weights_only=True`)."""
    try:
        return torch.load(path, map_location=map_location, mmap=mmap, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} holds pickled objects besides tensors and plain types (written by an "
                              f"older trainer?); refusing to run its code: torch.load(..., weights_only=False) "
                              f"only if you trust it") from exc
    except RuntimeError as exc:  # torch's zip reader: a truncated or corrupt file
        raise CheckpointError(f"{path} is not a readable checkpoint: {str(exc).strip().splitlines()[0]}") from exc


def find(out: Path) -> Optional[Found]:
    """The latest checkpoint in `out` of either kind, or None."""
    found = []
    file = paths.join(str(out), FILE)
    if paths.exists(file):
        step = load_file(file)["step"]
        found.append(Found("file", file, int(step)))
    latest = paths.join(str(out), SHARDED, LATEST)
    if paths.exists(latest):
        directory = paths.join(str(out), SHARDED, paths.read_text(latest).strip())
        state = json.loads(paths.read_text(paths.join(directory, STATE)))
        found.append(Found("sharded", directory, int(state["step"])))
    return max(found, key=lambda f: f.step) if found else None


def read_meta(found: Found) -> dict:
    """step, sample, run key, config, schedule and RNG states of a checkpoint (no tensors)."""
    if found.kind == "file":
        ckpt = load_file(found.path)
        return {k: v for k, v in ckpt.items() if k not in ("model", "optimizer")}
    meta = json.loads(paths.read_text(paths.join(found.path, STATE)))
    meta["rng"] = load_file(paths.join(found.path, RNG), mmap=False)
    return meta


def load(found: Found, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Model and optimizer state from `found` into this rank's model (plain, DDP or FSDP2)."""
    if found.kind == "file":
        plain = not _wrapped(model)
        ckpt = load_file(found.path, map_location=device if plain else "cpu", mmap=not plain)
        if plain:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        set_state_dict(model, optimizer, model_state_dict=ckpt["model"],
                       optim_state_dict=optimizer_by_name(ckpt["optimizer"], _inner(model)),
                       options=StateDictOptions(full_state_dict=True))
        return
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optimizer": optim_state}
    with warnings.catch_warnings():  # one process without a process group: DCP says it assumes so
        warnings.filterwarnings("ignore", message=".*assuming the intent is to load in a single process")
        dcp.load(state, checkpoint_id=found.path)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


def save_sharded(out: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, world: World,
                 meta: dict, rng: dict) -> str:
    """Write `OUT/checkpoint/step_N` from every rank, then point `latest` at it (rank 0)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    root = paths.join(str(out), SHARDED)
    name = f"step_{step:08d}"
    directory = paths.join(root, name)
    if world.main:
        paths.delete(directory)  # left by a run killed while writing this step
        paths.makedirs(directory)
    distributed.barrier(world)
    model_state, optim_state = get_state_dict(model, optimizer)
    try:
        dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=directory)
    except Exception as exc:  # noqa: BLE001 - DCP wraps every rank's failure in its own exception type
        raise CheckpointError(f"cannot write {directory}: {_cause(exc)}") from exc
    if world.main:  # dcp.save returns on every rank once all shards and .metadata are written
        write_file(Path(directory) / RNG, lambda handle: torch.save(rng, handle))
        state = json.dumps({**meta, "step": step, "world_size": world.size}, indent=1).encode()
        write_file(Path(directory) / STATE, lambda handle: handle.write(state))
        write_file(Path(root) / LATEST, lambda handle: handle.write(f"{name}\n".encode()))
        for old in sorted(os.listdir(root)):
            if old.startswith("step_") and old != name:
                paths.delete(paths.join(root, old))
    distributed.barrier(world)
    return directory


def remove_other_kind(out: Path, written: str) -> None:
    """After a checkpoint of kind `written` is complete, delete the other kind: it is older (resume
    takes the later one) or from a run restarted with --fresh, and must not be resumed later."""
    paths.delete(paths.join(str(out), SHARDED if written == "file" else FILE))


def optimizer_by_name(state: dict, model: nn.Module) -> dict:
    """A single-file optimizer `state_dict()` (parameters numbered in `param_groups` order) keyed by
    parameter name, the form `torch.distributed.checkpoint.state_dict` loads into sharded models."""
    names = [n for group in named_param_groups(model) for n in group]
    if len(names) != sum(len(g["params"]) for g in state["param_groups"]):
        raise ValueError("checkpoint optimizer does not match the model's parameter groups")
    by_index = dict(enumerate(names))
    groups = [{**g, "params": [by_index[i] for i in g["params"]]} for g in state["param_groups"]]
    return {"state": {by_index[i]: s for i, s in state["state"].items()}, "param_groups": groups}


def _inner(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def _wrapped(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule) or _inner(model) is not model
