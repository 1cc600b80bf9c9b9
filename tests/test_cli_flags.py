"""One flag style across every CLI: underscores (`--num_shards`, `--seq_len`), as Beam's options.

The one exception is `mixture.sample --dry-run`, kept next to `--dry_run` because the spec writes
`python -m mixture.sample --tokens 1.4T --dry-run`.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io

import pytest

CLIS = [
    "pipelines.arxiv", "pipelines.books", "pipelines.c4", "pipelines.commoncrawl", "pipelines.github",
    "pipelines.stackexchange", "pipelines.wikipedia", "pipelines.crossdedup",
    "tokenizer.train", "tokenizer.encode",
    "corpus.lm", "corpus.models", "corpus.quality",
    "mixture.sample", "mixture.report", "trainer.train", "bench.__main__",
]
EXCEPTIONS = {"--dry-run"}  # mixture.sample, spelled by the spec; `--dry_run` is the house spelling


def option_strings(module_name: str, monkeypatch) -> list[str]:
    """Every `--option` the module's `main(["--help"])` declares (subcommands included)."""
    seen: list[str] = []
    original = argparse._ActionsContainer.add_argument

    def recording(self, *args, **kwargs):
        seen.extend(a for a in args if isinstance(a, str) and a.startswith("--"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(argparse._ActionsContainer, "add_argument", recording)
    module = importlib.import_module(module_name)
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code in (0, None)
    return seen


@pytest.mark.parametrize("module_name", CLIS)
def test_flags_use_underscores(module_name, monkeypatch):
    flags = option_strings(module_name, monkeypatch)
    assert flags, f"{module_name}: no flags recorded"
    hyphenated = [f for f in flags if "-" in f[2:] and f not in EXCEPTIONS]
    assert not hyphenated, f"{module_name}: spell these with underscores: {hyphenated}"


def test_dry_run_accepts_both_spellings():
    from mixture.sample import build_parser

    parser = build_parser()
    assert parser.parse_args(["--tokens", "1.4T", "--dry_run"]).dry_run
    assert parser.parse_args(["--tokens", "1.4T", "--dry-run"]).dry_run
    assert not parser.parse_args(["--tokens", "1.4T"]).dry_run


@pytest.mark.parametrize("old", ["--shard-tokens", "--block-docs"])
def test_old_hyphen_spellings_are_gone_sampler(old):
    from mixture.sample import build_parser

    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        build_parser().parse_args(["--tokens", "1T", old, "1"])


@pytest.mark.parametrize("old", ["--seq-len", "--batch-size", "--ckpt-every", "--vocab-size"])
def test_old_hyphen_spellings_are_gone_trainer(old):
    from trainer.train import build_parser

    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        build_parser().parse_args([old, "1"])
