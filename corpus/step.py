"""The step contract every source is built from (pure Python; `pipelines/` wires steps into Beam).

A step is one stage over one document at a time, in the manner of datatrove's pipeline steps:

    class MinLength(Step):
        name = "min_len"
        Params = MinLengthParams          # a frozen dataclass: the one place defaults and help live

        def __call__(self, doc):
            return doc if len(doc.text) >= self.params.min_len else Drop("too_short")

- `Params` fields become command-line flags (`add_params`), so a default is written once;
- `setup()` loads models (through `corpus.paths`), once per worker, before the first document;
- `__call__(doc)` returns the kept (possibly rewritten) document or a `Drop(reason)`;
- `self.count(name, n)` adds to an `info:<name>` counter of the run's ledger.

A plain rule function becomes a step with `RuleStep(name, rule)`.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from collections import Counter
import types
from typing import Any, ClassVar, Optional, Sequence

from corpus.document import Document
from corpus.rules import Drop, Outcome, Rule


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A step without parameters."""


def param(default: Any, help: str, **argparse_kwargs: Any) -> Any:  # noqa: A002 - argparse's name
    """A params field: its default, its `--help` text and any argparse keyword (choices, nargs...)."""
    return dataclasses.field(default=default, metadata={"help": help, **argparse_kwargs})


class Step:
    """One stage applied to each document; subclasses set `name`, `Params`, `__call__`."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.Params()
        self.counts: Counter[str] = Counter()

    def setup(self) -> None:
        """Load what the step needs (models, word lists); runs once per worker."""

    def __call__(self, doc: Document) -> Outcome:
        raise NotImplementedError

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to the run's `info:<name>` counter (lines removed, macros expanded, ...)."""
        self.counts[name] += n

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


class RuleStep(Step):
    """A step made from a plain `Rule` function (which must be picklable: module-level or partial)."""

    def __init__(self, name: str, rule: Rule) -> None:
        super().__init__()
        self.label = name
        self._rule = rule

    def __call__(self, doc: Document) -> Outcome:
        return self._rule(doc)


def title(step: Step) -> str:
    """The label of a step in the Beam graph."""
    return getattr(step, "label", "") or step.name or type(step).__name__


class StepFailed(Exception):
    """An unexpected exception of one step on one document: a bug, or an input nobody foresaw.

    Raised by `run_steps(..., guard=True)` so the pipeline can drop that one document (counted,
    with the exception class, and kept as a rejected sample) instead of failing the whole bundle.
    """

    def __init__(self, step: Step, doc: Document, cause: Exception) -> None:
        super().__init__(f"step {title(step)!r} failed on {doc.id}: {type(cause).__name__}: {cause}")
        self.step = slug(title(step))
        self.doc = doc
        self.kind = type(cause).__name__


def slug(name: str) -> str:
    """A step title as a snake_case counter name: "Min chars" -> "min_chars"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "step"


def run_steps(steps: Sequence[Step], doc: Document,
              guard: bool = False) -> tuple[Outcome, Optional[Document], Counter[str]]:
    """Apply `steps` in order: (outcome, the document the dropping step saw or None, info counts).

    With `guard`, an exception of a step becomes `StepFailed` (the counts of the failed document
    are discarded); without, it propagates as it is (fail fast).
    """
    counts: Counter[str] = Counter()
    current = doc
    for step in steps:
        if guard:
            try:
                out = step(current)
            except Exception as exc:  # noqa: BLE001 - the guard's purpose: one document, not the job
                for each in steps:
                    each.counts.clear()
                raise StepFailed(step, current, exc) from exc
        else:
            out = step(current)
        if step.counts:
            counts.update(step.counts)
            step.counts.clear()
        if isinstance(out, Drop):
            return out, current, counts
        current = out
    return current, None, counts


# ---------------------------------------------------------------------------------------------
# Params dataclasses <-> command-line flags
# ---------------------------------------------------------------------------------------------
def add_params(parser: argparse.ArgumentParser, cls: type, title: Optional[str] = None) -> None:
    """One flag per field of the params dataclass `cls`, with its default and help."""
    doc = (cls.__doc__ or "").strip().splitlines()
    group = parser.add_argument_group(title or (doc[0] if doc else cls.__name__))
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False:
            continue
        kwargs = {k: v for k, v in f.metadata.items() if k not in ("cli",)}
        kwargs.setdefault("help", "")
        kind, optional = _unwrap(hints[f.name])
        if kind is bool and f.default is False:
            kwargs["action"] = "store_true"
        elif kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) in (tuple, list):
            kwargs.setdefault("nargs", "+")
            kwargs.setdefault("type", typing.get_args(kind)[0])
        elif "type" not in kwargs and kind in (int, float, str):
            kwargs["type"] = kind
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        group.add_argument(f"--{f.name}", default=default, **kwargs)


def params_from(args: argparse.Namespace, cls: type) -> Any:
    """The params dataclass `cls` filled from parsed flags (tuples stay tuples)."""
    values = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not hasattr(args, f.name):
            continue
        value = getattr(args, f.name)
        kind, _ = _unwrap(hints[f.name])
        if typing.get_origin(kind) is tuple and value is not None:
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type inside Optional[...], whether it was Optional)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return inner[0], True
    return hint, False


def flag_names(classes: Sequence[type]) -> list[str]:
    """Every field name of the params classes, in order (to check that no flag is defined twice)."""
    return [f.name for cls in classes for f in dataclasses.fields(cls)]
