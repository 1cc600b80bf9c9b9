"""`llama-corpus COMMAND [flags]`: the commands users type, each dispatched by module name.

Every command runs the module's own entry point (`python -m <module>`) through `runpy`, so this top
layer imports no pipeline, tokenizer or trainer code itself and every flag and `--help` is the
module's own. `llama-corpus corpus SOURCE` checks SOURCE against the sources there are.
"""
from __future__ import annotations

import importlib.util
import runpy
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

from corpus.document import SOURCES

PROG = "llama-corpus"
# command: (module, arguments put before the user's, what it does)
COMMANDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "corpus": ("pipelines.{source}", (), "one source pipeline: corpus SOURCE [--input ... --output ...]"),
    "dedup": ("pipelines.crossdedup", (), "near-dedup across the sources' outputs"),
    "models": ("pipelines.models", ("build",), "per-language LMs, cutoffs, quality classifier, LID card"),
    "tokenizer": ("tokenizer.train", (), "train the SentencePiece BPE tokenizer"),
    "tokens": ("tokenizer.encode", (), "documents -> Megatron token shards (a Beam job)"),
    "mixture": ("mixture.sample", (), "plan and write the mixture at Table 1 shares"),
    "train": ("trainer.train", (), "the reference LLaMA trainer"),
    "report": ("mixture.report", (), "the data card (HTML + charts)"),
    "export-hf": ("trainer.export_hf", (), "a checkpoint as a Hugging Face LlamaForCausalLM directory"),
    "build-kenlm": ("", (), "build KenLM's lmplz/build_binary into PREFIX/bin (default: this Python's prefix)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [flags]   ({PROG} COMMAND --help for a command's flags)", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, _, summary) in COMMANDS.items()]
    lines += ["", f"sources for `corpus`: {', '.join(SOURCES)}"]
    return "\n".join(lines)


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def run_module(module: str, prog: str, argv: Sequence[str]) -> int:
    """`python -m module *argv`, in this process; its exit status."""
    if importlib.util.find_spec(module) is None:
        return _error(f"{prog}: module {module} is not installed")
    saved = sys.argv
    sys.argv = [prog, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return int(stop.code or 0)
        print(stop.code, file=sys.stderr)
        return 1
    finally:
        sys.argv = saved
    return 0


def kenlm_script() -> Path:
    """scripts/build_kenlm.sh of a checkout, or the copy installed with the package."""
    beside = Path(__file__).resolve().parent.parent / "scripts" / "build_kenlm.sh"
    if beside.is_file():
        return beside
    return Path(str(resources.files("corpus") / "data" / "build_kenlm.sh"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        return _error(f"unknown command {command!r}; one of: {', '.join(COMMANDS)}")
    module, leading, summary = COMMANDS[command]
    if command == "build-kenlm":
        if rest and rest[0] in ("-h", "--help"):
            print(f"usage: {PROG} build-kenlm [PREFIX]\n\n{summary}")
            return 0
        return subprocess.call(["bash", str(kenlm_script()), rest[0] if rest else sys.prefix])
    if command == "corpus":
        if not rest or rest[0] in ("-h", "--help"):
            print(f"usage: {PROG} corpus SOURCE [flags]   ({PROG} corpus SOURCE --help for its flags)\n\n"
                  f"sources: {', '.join(SOURCES)}")
            return 0 if rest else 2
        source, rest = rest[0], rest[1:]
        if source not in SOURCES:
            return _error(f"unknown source {source!r}; one of: {', '.join(SOURCES)}")
        module = module.format(source=source)
    return run_module(module, f"{PROG} {command}", [*leading, *rest])


if __name__ == "__main__":
    raise SystemExit(main())
