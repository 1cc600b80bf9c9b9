"""Local repositories for the GitHub source: find them, tell their licence, read their files.

A local input folder is a site-packages (each installed distribution is a "repository" whose
dist-info gives the licence), one checkout, or a folder of checkouts. The launcher only lists the
candidate folders (`list_candidates`, `listed_candidates`: one directory listing per input); the
workers name them (`name_candidate`), choose (`is_wanted`, `selection_key`), find each
repository's licence and files (`discover`) and read them with `read_repo`, which turns every
file into a document (empty when it cannot be kept) so the rules of `corpus.github` account for
each one. Local by definition: folders are walked with `os`,
files opened through `corpus.paths`. Pure Python, no Beam.
"""
from __future__ import annotations

import csv
import json
import os
import re
import tomllib
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

from corpus import licenses, paths
from corpus.document import Document
from corpus.github import file_document, path_drop_reason, whitelisted


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
    """Every regular file under `root` (relative, `/`-separated, sorted); VCS/cache folders and
    symbolic links left out."""
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
    """The first `limit` bytes of a licence or metadata file, as text (enough to recognise it)."""
    with paths.open(path, "rb") as fh:
        return fh.read(limit).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# Licences of checkouts and installed distributions
# --------------------------------------------------------------------------------------------
def detect_checkout_license(root: str) -> licenses.LicenseMatch:
    """A checkout's licence: its top-level LICENSE/COPYING files, then package metadata
    (PKG-INFO, pyproject.toml `license`, package.json `license`)."""
    names = sorted(os.listdir(root)) if paths.is_dir(root) else []
    texts = [(n, _read_text(os.path.join(root, n))) for n in names
             if licenses.is_license_file(n) and paths.is_file(os.path.join(root, n))]
    found = licenses.match_files(texts) if texts else licenses.LicenseMatch(None)
    if found.spdx is not None:
        return found
    meta = _checkout_metadata_license(root)
    return meta if meta.spdx is not None else found


def _checkout_metadata_license(root: str) -> licenses.LicenseMatch:
    """The first licence PKG-INFO, pyproject.toml or package.json names."""
    pkg_info = os.path.join(root, "PKG-INFO")
    if paths.is_file(pkg_info):
        found = licenses.match_metadata(_read_text(pkg_info))
        if found.spdx:
            return found
    for name, reader, label in (("pyproject.toml", _pyproject_license, "metadata:pyproject"),
                                ("package.json", _package_json_license, "metadata:package.json")):
        full = os.path.join(root, name)
        if paths.is_file(full):
            found = reader(_read_text(full))
            if found.spdx:
                return licenses.LicenseMatch(found.spdx, 1.0, label)
    return licenses.LicenseMatch(None, 0.0, "metadata")


def _pyproject_license(text: str) -> licenses.LicenseMatch:
    """`[project] license`: an SPDX expression, or a table whose `text` is a licence or its name."""
    try:
        project = tomllib.loads(text).get("project", {})
    except Exception:  # noqa: BLE001 - a broken pyproject says nothing about the licence
        project = {}
    lic = project.get("license")
    if isinstance(lic, str):
        return licenses.match_expression(lic)
    if isinstance(lic, dict) and isinstance(lic.get("text"), str):
        text = lic["text"]
        return licenses.match_text(text) if len(text) > 200 else licenses.LicenseMatch(licenses.name_to_spdx(text))
    return licenses.LicenseMatch(None)


def _package_json_license(text: str) -> licenses.LicenseMatch:
    """package.json's `license`, an SPDX expression."""
    try:
        lic = json.loads(text).get("license")
    except ValueError:
        lic = None
    return licenses.match_expression(lic) if isinstance(lic, str) else licenses.LicenseMatch(None)


def dist_info_license(dist_info: str) -> licenses.LicenseMatch:
    """An installed distribution's licence: its licence files in `*.dist-info` (and
    `licenses/`), then METADATA (License-Expression, License, classifiers)."""
    texts = []
    for folder in (dist_info, os.path.join(dist_info, "licenses")):
        if not paths.is_dir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            full = os.path.join(folder, name)
            if paths.is_file(full) and licenses.is_license_file(name):
                texts.append((os.path.relpath(full, dist_info).replace(os.sep, "/"), _read_text(full)))
    found = licenses.match_files(texts) if texts else licenses.LicenseMatch(None, 0.0, "file")
    if found.spdx is not None:
        return found
    metadata = os.path.join(dist_info, "METADATA")
    if paths.is_file(metadata):
        meta = licenses.match_metadata(_read_text(metadata))
        if meta.spdx is not None:
            return meta
    return found


# --------------------------------------------------------------------------------------------
# Finding repositories: candidates listed on the launcher, discovered on the workers
# --------------------------------------------------------------------------------------------
SITE_PACKAGES = "site-packages"
CHECKOUT = "checkout"


@dataclass(frozen=True)
class Candidate:
    """A folder that may be a repository, as the launcher lists it without reading it: one
    distribution's dist-info in a site-packages (`root` the site-packages), or one checkout
    (`path` = `root`). `discover` turns it into a `Repo` on a worker."""

    kind: str  # SITE_PACKAGES | CHECKOUT
    root: str
    path: str


@dataclass(frozen=True)
class Named:
    """A candidate and its repository name (a distribution's METADATA `Name`, or the checkout's
    folder name): what `--repos` and `--max_repos` choose by."""

    name: str
    candidate: Candidate


def _site_packages_candidates(site_packages: str) -> list[Candidate]:
    root = os.path.abspath(site_packages)
    return [Candidate(SITE_PACKAGES, root, os.path.join(root, entry))
            for entry in sorted(os.listdir(site_packages)) if entry.endswith(".dist-info")]


