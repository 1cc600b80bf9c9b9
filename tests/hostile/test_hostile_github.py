"""GitHub on hostile input: one capped run over a site-packages, a folder of checkouts and a
BigQuery export, each full of traps, beside good files that must come through.

The security case: a secret file sits outside the input tree and is named by absolute, `..` and
symlinked RECORD entries and by links in a checkout; no byte of it may reach the output.
"""
from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

import pytest

from corpus import github_repos, localtree
from tests.hostile.harness import assert_completed, run_capped

MIT = (Path(__file__).resolve().parents[2] / "corpus" / "data" / "licenses" / "MIT.txt").read_text()
SECRET = "HOSTILE_SECRET_7f3a91 = 'do not leak this line'"


def _code(name: str) -> str:
    """A small Python file that passes every quality rule, distinct per name."""
    return (f'"""Module {name}: helpers for the hostile suite."""\n\n\n'
            f"def {name}_value(count):\n    total = 0\n    for step in range(count):\n"
            f"        total += step * 2\n    return total\n")


def _plant_secret(tmp: Path) -> Path:
    secret_dir = tmp / "secret"
    secret_dir.mkdir()
    (secret_dir / "secret.py").write_text(SECRET + "\n" + _code("secret"))
    os.mkfifo(secret_dir / "outside_fifo.py")
    return secret_dir


def _site_packages(tmp: Path, secret_dir: Path) -> Path:
    sp = tmp / "site-packages"
    pkg = sp / "goodpkg"
    dist = sp / "goodpkg-1.0.dist-info"
    pkg.mkdir(parents=True)
    dist.mkdir()
    (pkg / "__init__.py").write_text(_code("goodpkg"))
    (pkg / "leak.py").symlink_to(secret_dir / "secret.py")
    (pkg / "linkdir").symlink_to(secret_dir, target_is_directory=True)
    os.mkfifo(pkg / "pipe.py")
    (dist / "LICENSE").write_text(MIT)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: goodpkg\nVersion: 1.0\n")
    entries = ["goodpkg/__init__.py", str(secret_dir / "secret.py"), "goodpkg/../../secret/secret.py",
               "../secret/secret.py", "goodpkg/leak.py", "goodpkg/linkdir/secret.py", "goodpkg/pipe.py",
               "goodpkg/gone.py", "goodpkg-1.0.dist-info/RECORD"]
    (dist / "RECORD").write_text("".join(f"{e},sha256=x,1\n" for e in entries))
    return sp


def _checkouts(tmp: Path, secret_dir: Path) -> Path:
    folder = tmp / "checkouts"
    repo = folder / "repo1"
    repo.mkdir(parents=True)
    (repo / "LICENSE").write_text(MIT)
    (repo / "main.py").write_text(_code("main"))
    (repo / "alias.py").symlink_to("main.py")                     # inside the tree: skipped, counted
    (repo / "leak.py").symlink_to(secret_dir / "secret.py")       # out of the tree
    (repo / "secretdir").symlink_to(secret_dir, target_is_directory=True)
    (repo / "fifo_out.py").symlink_to(secret_dir / "outside_fifo.py")
    os.mkfifo(repo / "pipe.py")                                   # would block a plain open() forever
    os.mknod(repo / "sock.py", stat.S_IFSOCK | 0o600)
    with open(os.path.join(os.fsencode(repo), b"caf\xe9.py"), "wb") as fh:  # a name that is not UTF-8
        fh.write(_code("cafe").encode())
    deep = repo
    for _ in range(60):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "deep.py").write_text(_code("deep"))
    return folder


