"""ArXiv: LaTeX sources cleaned as in Lewkowycz et al. 2022, the way LLaMA (§2.1) describes it.

Read each submission (tarball, gzipped .tex, or the bulk src/*.tar of per-paper .gz) in memory,
refusing unsafe members -> assemble the main .tex with its \\input/\\include files -> one document
per paper (the newest version when a paper comes twice) -> strip comments -> drop everything
before the first section -> drop the bibliography (and, by default, the appendix, as RedPajama
does) -> expand user macros, with arguments -> language id as metadata (if a lid.176 model is
there) -> write. See docs/arxiv.md.
"""
from __future__ import annotations

import dataclasses
import operator
from functools import partial
from typing import Optional, Sequence

import apache_beam as beam

from corpus import arxiv
from corpus.arxiv import Limits
from corpus.ledger import Ledger
from corpus.steps.arxiv import ArxivParams, CleanLatex, language_id, lid_model
from corpus.steps.lid import LidModelParams
from pipelines.builder import Config, Shuffle, Source, Stage
from pipelines.transforms import KeepOnePerKey, ReadFiles


def read(pipeline: beam.Pipeline, config: Config) -> beam.PCollection:
    reader = partial(arxiv.read_documents, limits=config[Limits], added=config.added)
    return pipeline | "Read archives" >> ReadFiles(config.input, reader, accept=arxiv.is_input_file)


def stages(config: Config) -> Sequence[Stage]:
    steps: list[Stage] = [
        Shuffle("One per paper (newest version)",
                KeepOnePerKey(operator.attrgetter("id"), "duplicate_paper", arxiv.pick_latest)),
        CleanLatex(config[ArxivParams]),
    ]
    if config[LidModelParams].lid_model is not None:  # resolved by `prepare`
        steps.append(language_id(config[LidModelParams]))
    return steps


def prepare(config: Config) -> None:
    """On the launcher: the LID model to use, or None (--no_lid, or none installed); a --lid_model
    that does not exist stops the run here."""
    try:
        model = None if config[ArxivParams].no_lid else lid_model(config[LidModelParams].lid_model)
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from exc
    config.params[LidModelParams] = dataclasses.replace(config[LidModelParams], lid_model=model)
    config.record("lid_model_used", model)


SOURCE = Source("arxiv", __doc__, read, stages, params=(ArxivParams, Limits, LidModelParams), prepare=prepare)


def main(argv: Optional[Sequence[str]] = None) -> Ledger:
    return SOURCE.main(argv)


if __name__ == "__main__":
    main()
