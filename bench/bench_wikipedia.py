"""Wikipedia markup removal: ours (`corpus.wikipedia.clean_article`) vs the HF `wikipedia` builder's
method that RedPajama used (mwparserfromhell: drop file/category links, <ref>/<table> tags and
reference-list templates, then `strip_code` per section), on the enwiki sample's articles.

Both parse with mwparserfromhell, so the speed ratio is mostly the cost of our extra work (ref URL
extraction, the regex pre-pass, line tidying). The quality numbers count markup left in the text.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from corpus.fileio import ReadError

LEFTOVERS = {
    "bare_urls": re.compile(r"https?://"),
    "open_templates": re.compile(r"\{\{"),
    "open_links": re.compile(r"\[\["),
    "ref_tags": re.compile(r"<ref", re.IGNORECASE),
    "image_options": re.compile(r"\b(?:thumb|thumbnail|upright|mini)\|"),
    "interlanguage": re.compile(r"(?m)^[a-z]{2,3}:\S"),
}


def _baseline_clean(wikitext: str) -> str:
    """The HF builder's recipe, written from its description (not its code)."""
    import mwparserfromhell

    hidden = re.compile(r"^\s*(?:file|image|media|category)\s*:", re.IGNORECASE)
    magic = re.compile(r"__[A-Z]*__")
    code = mwparserfromhell.parse(wikitext)
    sections = []
    for section in code.get_sections(flat=True, include_lead=True, include_headings=True):
        for node in section.ifilter_wikilinks(recursive=True):
            if hidden.match(str(node.title)):
                try:
                    section.remove(node)
                except ValueError:
                    pass
        for node in section.ifilter_templates(recursive=True):
            if str(node.name).strip().lower() in ("reflist", "notelist"):
                try:
                    section.remove(node)
                except ValueError:
                    pass
        for node in section.ifilter_tags(recursive=True):
            if str(node.tag).strip().lower() in ("ref", "table"):
                try:
                    section.remove(node)
                except ValueError:
                    pass
        sections.append(magic.sub("", section.strip_code().strip()))
    return "\n\n".join(sections)


def _articles() -> list:
    from corpus import paths, wikipedia
    from corpus.fileio import open_decompressed
    from corpus.samples import local_samples

    root = local_samples()
    if root is None:
        return []
    files = sorted((root / "wikipedia").glob("enwiki*"))
    if not files:
        return []
    with open_decompressed(paths.open(str(files[0]), "rb")) as stream:
        docs = wikipedia.read_documents(stream, str(files[0]))
        return [d for d in docs if not isinstance(d, ReadError) and wikipedia.keep_articles(d) is d]


def _leftovers(texts: list[str]) -> dict[str, int]:
    return {name: sum(len(rx.findall(t)) for t in texts) for name, rx in LEFTOVERS.items()}


def run(work: Path) -> dict:
    from corpus import wikipedia
    from corpus.rules import Drop

    docs = _articles()
    if not docs:
        return {"skipped": "no enwiki sample"}
    wikitext_mb = sum(len(d.text.encode("utf-8")) for d in docs) / 1e6

    start = time.perf_counter()
    ours = [wikipedia.clean_article(d) for d in docs]
    ours_s = time.perf_counter() - start
    ours_texts = [o.text for o in ours if not isinstance(o, Drop)]

    start = time.perf_counter()
    base_texts = [_baseline_clean(d.text) for d in docs]
    base_s = time.perf_counter() - start

    return {
        "articles": len(docs),
        "wikitext_mb": round(wikitext_mb, 2),
        "ours_seconds": round(ours_s, 2),
        "baseline_seconds": round(base_s, 2),
        "ours_mb_per_s": round(wikitext_mb / ours_s, 3),
        "baseline_mb_per_s": round(wikitext_mb / base_s, 3),
        "speed_ratio_ours_over_baseline": round(base_s / ours_s, 2),
        "ours_output_chars": sum(map(len, ours_texts)),
        "baseline_output_chars": sum(map(len, base_texts)),
        "ours_ref_urls": sum(len(o.metadata["ref_urls"]) for o in ours if not isinstance(o, Drop)),
        "ours_leftovers": _leftovers(ours_texts),
        "baseline_leftovers": _leftovers(base_texts),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path("bench/work/bench_wikipedia")), indent=2))
