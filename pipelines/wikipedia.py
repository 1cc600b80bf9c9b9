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
    parser.add_argument("--min_chars", type=int, default=0,
                        help="drop articles shorter than this many characters after cleaning "
                             "(too_short); LLaMA and RedPajama set no threshold, so 0 keeps every "
                             "non-empty article")


def _accept(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return ".xml" in name and not name.endswith((".md5", ".sha1", ".txt", ".json"))


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    (
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
        | "Minimum length" >> ApplyRule(make_rule=partial(wikipedia.min_chars, args.min_chars))
        | "Write" >> WriteDocuments(args.output, args.num_shards, args.format)
    )


def main(argv=None):
    return runner.run("wikipedia", __doc__, build, argv, add_arguments)


if __name__ == "__main__":
    main()
