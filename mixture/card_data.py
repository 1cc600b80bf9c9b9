"""What the data card shows, gathered from the outputs (local or remote, through `corpus.paths`).

    ROOT/<source>/stats.json            counts, drop reasons, options, versions, warnings
    ROOT/<source>/documents/*           a sample (`--max_docs` per source): language, length,
                                        licence, perplexity, wiki_prob, two kept examples
    ROOT/<source>/rejected/<r>.jsonl.gz two dropped examples per source
    ROOT/dedup/<source>/stats.json      cross-source near-dedup, when it ran
    TOKENS/<source>/*.idx               tokens per document (Megatron index lengths)
    MODELS/lm/<lang>.json, quality/quality.json   cutoffs, the classifier's training data
    MIXTURE/manifest.json, TRAIN/log.jsonl        the plan against Table 1, the loss curve
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from corpus import docfiles, paths
from corpus.document import SOURCES, Document
from corpus.fileio import ReadError
from corpus.shards import read_index_header
from mixture.plan import TABLE1

MAX_DOCS = 50_000  # documents sampled per source for the metadata charts
EXAMPLES = 2  # kept and dropped examples shown per source
EPOCH_TOLERANCE = 0.10  # realised epochs this far from Table 1 are a caveat
_SERIES = re.compile(r"-\d{5}-of-\d{5}$")  # a reason's shard series (pipelines.builder.rejected_name)


@dataclass
class SourceSample:
    """What the card shows of one source's documents (a sample of at most `max_docs`)."""

    documents: int = 0
    languages: Counter = field(default_factory=Counter)
    licenses: Counter = field(default_factory=Counter)
    chars: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    perplexity: list[tuple[float, str]] = field(default_factory=list)
    wiki_prob: list[float] = field(default_factory=list)
    buckets: Counter = field(default_factory=Counter)
    kept: list[Document] = field(default_factory=list)
    dropped: list[tuple[str, Document]] = field(default_factory=list)
    read_errors: Counter = field(default_factory=Counter)


def read_json(path: str) -> Optional[dict]:
    try:
        value = json.loads(paths.read_text(path))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def sample_documents(directory: str, sample: SourceSample, limit: int = MAX_DOCS) -> None:
    """Up to `limit` documents of one pipeline output into `sample`; a broken shard counts one
    read error on the card and the rest is still read."""
    if not paths.is_dir(directory):
        return
    for hint, path in docfiles.find_document_files([directory], incomplete_ok=True):
        for item in docfiles.iter_file(path, hint):
            if sample.documents >= limit:
                return
            if isinstance(item, ReadError):
                sample.read_errors[item.reason] += 1
                continue
            add_document(sample, item)


def add_document(sample: SourceSample, doc: Document) -> None:
    meta = doc.metadata
    sample.documents += 1
    sample.chars.append(len(doc.text))
    if meta.get("language"):
        sample.languages[str(meta["language"])] += 1
    if doc.source == "github" or meta.get("programming_language"):
        sample.licenses[str(meta.get("license") or "none")] += 1
    ppl, prob = _number(meta.get("perplexity")), _number(meta.get("wiki_prob"))
    if ppl is not None:
        sample.perplexity.append((ppl, str(meta.get("language", ""))))
    if prob is not None:
        sample.wiki_prob.append(prob)
    if meta.get("bucket"):
        sample.buckets[str(meta["bucket"])] += 1
    if len(sample.kept) < EXAMPLES:
        sample.kept.append(doc)


def dropped_examples(directory: str, stats: Optional[dict], n: int = EXAMPLES) -> list[tuple[str, Document]]:
    """`n` dropped documents from `rejected/`, one per reason in order of the most drops (then
    from the top reasons again), each with its reason."""
    counts = (stats or {}).get("dropped") or {}
    files: dict[str, str] = {}  # reason -> its file, or the first shard of its series (--rejected_samples all)
    for f in sorted(paths.list_files(paths.join(directory, docfiles.REJECTED_DIR, "*.jsonl.gz"))):
        files.setdefault(_SERIES.sub("", paths.basename(f)[: -len(".jsonl.gz")]), f)
    reasons = sorted(files, key=lambda r: (-int(counts.get(r, 0) or 0), r))
    firsts: dict[str, list[Document]] = {}
    for reason in reasons[:n]:
        docs = [d for d in docfiles.iter_file(files[reason], paths.basename(directory)) if isinstance(d, Document)]
        firsts[reason] = docs[:n]
    picked: list[tuple[str, Document]] = []
    for round_ in range(n):
        for reason in reasons[:n]:
            if len(picked) < n and round_ < len(firsts[reason]):
                picked.append((reason, firsts[reason][round_]))
    return picked


