"""GitHub: licence detection, repositories, header removal, heuristics, dedup, pipeline ledger."""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from corpus import github as gh
from corpus import github_repos, licenses
from corpus.document import Document
from corpus.rules import Drop
from corpus.samples import site_packages
from corpus.steps.github import Quality, QualityParams, RepoParams
from pipelines import github as pipeline


# --------------------------------------------------------------------------------------------
# real licence files from the installed packages
# --------------------------------------------------------------------------------------------
def _installed_license_files() -> list[Path]:
    sp = Path(site_packages())
    out = []
    for dist in sorted(sp.glob("*.dist-info")):
        for folder in (dist, dist / "licenses"):
            if folder.is_dir():
                out += [f for f in sorted(folder.iterdir()) if f.is_file() and licenses.is_license_file(f.name)]
    return out


def _find(predicate) -> str:
    for path in _installed_license_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) < 20000 and predicate(text):
            return text
    pytest.skip("no such licence file installed")


def _is_plain_mit(t: str) -> bool:
    return "Permission is hereby granted, free of charge" in t and "shall be included in all" in t and len(t) < 1400


def _is_plain_bsd3(t: str) -> bool:
    return "Redistribution and use in source and binary forms" in t and "endorse or promote" in t and len(t) < 2000


def _is_apache(t: str) -> bool:
    return "Apache License" in t and "Version 2.0, January 2004" in t and "END OF TERMS AND CONDITIONS" in t


def test_real_mit_bsd_apache_files_detected():
    assert licenses.match_text(_find(_is_plain_mit)).spdx == "MIT"
    assert licenses.match_text(_find(_is_plain_bsd3)).spdx == "BSD-3-Clause"
    assert licenses.match_text(_find(_is_apache)).spdx == "Apache-2.0"


def test_near_variants_still_match():
    mit = _find(_is_plain_mit)
    changed = re.sub(r"(?im)^.*copyright \(c\).*$", "Copyright (c) 1999-2031 Somebody Else <x@y.z> and friends", mit)
    assert licenses.match_text(changed).spdx == "MIT"
    reflowed = " ".join(mit.split())  # one long line, British spelling
    assert licenses.match_text(reflowed.replace("license", "licence")).spdx == "MIT"
    titled = "The MIT License (MIT)\n\n" + mit
    assert licenses.match_text(titled).spdx == "MIT"
    # MIT-0 drops the attribution clause: similar, but not MIT.
    mit0 = re.sub(r"The above copyright notice and this permission notice shall be included in\s+all\s+"
                  r"copies or substantial portions of the Software\.", "", mit, flags=re.S)
    if mit0 != mit:
        assert licenses.match_text(mit0).spdx != "MIT"


def test_bsd2_and_bsd3_told_apart():
    bsd3 = _find(_is_plain_bsd3)
    bsd2 = re.sub(r"(?s)\n[^\n]*Neither the name.*?written permission\.\n", "\n", bsd3)
    assert "Neither" not in bsd2
    assert licenses.match_text(bsd2).spdx == "BSD-2-Clause"
    assert licenses.match_text(bsd3).spdx == "BSD-3-Clause"


GPL_LIKE = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

  This program is free software: you can redistribute it and/or modify
  it under the terms of the GNU General Public License as published by
  the Free Software Foundation, either version 3 of the License, or
  (at your option) any later version.
