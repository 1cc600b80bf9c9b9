"""Build every model the CommonCrawl pipeline needs, into one directory (`make models`).

    python -m pipelines.models build --output models --wikipedia out/wikipedia --commoncrawl 'WET...'

The data is big and read by Beam jobs; the fits run here, on bounded samples:

1. sampling job (`pipelines.models_data`, one pass over the Wikipedia output and the CommonCrawl
   WET files): per language the `--lm_max_documents` articles with the smallest sample key (the
   LM training text), per language `--cutoff_max_pages` CommonCrawl pages after min_len + line
   dedup + LID (the cutoff sample), and the quality classifier's training set from a join of the
   articles' `<ref>` URLs with the pages' URLs (cited pages = positives, uncited = negatives,
   each capped at `--quality_max_per_class`). Samples go under `--work`, counts to samples.json.
2. per language: SentencePiece + lmplz on the sample (`corpus.lm`, normalised as cc_net does)
   -> `models/lm/`.
3. cutoff job (`pipelines.models_cutoffs`): perplexities of the cutoff sample, approximate
   quantiles per language -> p30/p60 in each LM's card (cc_net's cutoff.csv), with the sample
   size and input recorded; `--cutoffs_from wikipedia` keeps held-out Wikipedia cutoffs.
4. the quality classifier (`corpus.quality`) on the balanced sample -> `models/quality/`. Too
   few cited pages stop the build unless `--allow_fallback` (Wikipedia text as positives: it
   then learns "looks like Wikipedia", recorded in the card and warned by the CommonCrawl run).
5. `models/lid.json` (which LID model; resolved on the workers) and `models/models.json`.

`python -m corpus.models build` is the same command (an alias). Any flag not listed is a Beam
pipeline option (`--runner`, `--direct_num_workers`, ...), used by both jobs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from corpus import lid, lm, models, paths, quality
from corpus.ledger import ERROR
from corpus.step import add_params, param, params_from
from corpus.steps.commoncrawl import CommonCrawlParams, resolve_dedup_size
from corpus.steps.lid import LidParams
from pipelines import models_cutoffs, models_data
from pipelines.commoncrawl import CcnetLineDedup
from pipelines.runner import LOCAL_RUNNER


WORK_OWNED = ("lm", "cc", "quality", models.SAMPLES_REPORT, "cutoffs.json")


@dataclass(frozen=True)
class BuildParams:
    """model build (sample sizes and minimums)"""

    lm_max_documents: int = param(models.LM_MAX_DOCUMENTS, "Wikipedia articles per language the LM is trained on "
                                  "(the smallest sha1 of the id: a uniform sample; cc_net trained on a few "
                                  "hundred MB of text per language)")
    lm_min_documents: int = param(20, "skip a language with fewer articles (too few to hold any out)")
    cutoff_max_pages: int = param(models.CUTOFF_MAX_PAGES, "CommonCrawl pages per language whose perplexities "
                                  "set p30/p60 (recorded in the LM card)")
    cutoff_min_pages: int = param(10, "fewer CommonCrawl pages of a language: its cutoffs stay on held-out Wikipedia")
    quality_max_per_class: int = param(models.QUALITY_MAX_PER_CLASS, "cited pages (positives) and random uncited "
                                       "pages (negatives) each, for the quality classifier")
    quality_min_positives: int = param(models.QUALITY_MIN_POSITIVES, "fewer cited CommonCrawl pages stop the build "
                                       "(or, with --allow_fallback, Wikipedia text becomes the positives)")
    quality_languages: str = param("en", "comma-separated languages of the quality classifier's pages ('' = all)")
    allow_fallback: bool = param(False, "with too few cited pages, train the classifier on Wikipedia article text "
                                 "as positives (learns 'looks like Wikipedia'; recorded and warned)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="sample with Beam, train the LMs, cutoffs and quality classifier, write "
                                     "the LID card", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--output", default="models", help="models directory (local or remote)")
    p.add_argument("--wikipedia", default="out/wikipedia", help="output of the Wikipedia pipeline")
    p.add_argument("--commoncrawl", nargs="+", default=None,
                   help="WET files/dirs/globs for the cutoffs and the quality classifier (default: the "
                        "samples, said on stderr and in the cards)")
    p.add_argument("--work", default=None, help="where the samples go (default: OUTPUT/../models_work; kept)")
    p.add_argument("--skip", default="", help=f"comma-separated parts to skip, among {','.join(models.PARTS)}")
    p.add_argument("--cutoffs_from", choices=("commoncrawl", "wikipedia"), default="commoncrawl",
                   help="pages whose perplexities set p30/p60: the CommonCrawl sample (cc_net's cutoff.csv) "
                        "or held-out Wikipedia articles")
    add_params(p, BuildParams)
    add_params(p, quality.QualityTrainParams)
    add_params(p, LidParams)
    add_params(p, lm.LMParams)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = make_parser()
    args, beam_argv = parser.parse_known_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - set(models.PARTS):
        parser.error(f"unknown parts to skip: {sorted(skip - set(models.PARTS))}")
    build = params_from(args, BuildParams)
    needs_data = bool({"lm", "quality"} - skip)
    if needs_data and not paths.is_dir(args.wikipedia):
        raise SystemExit(f"{args.wikipedia} not found: run `make corpus SOURCE=wikipedia` first "
                         "(the LMs and the quality classifier are trained on its output)")
    samples_input = args.commoncrawl is None
    if samples_input and needs_data:
        from corpus.samples import default_input

        args.commoncrawl = [default_input("commoncrawl")]
        print(f"[models] WARNING: no --commoncrawl given: cutoffs and the quality classifier use the "
              f"CommonCrawl samples {args.commoncrawl[0]}", file=sys.stderr)
    work = args.work or paths.join(paths.parent(args.output.rstrip("/")) or ".", "models_work")
    paths.makedirs(args.output)
    report: dict[str, Any] = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                              "command": ["python", "-m", "pipelines.models", *(sys.argv[1:] if argv is None else argv)],
                              "parts": {}}
    inputs = {"wikipedia": args.wikipedia, "commoncrawl": list(args.commoncrawl or []),
              "commoncrawl_is_samples": samples_input}
    started = time.time()
    sampled: dict[str, Any] = {}
    if "lid" not in skip:
        report["parts"]["lid"] = {"card": lid.write_card(args.output, args.lid_model)}
    if needs_data:
        sampled = sample(args, build, work, skip, beam_argv)
        report["samples"] = {"seconds": round(time.time() - started, 2), "work": work, **sampled}
        check_quality_sample(sampled, build, skip)
    if "lm" not in skip:
        part_started = time.time()
        report["parts"]["lm"] = build_lms(args, build, work, sampled, inputs, beam_argv)
        report["parts"]["lm"]["seconds"] = round(time.time() - part_started, 2)
    if "quality" not in skip:
        part_started = time.time()
        report["parts"]["quality"] = build_quality(args, build, work, sampled, inputs)
        report["parts"]["quality"]["seconds"] = round(time.time() - part_started, 2)
    report["seconds"] = round(time.time() - started, 2)
    paths.write_text_atomically(paths.join(args.output, models.REPORT),
                                json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"[models] built {', '.join(report['parts']) or 'nothing'} -> {args.output} in {report['seconds']:.1f}s",
          file=sys.stderr)
    return 0


def run_job(build: Any, beam_argv: Sequence[str]) -> None:
    """Run one Beam job; without --runner on the local FnApiRunner (as the pipelines)."""
    options = PipelineOptions(list(beam_argv))
    if options.view_as(StandardOptions).runner is None:
        options.view_as(StandardOptions).runner = LOCAL_RUNNER
    pipeline = beam.Pipeline(options=options)
    build(pipeline)
    pipeline.run().wait_until_finish()


def sample(args: argparse.Namespace, build: BuildParams, work: str, skip: set[str],
           beam_argv: Sequence[str]) -> dict[str, Any]:
    """The sampling job; returns its samples.json."""
    for owned in WORK_OWNED:  # only what this build writes there: a stale sample must not be read
        paths.delete(paths.join(work, owned))
    cc_params = CommonCrawlParams()
    size = resolve_dedup_size(cc_params, args.commoncrawl)
    dedup = CcnetLineDedup(cc_params.scope(), size.partitions, size.group_pairs)
    languages = tuple(x for x in build.quality_languages.split(",") if x) or None
    parts = [p for p in ("lm", "quality") if p not in skip]
    run_job(lambda pipeline: models_data.build(
        pipeline, [args.wikipedia], args.commoncrawl, work, cc_params, params_from(args, LidParams), dedup,
        build.lm_max_documents, build.cutoff_max_pages, build.quality_max_per_class, languages,
        build.allow_fallback, parts=parts), beam_argv)
    report = json.loads(paths.read_text(paths.join(work, models.SAMPLES_REPORT)))
    for name, n in sorted(report["ledger"].items()):
        if name.startswith(ERROR):  # the pass went on; what it could not read is said and recorded
            print(f"[models] WARNING: input fault {name[len(ERROR):]}: {n} (see {work}/samples.json)", file=sys.stderr)
    for name in ("lm", "cc", "quality", "fallback"):
        for group, n in sorted(report.get(name, {}).items()):
            print(f"[models] sample {name}/{group}: {n['sampled']} of {n['available']} documents, "
                  f"{n['bytes']:,} bytes", file=sys.stderr)
    return report


def _sampled(report: dict[str, Any], name: str, group: str) -> int:
    return int(report.get(name, {}).get(group, {}).get("sampled", 0))


def check_quality_sample(report: dict[str, Any], build: BuildParams, skip: set[str]) -> None:
    """Too few cited pages and no --allow_fallback: stop before any fit, saying what to do."""
    if "quality" in skip:
        return
    cited = _sampled(report, "quality", "positive")
    if cited < build.quality_min_positives and not build.allow_fallback:
        raise SystemExit(f"quality classifier: only {cited} CommonCrawl pages are cited by the Wikipedia articles "
                         f"(< --quality_min_positives {build.quality_min_positives}): give more WET files "
                         "(--commoncrawl), lower --quality_min_positives, or pass --allow_fallback to train on "
                         "Wikipedia text as positives (learns 'looks like Wikipedia'), or --skip quality")


def build_lms(args: argparse.Namespace, build: BuildParams, work: str, report: dict[str, Any],
              inputs: dict[str, Any], beam_argv: Sequence[str]) -> dict[str, Any]:
    """Each language's LM on its sample, then (by default) its cutoffs from the CommonCrawl sample."""
    lm_dir = paths.join(args.output, "lm")
    params = params_from(args, lm.LMParams)
    trained, skipped = [], {}
    for language in sorted(report.get("lm", {})):
        n = _sampled(report, "lm", language)
        if not language or n < build.lm_min_documents:
            skipped[language or "(none)"] = n
            print(f"[models] {language or '(no language)'}: {n} articles < --lm_min_documents "
                  f"{build.lm_min_documents}, no LM", file=sys.stderr)
            continue
        lm.train_language_model(
            models.read_sample(paths.join(work, "lm", language)), language, lm_dir, params,
            training_source=f"{args.wikipedia} (language={language}): the {n} articles with the smallest "
                            "sha1 of the id (pipelines.models_data)")
        trained.append(language)
    part: dict[str, Any] = {"directory": lm_dir, "languages": trained, "skipped": skipped,
                            "samples": {language: report["lm"][language] for language in trained}}
    if args.cutoffs_from == "commoncrawl" and trained:
        part["cutoffs"] = calibrate(lm_dir, work, trained, report, build, inputs, beam_argv)
    return part