def token_lengths(directory: str, limit: int = MAX_DOCS) -> list[int]:
    """Tokens per document of one token series (the `.idx` lengths, summed over the pieces of a
    document that was cut), at most `limit`."""
    lengths: list[int] = []
    for idx in paths.list_files(paths.join(directory, "*.idx")):
        try:
            buffer = paths.read_bytes(idx)
            header = read_index_header(buffer, idx)
            n, offset = header.sequence_count, header.offset
            seq = np.frombuffer(buffer, dtype="<i4", count=n, offset=offset).astype(np.int64)
            docs = np.frombuffer(buffer, dtype="<i8", count=header.document_count, offset=offset + n * 12)
        except (OSError, ValueError):
            continue
        if seq.size and docs.size > 1 and int(docs[-1]) == seq.size:
            per_doc = np.add.reduceat(seq, docs[:-1].astype(np.int64))
        else:
            per_doc = seq
        lengths.extend(int(v) for v in per_doc[: max(0, limit - len(lengths))])
        if len(lengths) >= limit:
            break
    return lengths


def find_cutoffs(card: Any) -> dict[str, float]:
    """The head/middle/tail cutoffs of a `corpus.lm` model card (`cutoffs.p30`, `cutoffs.p60`)."""
    cutoffs = card.get("cutoffs") if isinstance(card, dict) else None
    if not isinstance(cutoffs, dict):
        return {}
    return {key: float(cutoffs[key]) for key in ("p30", "p60") if isinstance(cutoffs.get(key), (int, float))}


def gather(root: str, tokens: str, mixture: str, train: str, models: str, limit: int = MAX_DOCS) -> dict:
    """Everything the card shows; sources without outputs are simply absent."""
    data: dict[str, Any] = {"stats": {}, "samples": {}, "tokens": {}, "dedup": {}, "cutoffs": {},
                            "cutoff_cards": {}, "quality": None, "mixture": None, "log": []}
    for source in SOURCES:
        directory = paths.join(root, source)
        stats = docfiles.read_stats_json(directory)
        if stats:
            data["stats"][source] = stats
        sample = SourceSample()
        sample_documents(directory, sample, limit)
        if paths.is_dir(paths.join(directory, docfiles.REJECTED_DIR)):
            sample.dropped = dropped_examples(directory, stats)
        manifest = read_json(paths.join(tokens, source, "manifest.json"))
        if manifest:
            data["tokens"][source] = manifest
            sample.tokens = token_lengths(paths.join(tokens, source), limit)
        if sample.documents or sample.dropped or sample.tokens or sample.read_errors:
            data["samples"][source] = sample
        dedup = docfiles.read_stats_json(paths.join(root, "dedup", source))
        if dedup:
            data["dedup"][source] = dedup
    for card_path in paths.list_files(paths.join(models, "lm", "*.json")):
        card = read_json(card_path) or {}
        cutoffs = find_cutoffs(card)
        if cutoffs:
            language = paths.basename(card_path)[: -len(".json")]
            data["cutoffs"][language] = cutoffs
            data["cutoff_cards"][language] = card.get("cutoffs", {})
    data["quality"] = read_json(paths.join(models, "quality", "quality.json"))
    data["mixture"] = read_json(paths.join(mixture, "manifest.json"))
    log_path = paths.join(train, "log.jsonl")
    if paths.exists(log_path):
        for line in paths.read_text(log_path).splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                data["log"].append(row)
    return data


def is_empty(data: dict) -> bool:
    return not (data["stats"] or data["samples"] or data["tokens"] or data["mixture"] or data["log"])


def mixture_rows(data: dict) -> list[dict]:
    manifest = data["mixture"]
    if not manifest:
        return []
    plan = manifest.get("extra", {}).get("plan", {})
    drawn = manifest.get("extra", {}).get("tokens_by_source", {})
    total = sum(drawn.values()) or 1
    rows = []
    for s in plan.get("sources", []):
        paper = TABLE1.get(s["source"], (None, None, None))
        rows.append({"source": s["source"], "share": s["share"], "paper_share": paper[0], "epochs": s["epochs"],
                     "paper_epochs": paper[1], "available": s["available_tokens"], "target": s["target_tokens"],
                     "written": drawn.get(s["source"], 0), "written_share": drawn.get(s["source"], 0) / total,
                     "documents": s.get("documents")})
    return rows