def _bigquery(tmp: Path, max_record: int) -> Path:
    good = {"repo_name": "org/good", "path": "good.py", "content": _code("bq_good"), "license": "mit"}
    rows = [
        json.dumps(good),
        json.dumps({**good, "path": "a.py", "license": {"key": "mit"}}),             # bad_record
        json.dumps({**good, "path": "b.py", "content": {"text": "x"}}),               # bad_record
        json.dumps({**good, "repo_name": ["org", "x"]}),                              # bad_record
        json.dumps([good]),                                                           # bad_record
        json.dumps({**good, "path": "c.py", "binary": "yes"}),                        # bad_record
        '{"repo_name": "org/s", "path": "\\udc80.py", "content": "x = 1", "license": "mit"}',  # bad_record
        '{"repo_name": "org/big", "path": "d.py", "size": ' + "9" * 5000 + "}",       # malformed_json
        "[" * 50_000,                                                                 # malformed_json
        "not json at all",                                                            # malformed_json
        '{"repo_name": "org/s", "path": "e.py", "content": "x = \\ud800", "license": "mit"}',  # bad_encoding
        json.dumps({**good, "path": "nan.py", "content": _code("bq_nan"), "stars": float("nan"),
                    "forks": 10 ** 30}),                                              # kept, no NaN
        json.dumps({**good, "path": "huge.py", "content": "y = 1\n" * (max_record // 4)}),  # record_too_large
    ]
    export = tmp / "bq.jsonl"
    export.write_text("\n".join(rows) + "\n")
    # A small gzip holding one 256 MiB line, then a good row: skipped in chunks, never held whole.
    with gzip.open(tmp / "bq_one_huge_line.jsonl.gz", "wb", compresslevel=1) as fh:
        fh.write(b'{"repo_name": "org/huge", "path": "h.py", "content": "')
        block = b"x" * (1 << 20)
        for _ in range(256):
            fh.write(block)
        fh.write(b'"}\n' + json.dumps({**good, "path": "after_huge.py", "content": _code("after")}).encode() + b"\n")
    return export



def _all_output_text(out: Path) -> str:
    chunks = []
    for f in sorted(out.rglob("*")):
        if f.is_file():
            raw = f.read_bytes()
            chunks.append(gzip.decompress(raw).decode("utf-8", "replace") if raw[:2] == b"\x1f\x8b"
                          else raw.decode("utf-8", "replace"))
    return "\n".join(chunks)


@pytest.mark.timeout(200)
def test_github_hostile_inputs_are_counted_and_nothing_outside_leaks(tmp_path):
    secret_dir = _plant_secret(tmp_path)
    inputs = tmp_path / "in"
    inputs.mkdir()
    sp = _site_packages(inputs, secret_dir)
    folder = _checkouts(inputs, secret_dir)
    max_record = 64 << 10
    export = _bigquery(inputs, max_record)
    out = tmp_path / "out"
    outcome = run_capped("pipelines.github", ["--input", str(sp), str(folder), str(export),
                                              str(inputs / "bq_one_huge_line.jsonl.gz"), "--added", "2026-01-01",
                                              "--max_record_bytes", str(max_record), "--rejected_samples", "all"],
                         output=out, timeout_s=150, case="github: site-packages + checkouts + bigquery traps")
    assert_completed(outcome)
    # site-packages: absolute, `..` (twice), a file link and a folder link out; checkout: a file
    # link, a folder link and a link to a FIFO out of the tree.
    assert outcome.errors.get("outside_input") == 8, outcome.errors
    assert outcome.errors.get("special_file") == 3, outcome.errors     # FIFO in RECORD, FIFO + socket in checkout
    assert outcome.errors.get("bad_record") == 6, outcome.errors
    assert outcome.errors.get("malformed_json") == 3, outcome.errors
    assert outcome.errors.get("record_too_large") == 2, outcome.errors
    assert outcome.dropped.get("bad_encoding") == 1, outcome.dropped
    assert outcome.info.get("symlinks_skipped") == 1, outcome.info
    assert outcome.peak_rss_mb < 1024, outcome.peak_rss_mb  # the 256 MiB line was never held
    docs = outcome.documents()
    paths = {(d["metadata"]["repo_name"], d["metadata"]["path"]) for d in docs}
    assert paths == {("goodpkg", "goodpkg/__init__.py"), ("repo1", "main.py"), ("repo1", "caf\\xe9.py"),
                     ("repo1", "d/" * 60 + "deep.py"), ("org/good", "good.py"), ("org/good", "nan.py"),
                     ("org/good", "after_huge.py")}
    nan_doc = next(d for d in docs if d["metadata"]["path"] == "nan.py")
    assert "stars" not in nan_doc["metadata"] and "forks" not in nan_doc["metadata"]
    assert nan_doc["metadata"]["license"] == "MIT" and "repo_name" in nan_doc["metadata"]
    everything = _all_output_text(out)
    assert "HOSTILE_SECRET" not in everything and "do not leak" not in everything
    assert str(secret_dir) not in everything
    for line in (out / "stats.json").read_text().splitlines():
        assert "NaN" not in line and "Infinity" not in line


@pytest.mark.timeout(20)
def test_record_entries_outside_the_tree_are_refused_before_any_open(tmp_path):
    secret_dir = _plant_secret(tmp_path)
    sp = _site_packages(tmp_path / "in", secret_dir)
    files, faults = github_repos._record_files(str(sp), str(sp / "goodpkg-1.0.dist-info"))
    assert files == ("goodpkg/__init__.py",)
    assert [r for r, _ in faults].count(localtree.OUTSIDE_INPUT) == 5
    assert [r for r, _ in faults].count(localtree.SPECIAL_FILE) == 1
    with pytest.raises(localtree.NotRegular):
        localtree.read_regular(localtree.real_root(str(sp)), str(sp / "goodpkg" / "leak.py"), 1 << 20)
    with pytest.raises(localtree.NotRegular):  # a FIFO is refused at open time without blocking
        localtree.read_regular(localtree.real_root(str(sp)), str(sp / "goodpkg" / "pipe.py"), 1 << 20)
