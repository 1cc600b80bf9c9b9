"""Local repositories for the GitHub source: find them, tell their licence, read their files.

A local input folder is a site-packages (each installed distribution is a "repository" whose
dist-info gives the licence), one checkout, or a folder of checkouts. The launcher only lists the
candidate folders (`list_candidates`, `listed_candidates`: one directory listing per input); the
workers name them (`name_candidate`), choose (`is_wanted`, `selection_key`), find each
repository's licence and files (`discover`) and read them with `read_repo`, which turns every
file into a document (empty when it cannot be kept) so the rules of `corpus.github` account for
each one. Local by definition: folders are walked and files read with `corpus.localtree`, which
never opens a path outside the input tree (absolute or `..` RECORD entries, links out) nor a
FIFO, socket or device; each such entry is a `ReadError` (`outside_input`, `special_file`).
Pure Python, no Beam.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import tomllib
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence, Union

from corpus import licenses, localtree
from corpus.document import Document
from corpus.fileio import ReadError
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
    # Entries skipped before any read: (reason, relative path), reason outside_input/special_file/...
    faults: tuple[tuple[str, str], ...] = ()
    symlinks_inside: int = 0

    @property
    def match(self) -> licenses.LicenseMatch:
        return licenses.LicenseMatch(self.license, 1.0 if self.license else 0.0, self.license_source)


_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".venv", ".mypy_cache"})


def _read_text(path: str, limit: int = 256 << 10, root: Optional[str] = None) -> str:
    """The first `limit` bytes of a licence or metadata file inside `root` (default: its own
    folder), as text; "" for a link out of the tree, a special file or an unreadable one."""
    try:
        raw = localtree.read_regular(localtree.real_root(root or os.path.dirname(path)), path, limit)
    except OSError:
        return ""
    return raw.decode("utf-8", errors="replace")


def _is_file(path: str) -> bool:
    """A regular file (links followed, as for LICENSE files; reads check containment)."""
    return os.path.isfile(path)


def _is_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


# --------------------------------------------------------------------------------------------
# Licences of checkouts and installed distributions
# --------------------------------------------------------------------------------------------
def detect_checkout_license(root: str) -> licenses.LicenseMatch:
    """A checkout's licence: its top-level LICENSE/COPYING files, then package metadata
    (PKG-INFO, pyproject.toml `license`, package.json `license`)."""
    names = sorted(os.listdir(root)) if _is_dir(root) else []
    texts = [(n, _read_text(os.path.join(root, n), root=root)) for n in names
             if licenses.is_license_file(n) and _is_file(os.path.join(root, n))]
    found = licenses.match_files(texts) if texts else licenses.LicenseMatch(None)
    if found.spdx is not None:
        return found
    meta = _checkout_metadata_license(root)
    return meta if meta.spdx is not None else found


def _checkout_metadata_license(root: str) -> licenses.LicenseMatch:
    """The first licence PKG-INFO, pyproject.toml or package.json names."""
    pkg_info = os.path.join(root, "PKG-INFO")
    if _is_file(pkg_info):
        found = licenses.match_metadata(_read_text(pkg_info, root=root))
        if found.spdx:
            return found
    for name, reader, label in (("pyproject.toml", _pyproject_license, "metadata:pyproject"),
                                ("package.json", _package_json_license, "metadata:package.json")):
        full = os.path.join(root, name)
        if _is_file(full):
            found = reader(_read_text(full, root=root))
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
        data = json.loads(text)
    except (ValueError, RecursionError):  # broken, a 5,000-digit number, or nested too deep
        data = None
    lic = data.get("license") if isinstance(data, dict) else None
    return licenses.match_expression(lic) if isinstance(lic, str) else licenses.LicenseMatch(None)


def dist_info_license(dist_info: str) -> licenses.LicenseMatch:
    """An installed distribution's licence: its licence files in `*.dist-info` (and
    `licenses/`), then METADATA (License-Expression, License, classifiers)."""
    texts = []
    for folder in (dist_info, os.path.join(dist_info, "licenses")):
        if not _is_dir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            full = os.path.join(folder, name)
            if _is_file(full) and licenses.is_license_file(name):
                texts.append((os.path.relpath(full, dist_info).replace(os.sep, "/"), _read_text(full, root=dist_info)))
    found = licenses.match_files(texts) if texts else licenses.LicenseMatch(None, 0.0, "file")
    if found.spdx is not None:
        return found
    metadata = os.path.join(dist_info, "METADATA")
    if _is_file(metadata):
        meta = licenses.match_metadata(_read_text(metadata, root=dist_info))
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
            for entry in sorted(os.listdir(site_packages))
            if entry.endswith(".dist-info") and _is_dir(os.path.join(root, entry))]


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
                         if sub not in _SKIP_DIRS and _is_dir(os.path.join(folder, sub)))
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
    return Named(localtree.display_name(os.path.basename(candidate.root.rstrip("/"))), candidate)


def discover(named: Named) -> Repo:
    """The repository of a named candidate: its licence and its files (walks the checkout, or
    checks a distribution's RECORD entries)."""
    candidate = named.candidate
    if candidate.kind == SITE_PACKAGES:
        files, faults = _record_files(candidate.root, candidate.path)
        found = dist_info_license(candidate.path)
        return Repo(named.name, candidate.root, files, found.spdx, found.status, found.source,
                    SITE_PACKAGES, faults)
    return checkout_repo(candidate.root, named.name)


def checkout_repo(root: str, name: Optional[str] = None) -> Repo:
    root = os.path.abspath(root)
    found = detect_checkout_license(root)
    tree = localtree.walk(root, _SKIP_DIRS)
    return Repo(name or localtree.display_name(os.path.basename(root.rstrip("/"))), root, tree.files,
                found.spdx, found.status, found.source, CHECKOUT, tree.faults, tree.symlinks_inside)


def _dist_name(dist_info: str) -> str:
    metadata = os.path.join(dist_info, "METADATA")
    if _is_file(metadata):
        for value in licenses.parse_metadata(_read_text(metadata, 16 << 10, root=dist_info)).get("Name", []):
            if value:
                return value
    return localtree.display_name(re.sub(r"-[^-]+\.dist-info$", "", os.path.basename(dist_info)))


_RECORD_LIMIT = 64 << 20  # a RECORD lists one line per file: 64 MiB is ~500k files


def _record_files(site_packages: str, dist_info: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(the RECORD entries of a distribution that are regular files inside site-packages, minus
    its dist-info and `.data` folders and compiled `.pyc` files; the entries refused, with why).

    An entry that is absolute, climbs out with `..` or resolves out through a link is
    `outside_input` (console scripts installed to `../../bin` among them); a FIFO, socket or
    device is `special_file`. Nothing outside site-packages is ever opened.
    """
    root_real = localtree.real_root(site_packages)
    record = os.path.join(dist_info, "RECORD")
    if not _is_file(record):
        return (), ()
    try:
        raw = localtree.read_regular(root_real, record, _RECORD_LIMIT)
    except OSError:
        return (), ((localtree.OUTSIDE_INPUT, os.path.basename(dist_info) + "/RECORD"),)
    files: set[str] = set()
    faults: set[tuple[str, str]] = set()
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8", errors="surrogateescape"), newline="")))
    except csv.Error:
        return (), (("malformed_record", os.path.basename(dist_info) + "/RECORD"),)
    for row in rows:
        if not row:
            continue
        rel = row[0].replace("\\", "/")
        top = rel.split("/", 1)[0]
        if top.endswith((".dist-info", ".data")) or rel.endswith(".pyc"):
            continue
        problem = localtree.entry_problem(root_real, rel)
        if problem is None:
            files.add(rel)
        elif problem != "missing":
            faults.add((problem, localtree.display_name(rel)))
    return tuple(sorted(files)), tuple(sorted(faults))


def is_site_packages(folder: str) -> bool:
    try:
        return any(e.endswith(".dist-info") and _is_dir(os.path.join(folder, e)) for e in os.listdir(folder))
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
def read_repo(repo: Repo, added: str, max_file_bytes: int) -> Iterator[Union[Document, ReadError]]:
    """Every file of a local repository as a document, after one `ReadError` per entry refused
    before any read (`outside_input`, `special_file`, ...).

    Content is only read when it can be kept (allowed licence, whitelisted name, not a
    LICENSE/.crt file, under `max_file_bytes`); otherwise the document carries an empty text
    and the rules drop it under the right reason, so every file is accounted for. A name that is
    not UTF-8 is written with `\\xNN` escapes (`localtree.display_name`).
    """
    for reason, rel in repo.faults:
        yield ReadError(reason, f"{localtree.display_name(repo.root)}/{rel}", repo.name)
    match = repo.match
    allowed = match.status == licenses.ALLOWED_STATUS
    root_real = localtree.real_root(repo.root)
    for rel in repo.files:
        full = os.path.join(repo.root, rel)
        try:
            size = os.lstat(full).st_size
        except OSError:
            size = -1
        name = localtree.display_name(rel)
        status, text = "not_read", ""
        if allowed and whitelisted(name) and path_drop_reason(name) is None:
            status, text = _read_source(root_real, full, size, max_file_bytes)
        yield file_document(repo.name, name, text, match, added, content_status=status, size=max(size, 0),
                            repo_kind=repo.kind)


def _read_source(root_real: str, path: str, size: int, max_file_bytes: int) -> tuple[str, str]:
    """(content status, text) of a file that may be kept: `special` when it is no longer a
    regular file inside the tree when opened."""
    if size < 0:
        return "unreadable", ""
    if size > max_file_bytes:
        return "too_large", ""
    try:
        raw = localtree.read_regular(root_real, path, max_file_bytes + 1)
    except localtree.NotRegular:
        return "special", ""
    except OSError:
        return "unreadable", ""
    if len(raw) > max_file_bytes:  # grew since the stat
        return "too_large", ""
    return decode_source(raw)


def decode_source(raw: bytes) -> tuple[str, str]:
    """(status, text): UTF-8 text, or `binary` for NUL bytes / invalid UTF-8."""
    if b"\x00" in raw:
        return "binary", ""
    try:
        return "ok", raw.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", ""
