"""GitHub: source files of Apache/BSD/MIT projects, headers removed, filtered like RedPajama.

Recipe (LLaMA §2.1; RedPajama `data_prep/github`, RECIPE §3.3):
- keep projects under the Apache, BSD and MIT licences;
- skip `.crt` files and the LICENSE file itself; keep whitelisted extensions only;
- remove the leading licence/copyright comment block with regular expressions;
- drop files whose longest line is > 1000 characters, whose average line length is > 100, whose
  alphanumeric fraction is < 0.25, or whose alphabetic characters per token are < 1.5;
- exact file-level dedup on a content hash (global, done by the pipeline through the shuffle).

This module holds what every file goes through, whatever its origin: the extension whitelist,
the file document, the BigQuery `github_repos` reader (JSON lines with `repo_name`, `path`,
`content`, `license`, ...) and the rules. Local repositories (checkouts, site-packages) are
found and read by `corpus.github_repos`. Pure Python, no Beam.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Optional, Sequence, Union

from corpus import licenses, paths
from corpus.document import Document, make_id
from corpus.fileio import ReadError, read_lines
from corpus.rules import Drop, Outcome, Rule
from corpus.step import param

SOURCE = "github"

# RedPajama's whitelist, matched with str.endswith (case-sensitive), as in github_run_filter.py.
EXTENSIONS: tuple[str, ...] = (
    ".asm", ".bat", ".cmd", ".c", ".h", ".cs", ".cpp", ".hpp", ".c++", ".h++", ".cc", ".hh", ".C",
    ".H", ".cmake", ".css", ".dockerfile", ".f90", ".f", ".f03", ".f08", ".f77", ".f95", ".for",
    ".fpp", ".go", ".hs", ".html", ".java", ".js", ".jl", ".lua", ".md", ".markdown", ".php",
    ".php3", ".php4", ".php5", ".phps", ".phpt", ".pl", ".pm", ".pod", ".perl", ".ps1", ".psd1",
    ".psm1", ".py", ".rb", ".rs", ".sql", ".scala", ".sh", ".bash", ".command", ".zsh", ".ts",
    ".tsx", ".tex", ".vb", "Dockerfile", "Makefile", ".xml", ".rst", ".m", ".smali",
)

LANGUAGES: dict[str, str] = {
    ".asm": "Assembly", ".bat": "Batchfile", ".cmd": "Batchfile", ".c": "C", ".h": "C",
    ".cs": "C#", ".cpp": "C++", ".hpp": "C++", ".c++": "C++", ".h++": "C++", ".cc": "C++",
    ".hh": "C++", ".C": "C++", ".H": "C++", ".cmake": "CMake", ".css": "CSS",
    ".dockerfile": "Dockerfile", "Dockerfile": "Dockerfile", ".f90": "Fortran", ".f": "Fortran",
    ".f03": "Fortran", ".f08": "Fortran", ".f77": "Fortran", ".f95": "Fortran", ".for": "Fortran",
    ".fpp": "Fortran", ".go": "Go", ".hs": "Haskell", ".html": "HTML", ".java": "Java",
    ".js": "JavaScript", ".jl": "Julia", ".lua": "Lua", ".md": "Markdown", ".markdown": "Markdown",
    ".php": "PHP", ".php3": "PHP", ".php4": "PHP", ".php5": "PHP", ".phps": "PHP", ".phpt": "PHP",
    ".pl": "Perl", ".pm": "Perl", ".pod": "Perl", ".perl": "Perl", ".ps1": "PowerShell",
    ".psd1": "PowerShell", ".psm1": "PowerShell", ".py": "Python", ".rb": "Ruby", ".rs": "Rust",
    ".sql": "SQL", ".scala": "Scala", ".sh": "Shell", ".bash": "Shell", ".command": "Shell",
    ".zsh": "Shell", ".ts": "TypeScript", ".tsx": "TypeScript", ".tex": "TeX",
    ".vb": "Visual Basic", "Makefile": "Makefile", ".xml": "XML", ".rst": "reStructuredText",
    ".m": "Objective-C", ".smali": "Smali",
}


def whitelisted(path: str) -> bool:
    return path.endswith(EXTENSIONS)


def programming_language(path: str) -> str:
    """Language by extension (longest whitelist suffix that matches), else ""."""
    best = ""
    for suffix in LANGUAGES:
        if path.endswith(suffix) and len(suffix) > len(best):
            best = suffix
    return LANGUAGES.get(best, "")


# --------------------------------------------------------------------------------------------
# Licence status carried by each file document
# --------------------------------------------------------------------------------------------
def license_metadata(found: licenses.LicenseMatch) -> dict:
    return {"license": found.spdx, "license_status": found.status, "license_source": found.source}


def bigquery_license(value: Optional[str]) -> licenses.LicenseMatch:
    """BigQuery's `licenses.license` ("mit", "apache-2.0", "bsd-3-clause", "gpl-2.0", ...).

    RedPajama keeps `license LIKE 'mit%' OR 'bsd%' OR 'apache%'`; we map those to SPDX ids.
    """
    if not value:
        return licenses.LicenseMatch(None, 0.0, "bigquery")
    v = value.strip().lower()
    exact = {"mit": "MIT", "apache-2.0": "Apache-2.0", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause"}
    if v in exact:
        return licenses.LicenseMatch(exact[v], 1.0, "bigquery")
    if v.startswith(("mit", "bsd", "apache")):
        return licenses.LicenseMatch({"m": "MIT", "b": "BSD", "a": "Apache-2.0"}[v[0]], 1.0, "bigquery")
    return licenses.LicenseMatch(value.strip(), 1.0, "bigquery")


# --------------------------------------------------------------------------------------------
# Reading BigQuery exports (JSON lines)
# --------------------------------------------------------------------------------------------
def file_document(repo_name: str, path: str, text: str, found: licenses.LicenseMatch, added: str = "",
                  content_status: str = "ok", size: Optional[int] = None, **extra) -> Document:
    return Document(
        id=make_id(SOURCE, repo_name, path),
        text=text,
        source=SOURCE,
        added=added,
        metadata={
            "repo_name": repo_name,
            "path": path,
            "programming_language": programming_language(path),
            "size": len(text.encode("utf-8")) if size is None else size,
            "content_status": content_status,
            **license_metadata(found),
            **extra,
        },
    )


_OWN_KEYS = {"language", "programming_language", "size", "content_status", "license_status", "license_source", "hash", "tokens",
             "tokenizer", "line_count", "max_line_length", "avg_line_length", "alnum_fraction",
             "alpha_per_token", "header_removed", "repo_kind"}


MAX_RECORD_BYTES = 32 << 20  # a BigQuery row holds < 1 MiB of content; JSON escapes grow it at most 6x


def read_bigquery_jsonl(stream: BinaryIO, path: str, added: str = "",
                        max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Union[Document, ReadError]]:
    """One BigQuery export file: a JSON object per line with repo_name, path, content, license.

    Each line is one record or one counted fault: `record_too_large` (longer than
    `max_record_bytes`, skipped without being held), `malformed_json` (not JSON, a 5,000-digit
    number, nesting too deep) or `bad_record` (not an object, or a field of the wrong type, e.g.
    `license: {...}`, or a name that is not valid Unicode). Content with a lone surrogate is
    dropped as `bad_encoding`; metadata values that strict JSON cannot hold (NaN, Infinity,
    integers beyond 64 bits) are left out.
    """
    for item in read_lines(stream, max_record_bytes, path):
        if isinstance(item, ReadError):
            yield ReadError("record_too_large", path, item.detail)
            continue
        lineno, raw = item
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            yield ReadError("malformed_json", path, f"line {lineno}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        problem = _row_problem(row)
        if problem:
            yield ReadError("bad_record", path, f"line {lineno}: {problem}")
            continue
        yield _row_document(row, added)


def _row_problem(row: object) -> Optional[str]:
    """Why a parsed line is not a usable `github_repos` row, or None."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    for key in ("repo_name", "path"):
        if not isinstance(row.get(key), str) or not row[key] or not _encodable(row[key]):
            return f"{key} is {type(row.get(key)).__name__}, not a non-empty valid string"
    for key in ("content", "license"):
        if not isinstance(row.get(key), (str, type(None))):
            return f"{key} is {type(row[key]).__name__}, not a string"
    if row.get("license") is not None and not _encodable(row["license"]):
        return "license is not valid Unicode"
    if not isinstance(row.get("binary"), (bool, type(None))):
        return f"binary is {type(row['binary']).__name__}, not a boolean"
    return None


