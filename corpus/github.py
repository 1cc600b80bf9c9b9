"""GitHub: source files of Apache/BSD/MIT projects, headers removed, filtered like RedPajama.

Recipe (LLaMA §2.1; RedPajama `data_prep/github`, RECIPE §3.3):
- keep projects under the Apache, BSD and MIT licences;
- skip `.crt` files and the LICENSE file itself; keep whitelisted extensions only;
- remove the leading licence/copyright comment block with regular expressions;
- drop files whose longest line is > 1000 characters, whose average line length is > 100, whose
  alphanumeric fraction is < 0.25, or whose alphabetic characters per token are < 1.5;
- exact file-level dedup on a content hash (global, done by the pipeline through the shuffle).

Inputs: BigQuery `github_repos` exports as JSON lines (`repo_name`, `path`, `content`,
`license`, ...) and local repositories (a checkout, a folder of checkouts, or a site-packages
folder where each installed distribution is a "repository" whose dist-info gives the licence).
Pure Python, no Beam.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator, Optional, Sequence, Union

from corpus import licenses
from corpus.document import Document, make_id
from corpus.fileio import ReadError
from corpus.rules import Drop, Outcome

SOURCE = "github"

# RedPajama's thresholds (github_run_filter.py).
MAX_LINE_LENGTH = 1000
MAX_AVG_LINE_LENGTH = 100
MIN_ALNUM_FRACTION = 0.25
MIN_ALPHA_PER_TOKEN = 1.5
# BigQuery's `contents` table holds no text for files of 1 MiB or more; local reads match it.
MAX_FILE_BYTES = 1 << 20

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


def language_of(path: str) -> str:
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
            "language": language_of(path),
            "size": len(text.encode("utf-8")) if size is None else size,
            "content_status": content_status,
            **license_metadata(found),
            **extra,
        },
    )


_OWN_KEYS = {"language", "size", "content_status", "license_status", "license_source", "hash", "tokens",
             "tokenizer", "line_count", "max_line_length", "avg_line_length", "alnum_fraction",
             "alpha_per_token", "header_removed", "repo_kind"}


def read_bigquery_jsonl(stream: BinaryIO, path: str, added: str = "") -> Iterator[Union[Document, ReadError]]:
    """One BigQuery export file: a JSON object per line with repo_name, path, content, license."""
    for lineno, raw in enumerate(stream, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            repo, fpath = str(row["repo_name"]), str(row["path"])
        except (ValueError, KeyError, TypeError) as exc:
            yield ReadError("malformed_json", path, f"line {lineno}: {type(exc).__name__}: {exc}")
            continue
        content = row.get("content")
        extra = {(f"bq_{k}" if k in _OWN_KEYS else k): v for k, v in row.items()
                 if k not in ("content", "repo_name", "path", "license")
                 and isinstance(v, (str, int, float, bool, type(None)))}
        status = "ok"
        if content is None:
            status = "binary" if row.get("binary") else "no_content"
            content = ""
        elif row.get("binary"):
            status, content = "binary", ""
        yield file_document(repo, fpath, str(content), bigquery_license(row.get("license")), added,
                            content_status=status, **extra)


# --------------------------------------------------------------------------------------------
# Local repositories
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Repo:
    """A local repository: a name, a root folder, its files (relative), and how its licence was found."""

    name: str
    root: str
    files: tuple[str, ...]
    license: Optional[str] = None
    license_status: str = licenses.UNKNOWN
    license_source: str = ""
    kind: str = "checkout"

    @property
    def match(self) -> licenses.LicenseMatch:
        return licenses.LicenseMatch(self.license, 1.0 if self.license else 0.0, self.license_source)


_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".venv", ".mypy_cache"}


def _walk_files(root: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                continue
            out.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return out


def _read_text(path: str, limit: int = 256 << 10) -> str:
    with open(path, "rb") as fh:
        return fh.read(limit).decode("utf-8", errors="replace")


def detect_checkout_license(root: str) -> licenses.LicenseMatch:
    """A checkout's licence: its top-level LICENSE/COPYING files, then package metadata
    (PKG-INFO, pyproject.toml `license`, package.json `license`)."""
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    texts = [(n, _read_text(os.path.join(root, n))) for n in names
             if licenses.is_license_file(n) and os.path.isfile(os.path.join(root, n))]
    found = licenses.match_files(texts) if texts else licenses.LicenseMatch(None)
    if found.spdx is not None:
        return found
    meta = _checkout_metadata_license(root)
    return meta if meta.spdx is not None else found


def _checkout_metadata_license(root: str) -> licenses.LicenseMatch:
    pkg_info = os.path.join(root, "PKG-INFO")
    if os.path.isfile(pkg_info):
        found = licenses.match_metadata(_read_text(pkg_info))
        if found.spdx:
            return found
    pyproject = os.path.join(root, "pyproject.toml")
    if os.path.isfile(pyproject):
        try:
            import tomllib

            project = tomllib.loads(_read_text(pyproject)).get("project", {})
        except Exception:  # noqa: BLE001 - a broken pyproject says nothing about the licence
            project = {}
        lic = project.get("license")
        if isinstance(lic, str):
            found = licenses.match_expression(lic)
            if found.spdx:
                return licenses.LicenseMatch(found.spdx, 1.0, "metadata:pyproject")
        elif isinstance(lic, dict) and isinstance(lic.get("text"), str):
            text = lic["text"]
            found = licenses.match_text(text) if len(text) > 200 else licenses.LicenseMatch(licenses.name_to_spdx(text))
            if found.spdx:
                return licenses.LicenseMatch(found.spdx, 1.0, "metadata:pyproject")
    package_json = os.path.join(root, "package.json")
    if os.path.isfile(package_json):
        try:
            lic = json.loads(_read_text(package_json)).get("license")
        except ValueError:
            lic = None
        if isinstance(lic, str):
            found = licenses.match_expression(lic)
            if found.spdx:
                return licenses.LicenseMatch(found.spdx, 1.0, "metadata:package.json")
    return licenses.LicenseMatch(None, 0.0, "metadata")


def checkout_repo(root: str, name: Optional[str] = None) -> Repo:
    root = os.path.abspath(root)
    found = detect_checkout_license(root)
    return Repo(name or os.path.basename(root.rstrip("/")), root, tuple(_walk_files(root)),
                found.spdx, found.status, found.source, "checkout")


def dist_info_license(dist_info: str) -> licenses.LicenseMatch:
    """An installed distribution's licence: its licence files in `*.dist-info` (and
    `licenses/`), then METADATA (License-Expression, License, classifiers)."""
    texts = []
    for folder in (dist_info, os.path.join(dist_info, "licenses")):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            full = os.path.join(folder, name)
            if os.path.isfile(full) and licenses.is_license_file(name):
                texts.append((os.path.relpath(full, dist_info).replace(os.sep, "/"), _read_text(full)))
    found = licenses.match_files(texts) if texts else licenses.LicenseMatch(None, 0.0, "file")
    if found.spdx is not None:
        return found
    metadata = os.path.join(dist_info, "METADATA")
    if os.path.isfile(metadata):
        meta = licenses.match_metadata(_read_text(metadata))
        if meta.spdx is not None:
            return meta
    return found


def _dist_name(dist_info: str) -> str:
    metadata = os.path.join(dist_info, "METADATA")
    if os.path.isfile(metadata):
        for value in licenses.parse_metadata(_read_text(metadata, 16 << 10)).get("Name", []):
            if value:
                return value
    return re.sub(r"-[^-]+\.dist-info$", "", os.path.basename(dist_info))


def site_packages_repos(site_packages: str) -> list[Repo]:
    """Each installed distribution of a site-packages folder as a repository: its files are the
    RECORD entries outside its dist-info (compiled `.pyc` and paths outside site-packages left
    out), its licence comes from the dist-info."""
    repos = []
    for entry in sorted(os.listdir(site_packages)):
        if not entry.endswith(".dist-info"):
            continue
        dist_info = os.path.join(site_packages, entry)
        record = os.path.join(dist_info, "RECORD")
        files: list[str] = []
        if os.path.isfile(record):
            import csv

            with open(record, newline="", encoding="utf-8", errors="replace") as fh:
                for row in csv.reader(fh):
                    if not row:
                        continue
                    rel = row[0].replace("\\", "/")
                    top = rel.split("/", 1)[0]
                    if rel.startswith("..") or top.endswith((".dist-info", ".data")) or rel.endswith(".pyc"):
                        continue
                    if os.path.isfile(os.path.join(site_packages, rel)):
                        files.append(rel)
        found = dist_info_license(dist_info)
        repos.append(Repo(_dist_name(dist_info), os.path.abspath(site_packages), tuple(sorted(set(files))),
                          found.spdx, found.status, found.source, "site-packages"))
    return repos


def is_site_packages(folder: str) -> bool:
    try:
        return any(e.endswith(".dist-info") for e in os.listdir(folder))
    except OSError:
        return False


def is_checkout(folder: str) -> bool:
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return ".git" in names or any(licenses.is_license_file(n) for n in names) or \
        any(n in names for n in ("pyproject.toml", "setup.py", "package.json", "Cargo.toml", "go.mod"))


def discover_repos(folders: Iterable[str]) -> list[Repo]:
    """Repositories under each folder: a site-packages (one per distribution), one checkout, or
    a folder of checkouts (each sub-folder one repository)."""
    repos: list[Repo] = []
    for folder in folders:
        if is_site_packages(folder):
            repos.extend(site_packages_repos(folder))
        elif is_checkout(folder):
            repos.append(checkout_repo(folder))
        else:
            for sub in sorted(os.listdir(folder)):
                full = os.path.join(folder, sub)
                if os.path.isdir(full) and sub not in _SKIP_DIRS:
                    repos.append(checkout_repo(full))
    return repos


def read_repo(repo: Repo, added: str = "", max_file_bytes: int = MAX_FILE_BYTES) -> Iterator[Document]:
    """Every file of a local repository as a document.

    Content is only read when it can be kept (allowed licence, whitelisted name, not a
    LICENSE/.crt file, under `max_file_bytes`); otherwise the document carries an empty text
    and the rules drop it under the right reason, so every file is accounted for.
    """
    match = repo.match
    allowed = match.status == licenses.ALLOWED_STATUS
    for rel in repo.files:
        full = os.path.join(repo.root, rel)
        try:
            size = os.path.getsize(full)
        except OSError:
            size = -1
        status, text = "not_read", ""
        if allowed and whitelisted(rel) and path_drop_reason(rel) is None:
            if size < 0:
                status = "unreadable"
            elif size > max_file_bytes:
                status = "too_large"
            else:
                try:
                    with open(full, "rb") as fh:
                        raw = fh.read()
                    status, text = decode_source(raw)
                except OSError:
                    status = "unreadable"
        yield file_document(repo.name, rel, text, match, added, content_status=status, size=max(size, 0),
                            repo_kind=repo.kind)


def decode_source(raw: bytes) -> tuple[str, str]:
    """(status, text): UTF-8 text, or `binary` for NUL bytes / invalid UTF-8."""
    if b"\x00" in raw:
        return "binary", ""
    try:
        return "ok", raw.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", ""


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
    if licenses.is_license_file(name) and language_of(name) in ("", "Markdown", "reStructuredText"):
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
                  "unreadable": "unreadable_file", "not_read": "not_read"}


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
    max_line_length: int = MAX_LINE_LENGTH
    max_avg_line_length: float = MAX_AVG_LINE_LENGTH
    min_alnum_fraction: float = MIN_ALNUM_FRACTION
    min_alpha_per_token: float = MIN_ALPHA_PER_TOKEN


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


def make_quality_rule(tokenizer_path: Optional[str] = None, thresholds: Thresholds = Thresholds()):
    """The heuristics rule; with `tokenizer_path` (SentencePiece model) tokens are ours, else the
    regex fallback. Also writes the stats and the content hash into the metadata."""
    count: Callable[[str], int] = regex_token_count
    tokenizer_name = "regex:\\w+|[^\\w\\s]"
    if tokenizer_path:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=tokenizer_path)

        def count_pieces(text: str) -> int:
            return sum(len(ids) for ids in sp.encode(text.splitlines()))  # line by line: faster, same pieces

        count = count_pieces
        tokenizer_name = "sentencepiece:" + os.path.basename(tokenizer_path)

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
