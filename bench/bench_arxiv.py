"""ArXiv cleaning: ours against RedPajama's `arxiv_cleaner.py` rules on the same papers.

The baseline re-implements RedPajama rp_v1's regexes as RECIPE §3.6 records them (all .tex files,
macros without arguments only, section cut per file, comment regexes, cut at appendix/references).
Input: the arXiv samples, each paper repeated to get stable timings. Reported: papers/s of both,
the ratio, output characters, and how many `\\name` uses of user macros each leaves in the text.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from corpus import arxiv, paths
from corpus.fileio import open_decompressed
from corpus.latex_comments import strip_comments
from corpus.latex_macros import collect_definitions
from corpus.samples import local_samples

REPEAT = 20


def redpajama_clean(files: list[tuple[str, str]]) -> str:
    texts = [t for n, t in files if n.endswith(".tex")]
    macros: dict[str, str] = {}
    for t in texts:
        for m in re.finditer(r"\\newcommand\*?\{\\([a-zA-Z0-9]+?)\}\{(.*?)\}$", t, re.M):
            macros[m.group(1)] = m.group(2)
        for m in re.finditer(r"\\def\\([a-zA-Z0-9]+?)\{(.*?)\}$", t, re.M):
            macros[m.group(1)] = m.group(2)
    out = []
    for t in texts:
        m = re.search(r"(\\(?:chapter|part|section|subsection|subsubsection|paragraph|subparagraph)\*?(?:\[(.*?)\])?\{(.*?)\})", t)
        if not m:
            out.append("")
            continue
        t = t[m.start():]
        t = re.sub(r"(?m)^%.*\n?", "", t)
        t = re.sub(r"[^\\]%.+$", "", t, flags=re.M)
        cut = re.search(r"(\\appendix|\\begin\{references\}|\\begin\{REFERENCES\}|\\begin\{thebibliography\}|\\bibliography\{.*\})", t)
        if cut:
            t = t[:cut.start()]
        for name, value in macros.items():
            t = re.sub(r"\\" + name + r"(?=[^a-zA-Z0-9])", lambda _m, v=value: v, t)
        out.append(t)
    return "\n".join(out)


def _user_macro_uses(text: str, names: set[str]) -> int:
    return sum(1 for m in re.finditer(r"\\([A-Za-z]+)", text) if m.group(1) in names)


def run(work: Path) -> dict:
    root = local_samples()
    if root is None or not (root / "arxiv").is_dir():
        return {"skipped": "no arxiv samples"}
    papers = []
    for path in sorted((root / "arxiv").glob("*")):
        with open_decompressed(paths.open(str(path))) as stream:
            papers.extend(p for p in arxiv.read_arxiv(stream, str(path)) if isinstance(p, arxiv.Paper))
    start = time.perf_counter()
    ours = [arxiv.clean_document(arxiv.paper_to_document(p)) for _ in range(REPEAT) for p in papers][: len(papers)]
    ours_s = time.perf_counter() - start

    decoded = [[(n, arxiv.decode_tex(d)[0]) for n, d in p.files] for p in papers]
    start = time.perf_counter()
    base = [redpajama_clean(files) for _ in range(REPEAT) for files in decoded][: len(papers)]
    base_s = time.perf_counter() - start

    names = set()
    for files in decoded:
        for _, text in files:
            names |= {m.name for m in collect_definitions(strip_comments(text)) if m.expandable}
    n = REPEAT * len(papers)
    return {
        "papers": len(papers),
        "ours_papers_per_s": round(n / ours_s, 1),
        "redpajama_papers_per_s": round(n / base_s, 1),
        "ratio_ours_over_redpajama_speed": round(base_s / ours_s, 3),
        "ours_chars": sum(len(d.text) for d in ours),
        "redpajama_chars": sum(len(t) for t in base),
        "ours_user_macro_uses_left": sum(_user_macro_uses(d.text, names) for d in ours),
        "redpajama_user_macro_uses_left": sum(_user_macro_uses(t, names) for t in base),
        "redpajama_newcommand_left": sum(t.count("\\newcommand") for t in base),
        "redpajama_percent_left": sum(len(re.findall(r"(?<!\\)%", t)) for t in base),
    }