def calibrate(lm_dir: str, work: str, languages: Sequence[str], report: dict[str, Any], build: BuildParams,
              inputs: dict[str, Any], beam_argv: Sequence[str]) -> dict[str, Any]:
    """p30/p60 of each language from its CommonCrawl sample (the cutoff job), written in its card."""
    enough = [x for x in languages if _sampled(report, "cc", x) >= build.cutoff_min_pages]
    output = paths.join(work, "cutoffs.json")
    if enough:
        run_job(lambda pipeline: models_cutoffs.build(pipeline, work, lm_dir, enough, output), beam_argv)
    tables = (models_cutoffs.read(output) or {}) if enough else {}
    result: dict[str, Any] = {}
    for language in languages:
        pages = _sampled(report, "cc", language)
        table = tables.get(language)
        if table is None:
            print(f"[models] {language}: {pages} CommonCrawl pages < --cutoff_min_pages {build.cutoff_min_pages}, "
                  "cutoffs stay on held-out Wikipedia", file=sys.stderr)
            result[language] = {"from": "wikipedia (too few CommonCrawl pages)", "pages": pages}
            continue
        source = {"from": "commoncrawl", "pages_sampled": pages,
                  "pages_available": report["cc"][language]["available"],
                  "cutoff_max_pages": build.cutoff_max_pages, "input": inputs["commoncrawl"],
                  "input_is_samples": inputs["commoncrawl_is_samples"],
                  "pages": "after min_len + line dedup + LID (pipelines.models_data)",
                  "quantiles": "beam.ApproximateQuantiles.PerKey(101)"}
        lm.set_cutoffs(lm_dir, language, table, source)
        result[language] = {**source, "p30": table["p30"], "p60": table["p60"], "n": table["n"]}
        print(f"[models] {language}: cutoffs p30={table['p30']:.1f} p60={table['p60']:.1f} from {table['n']} "
              "CommonCrawl pages", file=sys.stderr)
    return result


