"""GitHub: licence detection, header removal, heuristics, dedup, pipeline ledger."""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from corpus import github as gh
from corpus import licenses
from corpus.document import Document
from corpus.rules import Drop
from corpus.samples import site_packages
from corpus.docfiles import iter_directory


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
    (repo,) = gh.site_packages_repos(str(sp))
    assert (repo.name, repo.license, repo.files) == ("demo", "MIT", ("demo/__init__.py",))

    checkout = tmp_path / "proj"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text('[project]\nname = "proj"\nlicense = "BSD-3-Clause"\n')
    assert gh.checkout_repo(str(checkout)).license == "BSD-3-Clause"


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
    rule = gh.make_quality_rule()
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
    rule = gh.make_quality_rule(str(tmp_path / "tok.model"), gh.Thresholds(min_alpha_per_token=0.0))
    out = rule(_doc(GOOD))
    assert isinstance(out, Document) and out.metadata["tokenizer"] == "sentencepiece:tok.model"
    # a 400-piece vocabulary splits words into several pieces: more tokens than the regex fallback
    assert out.metadata["tokens"] > gh.regex_token_count(GOOD)


def test_path_rules_and_language():
    assert gh.path_drop_reason("certs/ca.crt") == "crt_file"
    assert gh.path_drop_reason("LICENSE") == "license_file"
    assert gh.path_drop_reason("docs/LICENSE.md") == "license_file"
    assert gh.path_drop_reason("pkg/license.py") is None
    assert gh.path_drop_reason("a/b.png") == "extension_not_allowed"
    assert gh.path_drop_reason("Makefile") is None and gh.language_of("Makefile") == "Makefile"
    assert gh.language_of("x/y.hpp") == "C++" and gh.language_of("z.py") == "Python"


# --------------------------------------------------------------------------------------------
# pipeline: dedup across inputs, BigQuery rows, accounting on real packages
# --------------------------------------------------------------------------------------------
def _run(tmp_path: Path, *argv: str):
    from pipelines import github

    out = tmp_path / "out"
    ledger = github.main([*argv, "--output", str(out), "--added", "2026-01-01"])
    return ledger, [doc.to_record() for doc in iter_directory(str(out))]


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
    texts = sorted(d["text"] for d in docs)
    assert texts.count(GOOD) == 1 and len(docs) == 4
    for d in docs:
        assert "Copyright" not in d["text"]
        assert d["metadata"]["license"] in licenses.ALLOWED_FAMILIES and d["metadata"]["hash"]


def test_real_site_packages_accounting(tmp_path):
    ledger, docs = _run(tmp_path, "--input", site_packages(), "--repos", "six", "idna", "packaging", "py7zr")
    assert ledger.balanced and ledger.documents_written == len(docs) > 0
    assert ledger.documents_in == ledger.documents_written + sum(ledger.dropped.values())
    assert ledger.dropped.get("license_not_allowed", 0) > 0          # py7zr is LGPL
    assert {d["metadata"]["repo_name"] for d in docs} <= {"six", "idna", "packaging"}
    assert all(d["metadata"]["language"] for d in docs)
    assert len({d["metadata"]["hash"] for d in docs}) == len(docs)