def _row_document(row: dict, added: str) -> Document:
    content = row.get("content")
    extra = {(f"bq_{k}" if k in _OWN_KEYS else k): v for k, v in row.items()
             if k not in ("content", "repo_name", "path", "license") and _strict_scalar(k, v)}
    status = "ok"
    if content is None:
        status = "binary" if row.get("binary") else "no_content"
        content = ""
    elif row.get("binary"):
        status, content = "binary", ""
    elif not _encodable(content):
        status, content = "bad_encoding", ""
    return file_document(row["repo_name"], row["path"], content, bigquery_license(row.get("license")), added,
                         content_status=status, **extra)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a lone surrogate (`"\ud800"` in the JSON)
        return False


def _strict_scalar(key: str, value: object) -> bool:
    """A metadata value that strict JSON, Parquet and UTF-8 can all hold."""
    if not _encodable(key):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int):
        return -(1 << 63) <= value < (1 << 63)
    if isinstance(value, str):
        return _encodable(value)
    return value is None


# --------------------------------------------------------------------------------------------
# Rules (in the recipe's order)
# --------------------------------------------------------------------------------------------
def license_rule(doc: Document) -> Outcome:
    """Apache, BSD and MIT projects only; the others are dropped as not allowed or unknown."""
    status = doc.metadata.get("license_status")
    if status == licenses.ALLOWED_STATUS:
        return doc
    return Drop("license_not_allowed" if status == licenses.NOT_ALLOWED else "license_unknown")