def build_quality(args: argparse.Namespace, build: BuildParams, work: str, report: dict[str, Any],
                  inputs: dict[str, Any]) -> dict[str, Any]:
    """The classifier on the balanced sample: the first n by sample key of each class."""
    directory = paths.join(args.output, "quality")
    cited = _sampled(report, "quality", "positive")
    fallback = cited < build.quality_min_positives
    positives_dir = paths.join(work, "quality", "fallback" if fallback else "positive")
    negatives_dir = paths.join(work, "quality", "negative")
    n = min(_sampled(report, "fallback" if fallback else "quality", "fallback" if fallback else "positive"),
            _sampled(report, "quality", "negative"), build.quality_max_per_class)
    stats: dict[str, Any] = {
        "wikipedia_ref_urls": report.get("refs", {}).get("all", {}).get("available", 0),
        "commoncrawl_pages_cited": report.get("quality", {}).get("positive", {}).get("available", 0),
        "commoncrawl_pages_uncited": report.get("quality", {}).get("negative", {}).get("available", 0),
        "min_positives": build.quality_min_positives, "max_per_class": build.quality_max_per_class,
        "positives_source": "wikipedia_article_text" if fallback else "commoncrawl_pages_cited_by_wikipedia",
        "sampling": "per class the smallest sha1 of the document id (pipelines.models_data)",
        "commoncrawl_is_samples": inputs["commoncrawl_is_samples"],
    }
    if fallback:
        stats["fallback_reason"] = (f"only {cited} CommonCrawl pages cited by Wikipedia (< {build.quality_min_positives}); "
                                    "positives are Wikipedia article texts instead (--allow_fallback)")
        print(f"[models] quality classifier: FALLBACK — {stats['fallback_reason']}", file=sys.stderr)
    training = quality.TrainingSet(list(models.read_sample(positives_dir, n)), list(models.read_sample(negatives_dir, n)),
                                   fallback, stats)
    training.stats.update(positives=len(training.positives), negatives=len(training.negatives), fallback_used=fallback)
    quality.train_classifier(training, directory, params_from(args, quality.QualityTrainParams).options(),
                             sources={"wikipedia": inputs["wikipedia"],
                                                           "commoncrawl": inputs["commoncrawl"]})
    return {"directory": directory, "positives": len(training.positives), "negatives": len(training.negatives),
            "fallback_used": fallback}


if __name__ == "__main__":
    sys.exit(main())
