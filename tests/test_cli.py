"""The command line fails fast and shows its work: every mistake a user makes is one line on stderr
and a non-zero exit before any work; the `llama-corpus` console script dispatches to the modules
by name and installs outside the checkout."""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from corpus.document import SOURCES
from llama_corpus import cli
from pipelines import crossdedup, runner
from tests import eighth_source

ROOT = Path(__file__).resolve().parent.parent


def _inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text("alpha\nbeta\ngamma\n")
    return src


def _refused(capsys, argv: list[str], main=eighth_source.main) -> str:
    """Run `main(argv)`, which must stop non-zero with exactly one line on stderr (printed, or the
    message of a `SystemExit` that Python prints)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(argv)
    code = stop.value.code
    err = capsys.readouterr().err.strip().splitlines() + ([code] if isinstance(code, str) else [])
    assert code not in (0, None) and len(err) == 1, (code, err)
    return err[0]


def test_input_that_matches_nothing_is_an_error(tmp_path, capsys):
    line = _refused(capsys, ["--input", str(tmp_path / "missing*.txt"), "--output", str(tmp_path / "out")])
    assert "matches no file" in line and "missing*.txt" in line
    (tmp_path / "empty").mkdir()
    line = _refused(capsys, ["--input", str(tmp_path / "empty"), "--output", str(tmp_path / "out")])
    assert "matches no file" in line
    assert not (tmp_path / "out").exists()  # nothing was started


@pytest.mark.parametrize("flags,named", [(["--fromat", "parquet"], "--fromat"), (["--numshards=2"], "--numshards"),
                                         (["stray"], "stray")])
def test_an_unknown_flag_is_an_error_not_a_beam_warning(tmp_path, capsys, flags, named):
    line = _refused(capsys, ["--input", str(_inputs(tmp_path)), "--output", str(tmp_path / "out"), *flags])
    assert "unknown flag" in line and named in line
    assert not (tmp_path / "out").exists()


def test_beam_flags_and_the_runner_s_own_options_pass(tmp_path):
    options = runner.beam_options("p", ["--direct_num_workers=2", "--direct_running_mode=multi_processing",
                                        "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                                        "--dask_client_address=localhost:1"])
    assert options.get_all_options()["direct_num_workers"] == 2


def test_a_bad_beam_option_value_is_one_line(capsys):
    with pytest.raises(SystemExit):
        runner.beam_options("p", ["--direct_num_workers=many"])
    assert capsys.readouterr().err.count("\n") == 1


def test_aws_endpoint_url_reaches_beam(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert runner.beam_options("p", []).get_all_options()["s3_endpoint_url"] == "http://127.0.0.1:9"
    given = runner.beam_options("p", ["--s3_endpoint_url=http://other:1"]).get_all_options()
    assert given["s3_endpoint_url"] == "http://other:1"


def test_an_output_that_cannot_be_written_fails_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output directory should go")
    line = _refused(capsys, ["--input", str(_inputs(tmp_path)), "--output", str(blocker / "out")])
    assert "is not writable" in line and str(blocker) in line


def test_crossdedup_fails_fast_and_shows_defaults(tmp_path, capsys):
    line = _refused(capsys, ["--input", str(tmp_path / "nothing"), "--output", str(tmp_path / "o")], crossdedup.main)
    assert "nothing" in line and ("no document files" in line or "not found" in line)
    help_text = crossdedup.make_parser().format_help()
    assert "(default: out/dedup)" in help_text and "(default: wikipedia,books" in help_text
    assert "--overwrite" in help_text


def test_llama_corpus_lists_its_commands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("corpus", "dedup", "models", "tokenizer", "tokens", "mixture", "train", "report", "export-hf"):
        assert f"  {command} " in out
    assert all(source in out for source in SOURCES)


def test_an_unknown_source_or_command_names_the_valid_ones(capsys):
    assert cli.main(["corpus", "cc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'cc'" in err and all(source in err for source in SOURCES)
    assert cli.main(["crawl"]) == 2
    assert "export-hf" in capsys.readouterr().err


def test_make_corpus_goes_through_the_dispatcher():
    makefile = (ROOT / "Makefile").read_text()
    assert "-m llama_corpus corpus $(SOURCE)" in makefile


def test_commands_dispatch_to_their_module_by_name(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "one document"}\n')
    assert cli.run_module("tests.hostile.outputs_source", "llama-corpus corpus lines",
                          ["--input", str(src), "--output", str(tmp_path / "out"), "--added", "2026-01-01"]) == 0
    assert (tmp_path / "out" / "stats.json").is_file()
    assert cli.main(["corpus", "c4", "--help"]) == 0
    assert "usage: python -m pipelines.c4" in capsys.readouterr().out  # the module's own help
    for module, _, _ in cli.COMMANDS.values():
        if module and "{" not in module and module != "trainer.export_hf":
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module


def test_pip_install_gives_a_console_script_that_works_outside_the_checkout(tmp_path):
    """`pip install .` into a fresh venv that sees the project venv's dependencies (a .pth file:
    no download), then the console script and the packaged files, from a directory elsewhere.
    About 15 s (venv + wheel build), so it stays in the default run."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "project_deps.pth").write_text(ours + "\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(ROOT)],
                   check=True, cwd=tmp_path, env=clean, capture_output=True)
    script = env_dir / "bin" / "llama-corpus"
    listed = subprocess.run([str(script), "--help"], cwd=tmp_path, env=clean, capture_output=True, text=True)
    assert listed.returncode == 0 and "export-hf" in listed.stdout
    sources = subprocess.run([str(script), "corpus", "--help"], cwd=tmp_path, env=clean, capture_output=True, text=True)
    assert sources.returncode == 0 and "stackexchange" in sources.stdout
    probe = ("import corpus, corpus.samples as s, llama_corpus.cli as c; "
             "print(corpus.__file__); print(s.MANIFEST, s.MANIFEST.is_file()); print(c.kenlm_script().is_file())")
    where = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=clean, capture_output=True, text=True)
    lines = where.stdout.splitlines()
    assert lines[0].startswith(site), lines  # the installed copy, not the checkout
    assert lines[1].endswith("samples_manifest.json True") and lines[2] == "True", lines
    c4_help = subprocess.run([str(script), "corpus", "c4", "--help"], cwd=tmp_path, env=clean,
                             capture_output=True, text=True)
    assert c4_help.returncode == 0 and "--overwrite" in c4_help.stdout, c4_help.stderr[-2000:]