def path_drop_reason(path: str) -> Optional[str]:
    name = path.rsplit("/", 1)[-1]
    if path.endswith(".crt"):
        return "crt_file"
    if licenses.is_license_file(name) and programming_language(name) in ("", "Markdown", "reStructuredText"):
        # RedPajama drops path == "LICENSE"; we drop every licence text file (LICENSE.md,
        # COPYING, LICENSE-MIT, ...) at any depth, but keep code such as `license.py`.
        return "license_file"
    if not whitelisted(path):
        return "extension_not_allowed"
    return None


def path_rule(doc: Document) -> Outcome:
    reason = path_drop_reason(str(doc.metadata.get("path", "")))
    return Drop(reason) if reason else doc


_CONTENT_DROPS = {"binary": "binary_file", "too_large": "file_too_large", "no_content": "no_content",
                  "unreadable": "unreadable_file", "not_read": "not_read", "special": "special_file",
                  "bad_encoding": "bad_encoding"}


def content_rule(doc: Document) -> Outcome:
    status = doc.metadata.get("content_status", "ok")
    if status != "ok":
        return Drop(_CONTENT_DROPS.get(status, "no_content"))
    meta = {k: v for k, v in doc.metadata.items() if k != "content_status"}
    return Document(doc.id, doc.text, doc.source, doc.added, meta)


# --- header removal ---------------------------------------------------------------------------
_HEADER_WORDS = re.compile(r"copyright|licen[cs]e|spdx-license-identifier|all rights reserved|\(c\)|©",
                           re.IGNORECASE)
