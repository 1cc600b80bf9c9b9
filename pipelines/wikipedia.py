"""Wikipedia: pages-articles XML dumps -> cleaned article documents (LLaMA §2.1, 20 languages).

Reads `*-pages-articles*.xml[.bz2|.xz|.gz|.zst]` dumps as streams, keeps namespace-0 articles
that are not redirects, keeps the 20 LLaMA languages (language from the dump's siteinfo dbname),
removes markup, templates, tables, references, comments, file/category/interlanguage links and
hyperlinks (`[[target|label]]` -> `label`), records the URLs cited in <ref>s as `ref_urls`,
optionally drops articles that fastText LID puts in another language than their dump
(--verify_language), and writes one document per article. See docs/wikipedia.md.
"""
from __future__ import annotations

from functools import partial
from typing import Optional, Sequence

import apache_beam as beam

from corpus import wikipedia
from corpus.ledger import Ledger
from corpus.steps.lid import LanguageId, LidParams
from corpus.steps.wikipedia import Articles, KeepLanguages, MinChars, RelabelLanguage, RemoveMarkup, WikipediaParams
from corpus.wikipedia_dump import is_dump
from pipelines.builder import Config, Source, Stage
from pipelines.transforms import ReadFiles


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    reader = partial(wikipedia.read_documents, added=config.added,
                     max_page_chars=config[WikipediaParams].max_page_chars)
    return (
        pipeline
        | "Read dumps" >> ReadFiles(config.input, reader, accept=is_dump)
        # One dump file is read by one worker; wikitext parsing (~0.4 MB/s/core) is the cost, so
        # spread the pages over all workers before it.
        | "Spread pages" >> beam.Reshuffle()
    )


def stages(config: Config) -> Sequence[Stage]:
    params = config[WikipediaParams]
    steps: list[Stage] = [Articles(), KeepLanguages(params), RemoveMarkup()]
    if params.relabel_language:
        steps.append(RelabelLanguage(params, config[LidParams]))
    if params.verify_language:
        steps.append(LanguageId(config[LidParams], mode="verify", same=wikipedia.same_language))
    steps.append(MinChars(params))
    return steps


SOURCE = Source("wikipedia", __doc__, read, stages, params=(WikipediaParams, LidParams))


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
