"""The model build's big-data pass, as one Beam job: every Wikipedia document and every
CommonCrawl page is read once, on the workers, and only bounded samples come out.

    Wikipedia output ──┬─ per language: the `lm_max_documents` smallest sample keys  -> lm/<lang>/
                       ├─ `<ref>` URLs (normalised: `quality.url_key`), distinct ─┐
                       └─ (--allow_fallback) article texts, capped                -> quality/fallback/
    CommonCrawl WET ── min_len -> line dedup -> LID (as the pipeline, before its models)
                       ├─ per language: `cutoff_max_pages` pages                  -> cc/<lang>/
                       └─ kept languages: join on the URL key ────────────────────┴─ cited pages,
                          capped -> quality/positive/; uncited pages, capped -> quality/negative/

A cap is applied without holding the group: `Top.Smallest` keeps the `cap` smallest *keys*
(8-byte ints) per group, the largest of them is the group's threshold (a side input of one int
per group), and the documents at or below it go to their key-range shard, sorted and written by
one worker each (`corpus.models` has the layout). Counts (available, sampled, bytes per group;
read faults and drops) are summed into `samples.json`.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Optional, Sequence

import apache_beam as beam

from corpus import docfiles, models, paths, quality, wet
from corpus.document import Document
from corpus.ledger import DROPPED, Rejected, Tally, merge_tallies
from corpus.steps.commoncrawl import CommonCrawlParams, MinLength
from corpus.steps.lid import LanguageId, LidParams
from pipelines.transforms import ApplySteps, ReadFiles, is_ledger_item, is_payload

SAMPLE = "sample"  # marks the counts of the capped samples among the ledger items


class CappedSample(beam.PTransform):
    """`(group, key, text)` -> `<directory>/<group>/part-*.jsonl.gz`: per group, the `cap` texts
    with the smallest keys. Output: `(SAMPLE, name, group, {"available", "sampled", "bytes"})`."""

    def __init__(self, name: str, directory: str, cap: int):
        super().__init__()
        self._name, self._directory, self._cap = name, directory, cap
        self._shards = models.shards_for(cap)

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        keys = items | "Keys" >> beam.Map(lambda item: (item[0], item[1]))
        thresholds = beam.pvalue.AsDict(
            keys
            | "Smallest keys" >> beam.combiners.Top.SmallestPerKey(self._cap)
            | "Threshold" >> beam.MapTuple(lambda group, smallest: (group, smallest[-1])))
        available = (keys | "Count available" >> beam.combiners.Count.PerKey()
                     | "Available" >> beam.MapTuple(lambda group, n: (SAMPLE, self._name, group, {"available": n})))
        shards = self._shards
        written = (
            items
            | "Under the threshold" >> beam.Filter(lambda item, limit: item[1] <= limit[item[0]], thresholds)
            | "By key range" >> beam.Map(lambda item: ((item[0], models.shard_of_key(item[1], shards)),
                                                       (item[1], item[2])))
            | "Gather shard" >> beam.GroupByKey()
            | "Write shard" >> beam.Map(_write_part, self._directory, self._name)
        )
        return (available, written) | "Counts" >> beam.Flatten()


def _write_part(keyed: tuple[tuple[str, int], Iterable[tuple[int, str]]], directory: str,
                name: str) -> tuple[str, str, str, dict[str, int]]:
    (group, shard), values = keyed
    records = list(values)
    payload = models.encode_part(records)
    paths.write_atomically(paths.join(directory, group or "unknown", models.part_name(shard)), payload)
    return SAMPLE, name, group, {"sampled": len(records), "bytes": sum(len(t.encode("utf-8")) for _, t in records)}


def _ledger_counts(item: Any) -> Tally:
    """A read fault, info count or drop as a Tally (drops by reason, the document not kept)."""
    return Tally({DROPPED + item.reason: 1}) if isinstance(item, Rejected) else item


def _cited(keyed: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[tuple[str, int, str]]:
    """One URL key: its pages are positives when a Wikipedia article cites the key, else negatives."""
    groups = keyed[1]
    label = "positive" if any(True for _ in groups["refs"]) else "negative"
    for doc in groups["pages"]:
        yield label, models.sample_key(doc.id), quality.classifier_text(doc.text)


def _ref_keys(doc: Document) -> set[str]:
    return {quality.url_key(url) for url in doc.metadata.get("ref_urls") or ()}


def build(pipeline: beam.Pipeline, wikipedia: Sequence[str], commoncrawl: Sequence[str], work: str,
          cc_params: CommonCrawlParams, lid_params: LidParams, dedup: beam.PTransform, lm_max_documents: int,
          cutoff_max_pages: int, quality_max_per_class: int, quality_languages: Optional[Sequence[str]],
          allow_fallback: bool, min_wiki_chars: int = 300, parts: Sequence[str] = models.PARTS) -> None:
    """Add the sampling job to `pipeline`; it writes the samples under `work` and `samples.json`."""
    ledger: list[beam.PCollection] = []
    samples: list[beam.PCollection] = []
    wiki_files = [path for _hint, path in docfiles.find_document_files(wikipedia)]
    wiki = pipeline | "Read Wikipedia" >> ReadFiles(wiki_files, docfiles.read_documents)
    ledger.append(wiki | "Wikipedia faults" >> beam.Filter(is_ledger_item))
    articles = wiki | "Articles" >> beam.Filter(is_payload)
    if "lm" in parts:
        samples.append(
            articles
            | "LM text by language" >> beam.Map(lambda d: (d.metadata.get("language") or "", models.sample_key(d.id),
                                                           d.text))
            | "LM sample" >> CappedSample("lm", paths.join(work, "lm"), lm_max_documents))

    pages_stream = (
        pipeline
        | "Read WET" >> ReadFiles(commoncrawl, wet.read_wet, accept=wet.is_wet_file)
        | "min_len" >> ApplySteps([MinLength(cc_params)])
    )
    ledger.append(pages_stream | "Read faults and short pages" >> beam.Filter(is_ledger_item))
    deduped = pages_stream | "Pages" >> beam.Filter(is_payload) | "Dedup lines" >> dedup
    identified = deduped | "Language ID" >> ApplySteps([LanguageId(lid_params, mode="filter", languages=None)])
    ledger.append(identified | "Dedup and LID counts" >> beam.Filter(is_ledger_item))
    pages = identified | "Identified pages" >> beam.Filter(is_payload)
    if "lm" in parts:
        samples.append(
            pages
            | "Pages by language" >> beam.Map(lambda d: (d.metadata["language"], models.sample_key(d.id), d.text))
            | "Cutoff sample" >> CappedSample("cc", paths.join(work, "cc"), cutoff_max_pages))

    if "quality" in parts:
        kept = frozenset(quality_languages) if quality_languages else None
        in_kept = (lambda d: True) if kept is None else (lambda d: d.metadata.get("language") in kept)
        refs = (articles | "Ref URL keys" >> beam.FlatMap(_ref_keys) | "Distinct refs" >> beam.Distinct()
                | "Ref keyed" >> beam.Map(lambda key: (key, True)))
        by_url = (pages | "Kept languages" >> beam.Filter(in_kept)
                  | "By URL key" >> beam.Map(lambda d: (quality.url_key(d.metadata.get("url", "")), d)))
        samples.append(refs | "Count refs" >> beam.combiners.Count.Globally()
                       | "Refs counted" >> beam.Map(lambda n: (SAMPLE, "refs", "all", {"available": n})))
        labelled = {"refs": refs, "pages": by_url} | "Join refs and pages" >> beam.CoGroupByKey() \
            | "Cited or not" >> beam.FlatMap(_cited)
        samples.append(labelled | "Quality sample" >> CappedSample("quality", paths.join(work, "quality"),
                                                                   quality_max_per_class))
        if allow_fallback:
            samples.append(
                articles
                | "Fallback articles" >> beam.Filter(lambda d: in_kept(d) and len(d.text) >= min_wiki_chars)
                | "Fallback texts" >> beam.Map(lambda d: ("fallback", models.sample_key(d.id),
                                                          quality.classifier_text(d.text)))
                | "Fallback sample" >> CappedSample("fallback", paths.join(work, "quality"), quality_max_per_class))

    counts = (tuple(ledger) | "Ledger items" >> beam.Flatten() | "As tallies" >> beam.Map(_ledger_counts)
              | "Sum ledger" >> beam.CombineGlobally(merge_tallies))
    gathered = tuple(samples) | "Sample counts" >> beam.Flatten() | "All sample counts" >> beam.combiners.ToList()
    _ = counts | "Write samples.json" >> beam.Map(_write_report, beam.pvalue.AsSingleton(gathered), work)


def _write_report(ledger: Tally, counts: list[tuple[str, str, str, dict[str, int]]], work: str) -> None:
    """`samples.json`: per sample and group the documents available, sampled and their bytes;
    the read faults, drops and counts of the pass. Written last: the fits start from it."""
    report: dict[str, Any] = {"ledger": dict(sorted(ledger.items()))}
    for _, name, group, values in counts:
        entry = report.setdefault(name, {}).setdefault(group, {"available": 0, "sampled": 0, "bytes": 0})
        for field, value in values.items():
            entry[field] += value
    paths.write_text_atomically(paths.join(work, models.SAMPLES_REPORT), json.dumps(report, indent=2, sort_keys=True)
                                + "\n")
