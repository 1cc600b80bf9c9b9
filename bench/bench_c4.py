"""C4 rules: ours (`corpus.c4`, TFDS order) against datatrove 0.10.1's `C4QualityFilter` +
`C4BadWordsFilter` on the same documents, single process, in the same run.

Both sides do the same work: the per-line C4 rules with TFDS's parameters (>= 5 words per line,
>= 3 sentences per page; datatrove is configured so) and then the LDNOOBW page filter (datatrove
reads the same bundled list: its own loader downloads the file, which is not possible offline).
Sentences: ours NLTK Punkt (English model), datatrove spaCy's rule-based sentencizer.
Input: 400 C4 sample pages (already clean) and the 26 raw WET pages (repeated 3x).
Reported: docs/s of both, the ratio, how often the keep/drop decisions agree, our throughput
with langdetect added (the next TFDS step, which datatrove's C4 filters do not include), and the
per-line sentence-count agreement of Punkt with spaCy's splitter.
"""
from __future__ import annotations

import time
from pathlib import Path

from corpus import c4
from corpus.document import Document
from corpus.fileio import open_path
from corpus.samples import local_samples

C4_DOCS = 400  # the first 400 of the 1,015 C4 sample pages: the baseline runs ~10-50 docs/s here
WET_REPEAT = 3
ROUNDS = 2


def load_docs(root: Path) -> list[Document]:
    docs: list[Document] = []
    for folder, repeat, limit in ((root / "c4", 1, C4_DOCS), (root / "commoncrawl" / "wet", WET_REPEAT, None)):
        found = []
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            found.extend(d for d in c4.read_c4_input(open_path(str(path)), str(path)) if isinstance(d, Document))
        docs.extend(found[:limit] * repeat)
    return docs


def ours(docs: list[Document]) -> list[bool]:
    params = c4.VARIANTS["tfds"]
    badwords = c4.badwords_rule()
    keep = []
    for doc in docs:
        result = c4.clean_text(doc.text, params)
        keep.append(result.drop is None and isinstance(badwords(doc.with_text(result.text or "")), Document))
    return keep


def datatrove_filters():
    from datatrove.pipeline.filters import c4_filters

    # Offline: point datatrove's downloader at the same list our rule reads.
    c4_filters.cached_asset_path_or_download = lambda *a, **k: str(c4.BADWORDS_EN)
    quality = c4_filters.C4QualityFilter(min_words_per_line=5, min_num_sentences=3)
    badwords = c4_filters.C4BadWordsFilter(default_language="en")
    return quality, badwords


def datatrove(docs: list[Document], filters) -> list[bool]:
    from datatrove.data import Document as DTDocument

    quality, badwords = filters
    keep = []
    for i, doc in enumerate(docs):
        d = DTDocument(text=doc.text, id=str(i), metadata={"language": "en"})
        ok = quality.filter(d)
        ok = ok is True and badwords.filter(d) is True
        keep.append(ok)
    return keep


def timed(fn, *args) -> tuple[float, list[bool]]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def sentence_agreement(docs: list[Document]) -> dict:
    from datatrove.utils.text import split_into_sentences

    lines = [line.strip() for d in docs for line in d.text.splitlines() if len(line.split()) >= 5]
    ours_n = [c4.count_sentences(line) for line in lines]
    spacy_n = [len(split_into_sentences(line, "en")) for line in lines]
    same = sum(a == b for a, b in zip(ours_n, spacy_n))
    return {"lines": len(lines), "punkt_sentences": sum(ours_n), "spacy_sentences": sum(spacy_n),
            "same_count_fraction": round(same / max(len(lines), 1), 4)}


def run(work: Path) -> dict:
    root = local_samples()
    if root is None or not (root / "c4").is_dir():
        return {"skipped": "no c4 samples"}
    docs = load_docs(root)
    filters = datatrove_filters()
    # Warm up both (model/tokenizer loading is not throughput): NLTK+Punkt, spaCy, regexes.
    ours(docs[:20])
    datatrove(docs[:20], filters)

    ours_s, dt_s = [], []
    for _ in range(ROUNDS):  # interleaved, best of ROUNDS: the machine is shared and noisy
        t, ours_keep = timed(ours, docs)
        ours_s.append(t)
        t, dt_keep = timed(datatrove, docs, filters)
        dt_s.append(t)
    ours_rate = len(docs) / min(ours_s)
    dt_rate = len(docs) / min(dt_s)

    sample = docs[:200]
    c4.english_rule()
    t, _ = timed(lambda ds: [c4.detect_english(d) for d in ds], sample)
    lang_rate = len(sample) / t
    # Full chain per document: rules + langdetect, from the two measured rates.
    with_lang = 1.0 / (1.0 / ours_rate + 1.0 / lang_rate)

    return {
        "documents": len(docs),
        "ours_docs_per_s": round(ours_rate, 1),
        "datatrove_docs_per_s": round(dt_rate, 1),
        "ratio": round(ours_rate / dt_rate, 2),
        "ours_kept": sum(ours_keep),
        "datatrove_kept": sum(dt_keep),
        "decision_agreement": round(sum(a == b for a, b in zip(ours_keep, dt_keep)) / len(docs), 4),
        "langdetect_docs_per_s": round(lang_rate, 1),
        "ours_with_langdetect_docs_per_s": round(with_lang, 1),
        "sentence_counts_punkt_vs_spacy": sentence_agreement(docs[:150]),
        "baseline": "datatrove==0.10.1 C4QualityFilter(min_words_per_line=5, min_num_sentences=3) "
                    "+ C4BadWordsFilter, spaCy sentencizer",
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/work/bench_c4")), indent=2))
