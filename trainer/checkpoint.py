"""Checkpoints: one file from one process, sharded (`torch.distributed.checkpoint`) from many.

* `OUT/checkpoint.pt` (one process): `torch.save` of model and optimizer `state_dict()`s, step,
  next sample index, RNG states, run key, config and schedule; written to a temporary name and
  renamed.
* `OUT/checkpoint/step_NNNNNNNN/` (torchrun): a DCP checkpoint of the model and optimizer state by
  parameter name (each rank writes its own shards; `.metadata` describes the global tensors), plus
  `state.json` (step, sample, run key, config, schedule, world size) and `rng.pt` from rank 0.
  `OUT/checkpoint/latest` names the newest complete one: it is replaced atomically only after every
  rank's shards are written, and older step directories are removed after that, so a crash at any
  moment leaves the previous checkpoint readable.

Either kind loads into any number of ranks and either wrapper (FSDP2, DDP, none): DCP reshards by
parameter name on load, and a single file is converted to the same by-name form. A resume takes
whichever of the two is at the later step; once a checkpoint is written, the other kind is removed.
"""
from __future__ import annotations

import json
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

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


def rng_state(device: torch.device) -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and device.type == "cuda":
        if isinstance(cuda, (list, tuple)):  # older checkpoints hold every visible GPU's state
            cuda = cuda[min(device.index or 0, len(cuda) - 1)]
        torch.cuda.set_rng_state(cuda, device)


def save_file(path: Path, **state) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def find(out: Path) -> Optional[Found]:
    """The latest checkpoint in `out` of either kind, or None."""
    found = []
    file = paths.join(str(out), FILE)
    if paths.exists(file):
        step = torch.load(file, map_location="cpu", mmap=True, weights_only=False)["step"]
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
        ckpt = torch.load(found.path, map_location="cpu", mmap=True, weights_only=False)
        return {k: v for k, v in ckpt.items() if k not in ("model", "optimizer")}
    meta = json.loads(paths.read_text(paths.join(found.path, STATE)))
    meta["rng"] = torch.load(paths.join(found.path, RNG), weights_only=False)
    return meta


def load(found: Found, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Model and optimizer state from `found` into this rank's model (plain, DDP or FSDP2)."""
    if found.kind == "file":
        plain = not _wrapped(model)
        ckpt = torch.load(found.path, map_location=device if plain else "cpu", mmap=not plain, weights_only=False)
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
    dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=directory)
    if world.main:  # dcp.save returns on every rank once all shards and .metadata are written
        rng_tmp = paths.join(directory, RNG + ".tmp")
        torch.save(rng, rng_tmp)
        paths.replace(rng_tmp, paths.join(directory, RNG))
        paths.write_text_atomically(paths.join(directory, STATE),
                                    json.dumps({**meta, "step": step, "world_size": world.size}, indent=1))
        paths.write_text_atomically(paths.join(root, LATEST), name + "\n")
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
