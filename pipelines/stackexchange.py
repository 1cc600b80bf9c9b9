"""StackExchange: the 28 largest sites' Posts.xml -> one `Q: ... A: ...` document per question.

Recipe (LLaMA §2.1, RedPajama data_prep/stack_exchange): keep the 28 largest sites by number of
posts; group each question with its answers (Beam shuffle on site + question id); remove HTML;
sort answers by score, highest first (numerically: RedPajama compared strings). Questions without
answers are kept as RedPajama does; answers whose question is missing are dropped
(`orphan_answers`). fastText LID annotates `language`, never drops. Input: per-site folders
`<site>/Posts.xml` or archives `<site>.7z`. See docs/stackexchange.md.
"""
from __future__ import annotations

import dataclasses
import logging
from functools import partial
from typing import Any, Iterable, Iterator, Optional, Sequence

import apache_beam as beam

from corpus import lid, paths
from corpus import stackexchange as se
from corpus.ledger import Ledger, Tally
from corpus.steps.lid import LanguageId, LidModelParams
from corpus.steps.stackexchange import CompleteThreads, StackExchangeParams
from pipelines.builder import Config, Source, Stage
from pipelines.transforms import ReadFiles, info, split

log = logging.getLogger("llama_corpus")


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    """Posts -> site selection -> threads (shuffle) -> one document per thread."""
    stream = pipeline | "Read Posts.xml / .7z" >> ReadFiles(
        config.input, partial(se.read_posts, max_row_bytes=config[StackExchangeParams].max_row_bytes),
        accept=se.is_input)
    posts, faults = split(stream, "Posts")
    # The 28 largest sites by number of posts (all post types, like RedPajama's line count).
    site_counts = (posts | "Site of post" >> beam.Map(lambda p: p.site)
                   | "Posts per site" >> beam.combiners.Count.PerElement())
    selected = beam.pvalue.AsSingleton(_selected_sites(pipeline, site_counts, config[StackExchangeParams]))
    sites = site_counts | "Report sites" >> beam.FlatMap(_report_site, selected)
    # Tag wikis, moderator nominations, ...: not part of a Q&A thread.
    other = (posts | "Other post types" >> beam.Filter(lambda p: not _question_or_answer(p))
             | "Count other types" >> beam.Map(lambda _: info("posts_other_type")))
    threads = (
        posts
        | "Questions and answers" >> beam.Filter(_question_or_answer)
        | "Keep selected sites" >> beam.Filter(lambda p, chosen: p.site in chosen, selected)
        | "Key by site+question" >> beam.Map(lambda p: (p.thread_key, p))
        | "Group threads" >> beam.GroupByKey()
        | "Q/A document (HTML removed, answers by score)" >> beam.FlatMap(_thread_document, config.added)
    )
    return (faults, sites, other, threads) | "Posts, sites and threads" >> beam.Flatten()


def stages(config: Config) -> Sequence[Stage]:
    annotate = [] if config[StackExchangeParams].no_lid else [
        LanguageId(config[LidModelParams], mode="annotate", extra={"language_source": "fasttext:lid.176"})]
    return [CompleteThreads(), *annotate]


def prepare(config: Config) -> None:
    """Without an LID model the documents keep their site flag, as with --no_lid (a warning and
    stats.json's options say so): LID only annotates here, so it never stops the job."""
    params = config[StackExchangeParams]
    missing = None if params.no_lid else _missing_model(config[LidModelParams].lid_model)
    if missing:
        log.warning("no LID model (%s): keeping the site language flag", missing)
        config.params[StackExchangeParams] = dataclasses.replace(params, no_lid=True)
        config.record("language_source", f"site (no LID model: {missing})")


SOURCE = Source("stackexchange", __doc__, read, stages, params=(StackExchangeParams, LidModelParams), prepare=prepare)


# ---------------------------------------------------------------------------------------------
# Reading helpers: site selection (a side input) and threads -> documents
# ---------------------------------------------------------------------------------------------
def _question_or_answer(post: se.Post) -> bool:
    return post.post_type in (se.QUESTION, se.ANSWER)


def _selected_sites(pipeline: beam.Pipeline, site_counts: beam.PCollection,
                    params: StackExchangeParams) -> beam.PCollection:
    """One element: the sorted list of sites to keep (`--sites`, else the `--top_sites` largest)."""
    if params.sites:
        return pipeline | "Sites given" >> beam.Create([sorted(set(params.sites))])
    return (
        site_counts
        | "All site counts" >> beam.combiners.ToList()
        | "Top sites" >> beam.Map(lambda counts, n=params.top_sites: sorted(se.top_sites(counts, n)))
    )


def _report_site(site_count: tuple[str, int], selected: list[str]) -> Iterator[Tally]:
    """Per site, not per post: `posts_read` and whether the site was selected."""
    site, n = site_count
    yield info("posts_read", n)
    if site in selected:
        yield info("sites_selected")
    else:
        yield info("sites_not_selected")
        yield info("posts_site_not_selected", n)
        log.info("site %s (%d posts) not selected", site, n)


def _thread_document(keyed: tuple[str, Iterable[se.Post]], added: str) -> Iterator[Any]:
    """A grouped thread as its document, with the posts it holds beyond one thread's counted."""
    thread = se.build_thread(*keyed)
    if len(thread.questions) > 1:
        yield info("duplicate_question_posts", len(thread.questions) - 1)
    if not thread.questions:
        yield info("orphan_answer_posts", len(thread.answers))
    yield se.thread_to_document(thread, added)


def _missing_model(model: Optional[str]) -> Optional[str]:
    """Why no LID model can be loaded, or None."""
    try:
        path = model or lid.default_model_path()
    except FileNotFoundError as exc:
        return str(exc)
    return None if paths.exists(path) else f"{path} not found"


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