_SHEBANG = re.compile(r"^#!")
_ENCODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")  # PEP 263
_PREAMBLE = re.compile(r"^(<\?php\b|<\?xml\b|<!DOCTYPE\b|%YAML\b)", re.IGNORECASE)
_BLOCK_START = re.compile(r"^\s*(/\*|<!--)")
_C_PREPROCESSOR = re.compile(r"^\s*#\s*(include|define|undef|if|ifdef|ifndef|elif|else|endif|pragma|import|"
                             r"error|warning|line|region|endregion)\b")
_LINE_COMMENT = re.compile(r"^\s*(#|//|--|;;|%)")


def remove_license_header(text: str) -> str:
    """Remove the leading licence/copyright comment block, keeping the file's preamble.

    Kept at the top: a shebang, a PEP 263 encoding line, `<?php`/`<?xml` openers. Then the
    first comment is examined: a C-style `/* ... */` (or `<!-- ... -->`) block, or a run of
    line comments (`#`, `//`, `--`, `;;`, `%`; blank lines inside the run allowed). It is
    removed only if it mentions copyright/licence. `#include`, `#define`, `#!` and encoding
    lines are never treated as comments (RedPajama's `clean_copyright_comments` strips any
    leading `#`/`//`/`--` run, eating shebangs and `#include`s, and always drops it).
    """
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and i < 3 and (
        (i == 0 and _SHEBANG.match(lines[i])) or (i < 2 and _ENCODING.match(lines[i])) or _PREAMBLE.match(lines[i])
    ):
        i += 1
    preamble = lines[:i]
    j = i
    while j < len(lines) and not lines[j].strip():
        j += 1
    if j >= len(lines):
        return text
    end = _comment_block_end(lines, j)
    if end is None:
        return text
    block = "".join(lines[j:end])
    if not _HEADER_WORDS.search(block):
        return text
    k = end
    while k < len(lines) and not lines[k].strip():
        k += 1
    return "".join(preamble + lines[k:])


def _comment_block_end(lines: Sequence[str], j: int) -> Optional[int]:
    """Index after the leading comment starting at line j, or None if line j is not a comment."""
    first = lines[j]
    m = _BLOCK_START.match(first)
    if m:
        closer = "*/" if m.group(1) == "/*" else "-->"
        start_col = first.index(m.group(1)) + len(m.group(1))
        for k in range(j, len(lines)):
            segment = lines[k][start_col:] if k == j else lines[k]
            pos = segment.find(closer)
            if pos >= 0:
                rest = segment[pos + len(closer):]
                if rest.strip():  # code follows the comment on the same line: leave the file as is
                    return None
                return k + 1
        return None  # unterminated comment: not a header we can cut safely
    if not _is_line_comment(first):
        return None
    # Line comments: take successive paragraphs (runs of comment lines separated by blank lines)
    # while each mentions copyright/licence, so "# fmt: off" or a module comment after the
    # licence paragraph stays.
    end = None
    k = j
    while k < len(lines) and _is_line_comment(lines[k]):
        start = k
        while k < len(lines) and _is_line_comment(lines[k]):
            k += 1
        if end is not None and not _HEADER_WORDS.search("".join(lines[start:k])):
            break
        end = k
        while k < len(lines) and not lines[k].strip():
            k += 1
    return end


def _is_line_comment(line: str) -> bool:
    if not _LINE_COMMENT.match(line):
        return False
    stripped = line.lstrip()
    if stripped.startswith("#") and (_C_PREPROCESSOR.match(line) or stripped.startswith("#!")):
        return False
    if stripped.startswith("--") and not (stripped.startswith("-- ") or stripped.rstrip() == "--"):
        return False  # "---" YAML/markdown rules, "--flag" lines
    return True


def header_rule(doc: Document) -> Outcome:
    if not doc.text.strip():
        return Drop("empty")
    text = remove_license_header(doc.text)
    if not text.strip():
        return Drop("empty_after_header_removal")
    if text == doc.text:
        return doc
    return doc.with_text(text).with_metadata(header_removed=True)