def dedup_rows(data: dict) -> list[tuple[str, str, int, int, float]]:
    """(source, stage, removed, of, rate) for every dedup stage: the drop reasons that name a
    duplicate, CommonCrawl's line dedup, and the cross-source near-dedup."""
    rows = []
    for source, stats in data["stats"].items():
        n_in = int(stats.get("documents_in") or 0)
        for reason, n in sorted((stats.get("dropped") or {}).items()):
            if "dup" in reason:
                rows.append((source, f"documents: {reason}", int(n), n_in, n / n_in if n_in else 0.0))
        info = stats.get("info") or {}
        lines_in, duplicated = info.get("lines_in"), info.get("duplicated_line_hashes")
        distinct = info.get("distinct_line_hashes")
        if isinstance(duplicated, int) and isinstance(distinct, int) and distinct:
            rows.append((source, "line hashes seen more than once", duplicated, distinct, duplicated / distinct))
        if isinstance(lines_in, int) and isinstance(info.get("lines_kept"), int) and lines_in:
            removed = lines_in - info["lines_kept"]
            rows.append((source, "lines removed (dedup + line rules)", removed, lines_in, removed / lines_in))
    for source, stats in data["dedup"].items():
        n_in = int(stats.get("documents_in") or 0)
        for reason, n in sorted((stats.get("dropped") or {}).items()):
            rows.append((source, f"cross-source: {reason}", int(n), n_in, n / n_in if n_in else 0.0))
    return rows


def caveats(data: dict) -> list[str]:
    """Every fallback, warning and departure from the paper a reader should know before trusting
    the corpus: model fallbacks, warnings the jobs recorded, epochs off Table 1 by > 10%,
    unbalanced ledgers, input errors and unreadable shards."""
    notes: list[str] = []
    seen: set[str] = set()

    def add(note: str) -> None:
        if note not in seen:
            seen.add(note)
            notes.append(note)

    quality = data.get("quality") or {}
    job_warned = any("fallback" in str(w) for st in data["stats"].values()
                     for w in (st.get("options") or {}).get("warnings") or [])
    if quality.get("fallback_used") and not job_warned:
        reason = (quality.get("training_data") or {}).get("fallback_reason") or "fallback used"
        add(f"Quality classifier (models/quality): trained with the Wikipedia-text fallback, so it learns "
            f"'looks like Wikipedia', not 'cited by Wikipedia': {reason}")
    for source, stats in data["stats"].items():
        options = stats.get("options") or {}
        for warning in list(stats.get("warnings") or []) + list(options.get("warnings") or []):
            add(f"{source}: {warning}")
        used = options.get("models_used") or {}
        warned = any("fallback" in str(w) for w in options.get("warnings") or [])
        if (used.get("quality") or {}).get("fallback_used") and not warned:
            add(f"{source}: filtered by a quality classifier trained with the Wikipedia-text fallback "
                f"({used['quality'].get('fallback_reason', '')})")
        lid = str((used.get("lid") or {}).get("path") or "")
        if lid.endswith(".ftz"):
            add(f"{source}: language ID with the compressed lid.176.ftz, not cc_net's lid.176.bin")
        if stats.get("balanced") is False:
            add(f"{source}: the ledger does not balance (documents_in != written + dropped): its output is "
                f"marked {docfiles.INCOMPLETE_MARKER}, the job failed")
        errors = stats.get("errors") or {}
        if errors:
            add(f"{source}: {sum(errors.values()):,} input faults ("
                + ", ".join(f"{k} {v:,}" for k, v in sorted(errors.items())) + ")")
    for source, sample in data["samples"].items():
        if sample.read_errors:
            add(f"{source}: {sum(sample.read_errors.values())} unreadable document shard(s) left out of this card")
    for language, card in data["cutoff_cards"].items():
        origin = str(card.get("from") or "")
        if origin and "commoncrawl" not in origin.lower():
            add(f"Perplexity cutoffs for '{language}' come from {origin}, not from CommonCrawl pages")
    for row in mixture_rows(data):
        paper = row["paper_epochs"]
        if paper and abs(row["epochs"] / paper - 1) > EPOCH_TOLERANCE:
            add(f"{row['source']}: {row['epochs']:.2f} epochs in the mixture against {paper:.2f} in Table 1")
    plan = ((data.get("mixture") or {}).get("extra") or {}).get("plan") or {}
    for source in plan.get("dropped_sources") or []:
        add(f"{source}: left out of the mixture (no tokens), the other shares renormalised")
    missing = [s for s in SOURCES if s not in data["stats"]]
    if data["stats"] and missing:
        add("No pipeline output for: " + ", ".join(missing))
    return notes