"""


def test_gpl_rejected():
    found = licenses.match_text(GPL_LIKE)
    assert found.spdx == "GPL" and found.status == licenses.NOT_ALLOWED
    # a GPL/LGPL file really installed here (kenlm, py7zr, ... ship one), if any
    for path in _installed_license_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        if "GNU LESSER GENERAL PUBLIC LICENSE" in text[:500] or "GNU GENERAL PUBLIC LICENSE" in text[:500]:
            assert licenses.match_text(text).status == licenses.NOT_ALLOWED
            break
    unknown = licenses.match_text("You may do whatever you like with this, except sell it.")
    assert unknown.spdx is None and unknown.status == licenses.UNKNOWN


def test_main_license_file_wins_over_bundled_ones():
    mit = _find(_is_plain_mit)
    found = licenses.match_files([("LICENSE", GPL_LIKE), ("LICENSE_zlib.txt", mit)])
    assert found.status == licenses.NOT_ALLOWED
    pointer = "This software is made available under the terms of either of the licenses found in LICENSE.APACHE or LICENSE.BSD."
    found = licenses.match_files([("LICENSE", pointer), ("LICENSE.APACHE", _find(_is_apache))])
    assert found.spdx == "Apache-2.0" and found.source == "file:LICENSE.APACHE"


def test_metadata_fallback():
    assert licenses.match_expression("Apache-2.0 OR BSD-2-Clause").spdx == "Apache-2.0"
    assert licenses.match_expression("MIT AND GPL-3.0-only").status == licenses.NOT_ALLOWED
    assert licenses.match_expression("MIT-0").status == licenses.NOT_ALLOWED
    meta = "Metadata-Version: 2.1\nName: x\nLicense: BSD\nClassifier: License :: OSI Approved :: BSD License\n\nbody"
    assert licenses.match_metadata(meta).spdx == "BSD"
    meta = "Metadata-Version: 2.1\nName: x\nClassifier: License :: OSI Approved :: GNU General Public License v3 (GPLv3)\n"
    assert licenses.match_metadata(meta).status == licenses.NOT_ALLOWED


def test_dist_info_and_checkout_detection(tmp_path):
    sp = tmp_path / "site-packages"
    (sp / "demo-1.0.dist-info" / "licenses").mkdir(parents=True)
    (sp / "demo-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.4\nName: demo\nLicense-Expression: GPL-3.0\n")
    (sp / "demo-1.0.dist-info" / "licenses" / "LICENSE").write_text(_find(_is_plain_mit))  # the file wins
    (sp / "demo").mkdir()
    (sp / "demo" / "__init__.py").write_text("print('hello world from the demo package')\n")
    (sp / "demo-1.0.dist-info" / "RECORD").write_text("demo/__init__.py,,\ndemo-1.0.dist-info/METADATA,,\n../../bin/demo,,\n")
    (candidate,) = github_repos.list_candidates([str(sp)])   # listed without reading the dist-info
    assert (candidate.kind, candidate.path) == ("site-packages", str(sp / "demo-1.0.dist-info"))
    repo = github_repos.discover(github_repos.name_candidate(candidate))
    assert (repo.name, repo.license, repo.files) == ("demo", "MIT", ("demo/__init__.py",))

    checkout = tmp_path / "proj"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text('[project]\nname = "proj"\nlicense = "BSD-3-Clause"\n')
    found = github_repos.checkout_repo(str(checkout))
    assert (found.license, found.license_source) == ("BSD-3-Clause", "metadata:pyproject")

    node = tmp_path / "node"
    node.mkdir()
    (node / "package.json").write_text(json.dumps({"name": "node", "license": "Apache-2.0"}))
    found = github_repos.checkout_repo(str(node))
    assert (found.license, found.license_source) == ("Apache-2.0", "metadata:package.json")
    (node / "LICENSE").write_text(GPL_LIKE)  # a licence file wins over metadata
    assert github_repos.checkout_repo(str(node)).license_status == licenses.NOT_ALLOWED


def _clones(tmp_path: Path) -> Path:
    clones = tmp_path / "clones"
    for name in ("Beta_Pkg", "alpha", "gamma"):
        (clones / name).mkdir(parents=True)
        (clones / name / "setup.py").write_text("print('x')\n")
    (clones / "alpha" / ".git").mkdir()
    (clones / "alpha" / ".git" / "config").write_text("[core]\n")
    (clones / "node_modules").mkdir()
    return clones


def _names(candidates) -> list[str]:
    return [n.name for n in github_repos.select_repos(map(github_repos.name_candidate, candidates), None, 0)]


def test_list_name_select_and_discover_repositories(tmp_path):
    clones = _clones(tmp_path)
    candidates = github_repos.list_candidates([str(clones)])   # a folder of checkouts
    assert _names(candidates) == ["alpha", "Beta_Pkg", "gamma"]
    (alpha,) = github_repos.list_candidates([str(clones / "alpha")])
    assert github_repos.discover(github_repos.name_candidate(alpha)).files == ("setup.py",)  # .git skipped
    named = [github_repos.name_candidate(c) for c in candidates]
    assert [n.name for n in github_repos.select_repos(named, ["beta-pkg", "GAMMA"], 0)] == ["Beta_Pkg", "gamma"]
    assert [n.name for n in github_repos.select_repos(named, None, 2)] == ["alpha", "Beta_Pkg"]
    listed = github_repos.listed_candidates(f"# my clones\n{clones / 'gamma'}\n\n  {clones / 'alpha'}  \n")
    assert [github_repos.name_candidate(c).name for c in listed] == ["gamma", "alpha"]


def test_max_repos_and_repos_choose_on_the_workers_as_sorting_would(tmp_path):
    clones = _clones(tmp_path)
    ledger, docs = _run(tmp_path, "--input", str(clones), "--max_repos", "2")
    assert ledger.info["repos_read"] == 2 and {d["metadata"]["repo_name"] for d in docs} <= {"alpha", "Beta_Pkg"}
    assert ledger.documents_in == 2  # one setup.py each: gamma was never walked
    ledger, _ = _run(tmp_path, "--input", str(clones), "--repos", "gamma", "beta-pkg", "--max_repos", "1",
                     "--overwrite")
    assert ledger.info["repos_read"] == 1 and ledger.documents_in == 1


def test_read_repo_reads_only_what_can_be_kept(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "ok.py").write_text("x = 1\n")
    (root / "big.py").write_text("x = 1\n" * 10)
    (root / "nul.py").write_bytes(b"x = 1\x00\n")
    (root / "latin.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (root / "img.png").write_bytes(b"\x89PNG")
    mit = github_repos.Repo("r", str(root), ("big.py", "img.png", "latin.py", "nul.py", "ok.py"),
                            "MIT", licenses.ALLOWED_STATUS, "t")
    status = {d.metadata["path"]: d.metadata["content_status"] for d in github_repos.read_repo(mit, "", 20)}
    assert status == {"ok.py": "ok", "big.py": "too_large", "nul.py": "binary", "latin.py": "binary",
                      "img.png": "not_read"}
    gpl = github_repos.Repo("r", str(root), ("ok.py",), "GPL", licenses.NOT_ALLOWED, "t")
    (doc,) = github_repos.read_repo(gpl, "", 20)
    assert doc.text == "" and doc.metadata["content_status"] == "not_read" and doc.metadata["size"] == 6


# --------------------------------------------------------------------------------------------
# header removal
# --------------------------------------------------------------------------------------------
def test_header_removal_keeps_shebang_encoding_and_includes():
    py = ("#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# Copyright (c) 2020 Foo\n# Licensed under the MIT License.\n"
          "#\n\n# fmt: off\nimport os\n")
    assert gh.remove_license_header(py) == "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# fmt: off\nimport os\n"
    c = "/*\n * Copyright 2019 Bar\n * SPDX-License-Identifier: Apache-2.0\n */\n\n#include <stdio.h>\nint main(void) { return 0; }\n"
    assert gh.remove_license_header(c) == "#include <stdio.h>\nint main(void) { return 0; }\n"
    include_first = "#include <stdio.h>\n// Copyright 2019 Bar\nint x;\n"
    assert gh.remove_license_header(include_first) == include_first
    js = "// Copyright 2018 The Authors. All rights reserved.\n// Use of this source code is governed by a BSD-style license.\n\nconst x = 1;\n"
    assert gh.remove_license_header(js) == "const x = 1;\n"
    sql = "-- Copyright 2020 Baz\n-- license: MIT\nSELECT 1;\n"
    assert gh.remove_license_header(sql) == "SELECT 1;\n"


def test_header_removal_leaves_ordinary_comments():
    for text in ("# Helpers for parsing dates.\nimport re\n", "/* Fast path for small inputs */\nint f(void);\n",
                 "/* Copyright 2020 */ int inline_code_after_comment;\n", "---\ntitle: x\n---\n",
                 "import os\n# Copyright 2020 later in the file\n"):
        assert gh.remove_license_header(text) == text


# --------------------------------------------------------------------------------------------
# heuristics (RedPajama thresholds)
# --------------------------------------------------------------------------------------------
def _doc(text: str, path: str = "a/b.py") -> Document:
    return gh.file_document("owner/repo", path, text, licenses.LicenseMatch("MIT", 1.0, "t"))


GOOD = "def add(first_value, second_value):\n    return first_value + second_value\n"


def test_each_heuristic():
    step = Quality()
    step.setup()
    rule = step
    kept = rule(_doc(GOOD))
    assert isinstance(kept, Document) and kept.metadata["hash"] == gh.content_hash(GOOD)
    assert rule(_doc("x = '" + "a" * 994 + "'\n" + GOOD * 20)).__class__ is Document   # 1000 chars: kept
    assert rule(_doc("x = '" + "a" * 995 + "'\n" + GOOD * 20)) == Drop("max_line_length")  # 1001 chars
    long_lines = "\n".join(["value_name = " + "word " * 20] * 5)                    # ~113 chars per line
    assert rule(_doc(long_lines)) == Drop("avg_line_length")
    assert rule(_doc("{}\n" * 30 + "[ ] ( ) ; ; ; -- ++ ** //\n" * 10)) == Drop("alnum_fraction")
    assert rule(_doc("x1 = 0x1 + 2 * 3 - 4 / 5\n" * 20)) == Drop("alpha_per_token")
    assert rule(_doc("   \n")) == Drop("empty")


def test_sentencepiece_tokenizer_option(tmp_path):
    import sentencepiece as spm

    corpus_file = tmp_path / "code.txt"
    sp_root = Path(site_packages())
    lines = []
    for path in sorted((sp_root / "packaging").glob("*.py"))[:10]:
        lines += [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    corpus_file.write_text("\n".join(lines))
    spm.SentencePieceTrainer.train(input=str(corpus_file), model_prefix=str(tmp_path / "tok"), vocab_size=400, character_coverage=0.99,
                                   model_type="bpe", split_digits=True, byte_fallback=True, minloglevel=2)
    step = Quality(QualityParams(min_alpha_per_token=0.0, tokenizer=str(tmp_path / "tok.model")))
    step.setup()
    out = step(_doc(GOOD))
    assert isinstance(out, Document) and out.metadata["tokenizer"] == "sentencepiece:tok.model"
    # a 400-piece vocabulary splits words into several pieces: more tokens than the regex fallback
    assert out.metadata["tokens"] > gh.regex_token_count(GOOD)


def test_path_rules_and_language():
    assert gh.path_drop_reason("certs/ca.crt") == "crt_file"
    assert gh.path_drop_reason("LICENSE") == "license_file"
    assert gh.path_drop_reason("docs/LICENSE.md") == "license_file"
    assert gh.path_drop_reason("pkg/license.py") is None
    assert gh.path_drop_reason("a/b.png") == "extension_not_allowed"
    assert gh.path_drop_reason("Makefile") is None and gh.programming_language("Makefile") == "Makefile"
    assert gh.programming_language("x/y.hpp") == "C++" and gh.programming_language("z.py") == "Python"


# --------------------------------------------------------------------------------------------
# pipeline: inputs, flags, dedup across inputs, BigQuery rows, accounting on real packages
# --------------------------------------------------------------------------------------------
def test_split_inputs_local_folders_are_repositories(tmp_path):
    (tmp_path / "clones").mkdir()
    export = tmp_path / "github_000.jsonl.gz"
    export.write_bytes(b"")
    folders, patterns = pipeline.split_inputs([
        str(tmp_path / "clones"), f"file://{tmp_path / 'clones'}", str(export), str(tmp_path / "*.jsonl.gz"),
        "gs://bucket/github/", "s3://bucket/github_*.jsonl.gz", str(tmp_path / "missing"),
    ])
    assert folders == [str(tmp_path / "clones")] * 2
    assert patterns == [str(export), str(tmp_path / "*.jsonl.gz"), "gs://bucket/github/",
                        "s3://bucket/github_*.jsonl.gz", str(tmp_path / "missing")]


def test_flags_come_from_the_params_dataclasses():
    import argparse

    from corpus.step import add_params, params_from

    parser = argparse.ArgumentParser()
    for cls in pipeline.SOURCE.params:
        add_params(parser, cls)
    flags = {a.dest for a in parser._actions if a.dest != "help"}
    assert flags == {"repos", "max_repos", "repo_list", "tokenizer", "max_line_length", "max_avg_line_length",
                     "min_alnum_fraction", "min_alpha_per_token", "max_file_bytes", "max_record_bytes"}
    assert params_from(parser.parse_args([]), QualityParams) == QualityParams() == QualityParams(
        max_line_length=1000, max_avg_line_length=100, min_alnum_fraction=0.25, min_alpha_per_token=1.5)
    args = parser.parse_args(["--repos", "six", "idna", "--max_line_length", "500"])
    assert params_from(args, RepoParams) == RepoParams(repos=("six", "idna"), max_file_bytes=1 << 20)
    assert params_from(args, QualityParams).max_line_length == 500


def test_missing_tokenizer_fails_on_the_launcher(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "setup.py").write_text("")
    with pytest.raises(SystemExit, match="no such file"):
        pipeline.main(["--input", str(repo), "--output", str(tmp_path / "out"),
                       "--tokenizer", str(tmp_path / "missing.model")])
    assert not (tmp_path / "out").exists()


def _read_shards(directory: Path) -> list[dict]:
    return [Document.from_json(line).to_record() for shard in sorted(directory.iterdir()) for line in gzip.open(shard)]


def _run(tmp_path: Path, *argv: str):
    out = tmp_path / "out"
    ledger = pipeline.main([*argv, "--output", str(out), "--added", "2026-01-01", "--overwrite"])
    return ledger, _read_shards(out / "documents")


def test_exact_dedup_across_inputs_and_bigquery_rows(tmp_path):
    mit = _find(_is_plain_mit)
    shared = "# Copyright 2020 A\n# MIT licence\n\n" + GOOD
    for name in ("one", "two"):
        repo = tmp_path / "checkouts" / name
        (repo / "src").mkdir(parents=True)
        (repo / "LICENSE").write_text(mit)
        (repo / "src" / "shared.py").write_text(shared)
        (repo / "src" / f"own_{name}.py").write_text(f"def only_in_{name}(value):\n    return value * 2\n")
        (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    rows = [
        {"repo_name": "x/dup", "path": "lib/copy.py", "content": GOOD, "license": "mit"},          # same after header
        {"repo_name": "x/gpl", "path": "lib/gpl.py", "content": "def gpl_code():\n    pass\n", "license": "gpl-3.0"},
        {"repo_name": "x/bsd", "path": "main.go", "content": "package main\n\nfunc main() {\n\tprintln(\"hello\")\n}\n",
         "license": "bsd-3-clause"},
    ]
    export = tmp_path / "github_000.jsonl.gz"
    with gzip.open(export, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    ledger, docs = _run(tmp_path, "--input", str(tmp_path / "checkouts"), str(export))
    assert ledger.balanced
    assert ledger.dropped["duplicate_content"] == 2                 # 3 copies of GOOD (2 after header removal) -> 1
    assert ledger.dropped["license_not_allowed"] == 1
    assert ledger.dropped["license_file"] == 2 and ledger.dropped["extension_not_allowed"] == 2
    assert ledger.errors == {"malformed_json": 1}
    assert ledger.info == {"files_read": 1, "repos_read": 2, "repos_license_allowed": 2, "repo_license:MIT": 2}
    texts = sorted(d["text"] for d in docs)
    assert texts.count(GOOD) == 1 and len(docs) == 4
    for d in docs:
        assert "Copyright" not in d["text"]
        assert d["metadata"]["license"] in licenses.ALLOWED_FAMILIES and d["metadata"]["hash"]
    # the copy with the smallest id is kept, the two others are the rejected samples
    duplicates = _read_shards(tmp_path / "out" / "rejected")
    duplicates = [d for d in duplicates if d["text"] == GOOD]
    kept = next(d for d in docs if d["text"] == GOOD)
    assert len(duplicates) == 2 and all(kept["id"] < d["id"] for d in duplicates)


def test_real_site_packages_accounting(tmp_path):
    listing = tmp_path / "repos.txt"
    listing.write_text(f"# the venv's own packages\n{site_packages()}\n")
    (tmp_path / "no-rows.jsonl").write_text("\n")  # --input must match a file; the repositories come from the list
    ledger, docs = _run(tmp_path, "--input", str(tmp_path / "no-rows.jsonl"), "--repo_list", str(listing),
                        "--repos", "six", "idna", "packaging", "py7zr")
    assert ledger.balanced and ledger.documents_written == len(docs) > 0
    assert ledger.documents_in == ledger.documents_written + sum(ledger.dropped.values())
    assert ledger.dropped.get("license_not_allowed", 0) > 0          # py7zr is LGPL
    assert ledger.info["repos_read"] == 4 and ledger.info["repos_license_not_allowed"] == 1
    assert sum(n for k, n in ledger.info.items() if k.startswith("repo_license:")) == 4
    assert {d["metadata"]["repo_name"] for d in docs} <= {"six", "idna", "packaging"}
    assert all(d["metadata"]["programming_language"] for d in docs)
    assert len({d["metadata"]["hash"] for d in docs}) == len(docs)


def test_bigquery_rows_of_the_wrong_shape_are_counted():
    good = {"repo_name": "o/r", "path": "a.py", "content": "x = 1\n", "license": "mit"}
    lines = [json.dumps(good), json.dumps({**good, "license": {"k": 1}}), json.dumps({**good, "content": 5}),
             json.dumps([1]), '{"repo_name": 1' + "0" * 5000 + "}", "[" * 10_000, json.dumps({**good, "path": "b.py",
             "stars": float("inf")}), "x" * 300]
    import io

    items = list(gh.read_bigquery_jsonl(io.BytesIO("\n".join(lines).encode()), "bq.jsonl", max_record_bytes=200))
    kinds = [getattr(i, "reason", None) or i.metadata["path"] for i in items]
    assert kinds == ["a.py", "bad_record", "bad_record", "bad_record", "record_too_large", "record_too_large",
                     "b.py", "record_too_large"]
    assert "stars" not in items[6].metadata


def test_display_names_of_undecodable_file_names():
    from corpus import localtree

    assert localtree.display_name("ok.py") == "ok.py"
    assert localtree.display_name(b"caf\xe9.py".decode("utf-8", "surrogateescape")) == "caf\\xe9.py"