# --- quality heuristics -----------------------------------------------------------------------
_FALLBACK_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def regex_token_count(text: str) -> int:
    """Fallback tokenizer: words (`\\w+`) and single punctuation characters."""
    return len(_FALLBACK_TOKEN.findall(text))


_NOT_ALNUM = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class Stats:
    line_count: int
    max_line_length: int
    avg_line_length: float
    alnum_fraction: float
    alpha_per_token: float
    tokens: int


def file_stats(text: str, count_tokens: Callable[[str], int] = regex_token_count) -> Stats:
    """RedPajama's statistics: avg line length = len(content) / number of lines."""
    lines = text.splitlines() or [""]
    n = len(text) or 1
    tokens = count_tokens(text)
    # Counted with C-speed regexes instead of per-character str.isalnum/isalpha (5x faster):
    # alphanumeric = regex word characters except "_"; alphabetic = those minus decimal digits.
    # They agree with str.isalnum/isalpha except on rare symbols (e.g. superscript digits).
    alnum = len(_NOT_ALNUM.sub("", text))
    alpha = alnum - len(_DIGITS.findall(text))
    return Stats(
        line_count=len(lines),
        max_line_length=max(len(line) for line in lines),
        avg_line_length=len(text) / len(lines),
        alnum_fraction=alnum / n,
        alpha_per_token=alpha / tokens if tokens else 0.0,
        tokens=tokens,
    )


@dataclass(frozen=True)
class Thresholds:
    """file quality (defaults: RedPajama's thresholds, github_run_filter.py)"""

    max_line_length: int = param(1000, "drop files with a longer line (max_line_length)")
    max_avg_line_length: float = param(100.0, "drop files with a longer average line, characters / lines "
                                              "(avg_line_length)")
    min_alnum_fraction: float = param(0.25, "drop files with a smaller fraction of alphanumeric characters "
                                            "(alnum_fraction)")
    min_alpha_per_token: float = param(1.5, "drop files with fewer alphabetic characters per token "
                                            "(alpha_per_token)")


def quality_reason(stats: Stats, t: Thresholds = Thresholds()) -> Optional[str]:
    if stats.max_line_length > t.max_line_length:
        return "max_line_length"
    if stats.avg_line_length > t.max_avg_line_length:
        return "avg_line_length"
    if stats.alnum_fraction < t.min_alnum_fraction:
        return "alnum_fraction"
    if stats.alpha_per_token < t.min_alpha_per_token:
        return "alpha_per_token"
    return None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_quality_rule(tokenizer_path: Optional[str] = None, thresholds: Thresholds = Thresholds()) -> Rule:
    """The heuristics rule; with `tokenizer_path` (SentencePiece model) tokens are ours, else the
    regex fallback. Also writes the stats and the content hash into the metadata."""
    count: Callable[[str], int] = regex_token_count
    tokenizer_name = "regex:\\w+|[^\\w\\s]"
    if tokenizer_path:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=paths.local_copy(tokenizer_path))

        def count_pieces(text: str) -> int:
            return sum(len(ids) for ids in sp.encode(text.splitlines()))  # line by line: faster, same pieces

        count = count_pieces
        tokenizer_name = "sentencepiece:" + paths.basename(tokenizer_path)

    def rule(doc: Document) -> Outcome:
        if not doc.text.strip():
            return Drop("empty")
        stats = file_stats(doc.text, count)
        reason = quality_reason(stats, thresholds)
        if reason:
            return Drop(reason)
        return doc.with_metadata(
            line_count=stats.line_count,
            max_line_length=stats.max_line_length,
            avg_line_length=round(stats.avg_line_length, 3),
            alnum_fraction=round(stats.alnum_fraction, 4),
            alpha_per_token=round(stats.alpha_per_token, 4),
            tokens=stats.tokens,
            tokenizer=tokenizer_name,
            size=len(doc.text.encode("utf-8")),
            hash=content_hash(doc.text),
        )

    return rule


def dedup_key(doc: Document) -> str:
    return str(doc.metadata.get("hash") or content_hash(doc.text))