def _checkout_candidate(folder: str) -> Candidate:
    root = os.path.abspath(folder)
    return Candidate(CHECKOUT, root, root)


def list_candidates(folders: Iterable[str]) -> list[Candidate]:
    """The candidates under each folder, from one directory listing each: a site-packages (one per
    distribution), one checkout, or a folder of checkouts (each sub-folder one repository)."""
    found: list[Candidate] = []
    for folder in folders:
        if is_site_packages(folder):
            found.extend(_site_packages_candidates(folder))
        elif is_checkout(folder):
            found.append(_checkout_candidate(folder))
        else:
            found.extend(_checkout_candidate(os.path.join(folder, sub)) for sub in sorted(os.listdir(folder))
                         if sub not in _SKIP_DIRS and paths.is_dir(os.path.join(folder, sub)))
    return found


def listed_candidates(list_text: str) -> list[Candidate]:
    """The candidates of a `--repo_list` file: one local path per line (a site-packages or a
    checkout); blank lines and lines starting with `#` skipped."""
    found: list[Candidate] = []
    for path in (line.strip() for line in list_text.splitlines() if line.strip() and not line.startswith("#")):
        found.extend(_site_packages_candidates(path) if is_site_packages(path) else [_checkout_candidate(path)])
    return found


def name_candidate(candidate: Candidate) -> Named:
    """A candidate with its repository name (reads at most 16 KB of METADATA)."""
    if candidate.kind == SITE_PACKAGES:
        return Named(_dist_name(candidate.path), candidate)
    return Named(os.path.basename(candidate.root.rstrip("/")), candidate)


def discover(named: Named) -> Repo:
    """The repository of a named candidate: its licence and its files (walks the checkout, or
    checks a distribution's RECORD entries)."""
    candidate = named.candidate
    if candidate.kind == SITE_PACKAGES:
        files = _record_files(candidate.root, candidate.path)
        found = dist_info_license(candidate.path)
        return Repo(named.name, candidate.root, tuple(sorted(set(files))), found.spdx, found.status, found.source,
                    SITE_PACKAGES)
    return checkout_repo(candidate.root, named.name)


def checkout_repo(root: str, name: Optional[str] = None) -> Repo:
    root = os.path.abspath(root)
    found = detect_checkout_license(root)
    return Repo(name or os.path.basename(root.rstrip("/")), root, tuple(_walk_files(root)),
                found.spdx, found.status, found.source, CHECKOUT)


def _dist_name(dist_info: str) -> str:
    metadata = os.path.join(dist_info, "METADATA")
    if paths.is_file(metadata):
        for value in licenses.parse_metadata(_read_text(metadata, 16 << 10)).get("Name", []):
            if value:
                return value
    return re.sub(r"-[^-]+\.dist-info$", "", os.path.basename(dist_info))


def _record_files(site_packages: str, dist_info: str) -> list[str]:
    """The RECORD entries of a distribution that exist under site-packages, minus its dist-info
    and `.data` folders, compiled `.pyc` files and paths outside site-packages."""
    record = os.path.join(dist_info, "RECORD")
    if not paths.is_file(record):
        return []
    with paths.open(record, "r", newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    files = []
    for row in rows:
        if not row:
            continue
        rel = row[0].replace("\\", "/")
        top = rel.split("/", 1)[0]
        if rel.startswith("..") or top.endswith((".dist-info", ".data")) or rel.endswith(".pyc"):
            continue
        if paths.is_file(os.path.join(site_packages, rel)):
            files.append(rel)
    return files


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


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def is_wanted(named: Named, names: Optional[Sequence[str]]) -> bool:
    """Named in `names` (distribution or folder names, case and -_. insensitive); all when None."""
    if not names:
        return True
    wanted = {_norm(n) for n in names}
    return _norm(named.name) in wanted or _norm(os.path.basename(named.candidate.root)) in wanted


def selection_key(named: Named) -> tuple[str, str, str]:
    """The order `--max_repos` takes the first N in: by name, then root, then dist-info path (a
    total order, so a combine that keeps the N smallest gives the same N on every runner)."""
    return _norm(named.name), named.candidate.root, named.candidate.path


def select_repos(named: Iterable[Named], names: Optional[Sequence[str]], max_repos: int) -> list[Named]:
    """Those `is_wanted`, sorted by `selection_key`, then the first `max_repos` (0 = all): the
    in-memory reference of what `pipelines.github` selects with a filter and a combine."""
    chosen = sorted((n for n in named if is_wanted(n, names)), key=selection_key)
    return chosen[:max_repos] if max_repos > 0 else chosen


# --------------------------------------------------------------------------------------------
# Reading a repository's files (on the workers)
# --------------------------------------------------------------------------------------------
def read_repo(repo: Repo, added: str, max_file_bytes: int) -> Iterator[Document]:
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
            size = paths.size(full)
        except OSError:
            size = -1
        status, text = "not_read", ""
        if allowed and whitelisted(rel) and path_drop_reason(rel) is None:
            status, text = _read_source(full, size, max_file_bytes)
        yield file_document(repo.name, rel, text, match, added, content_status=status, size=max(size, 0),
                            repo_kind=repo.kind)


def _read_source(path: str, size: int, max_file_bytes: int) -> tuple[str, str]:
    """(content status, text) of a file that may be kept."""
    if size < 0:
        return "unreadable", ""
    if size > max_file_bytes:
        return "too_large", ""
    try:
        return decode_source(paths.read_bytes(path))
    except OSError:
        return "unreadable", ""


def decode_source(raw: bytes) -> tuple[str, str]:
    """(status, text): UTF-8 text, or `binary` for NUL bytes / invalid UTF-8."""
    if b"\x00" in raw:
        return "binary", ""
    try:
        return "ok", raw.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", ""
