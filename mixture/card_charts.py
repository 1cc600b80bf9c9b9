"""The data card's charts: matplotlib (Agg), one PNG each, written through `corpus.paths`.

Each `chart_*` returns False (and writes nothing) when its inputs are missing.
"""
from __future__ import annotations

import io
from collections import Counter

from corpus import paths
from corpus.document import SOURCES
from mixture.card_data import mixture_rows

TOP_LANGUAGES = 8  # bars per source; the rest is one "other" bar


def _save(plt, fig, path: str) -> None:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    paths.write_atomically(path, buffer.getvalue())


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def chart_documents(data: dict, path: str) -> bool:
    sources = [s for s in SOURCES if s in data["stats"] or s in data["tokens"]]
    if not sources:
        return False
    mix_docs = {}
    if data["mixture"]:
        for shard in data["mixture"].get("shards", []):
            for name, info in shard.get("sources", {}).items():
                mix_docs[name] = mix_docs.get(name, 0) + info.get("documents", 0)
    stages = [("read (documents_in)", lambda s: data["stats"].get(s, {}).get("documents_in")),
              ("written", lambda s: data["stats"].get(s, {}).get("documents_written")),
              ("tokenized", lambda s: data["tokens"].get(s, {}).get("documents")),
              ("drawn into mixture", lambda s: mix_docs.get(s))]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(stages)
    for i, (label, get) in enumerate(stages):
        values = [get(s) or 0 for s in sources]
        ax.bar([x + i * width for x in range(len(sources))], values, width, label=label)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(sources))], sources)
    ax.set_yscale("symlog")
    ax.set_ylabel("documents")
    ax.set_title("Documents per source after each stage")
    ax.legend(fontsize=8)
    _save(plt, fig, path)
    return True


def chart_drops(data: dict, path: str, top: int = 8) -> bool:
    with_drops = [s for s in SOURCES if data["stats"].get(s, {}).get("dropped") or data["stats"].get(s, {}).get("errors")]
    if not with_drops:
        return False
    plt = _plt()
    cols = min(2, len(with_drops))
    rows = (len(with_drops) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.8 * rows), squeeze=False)
    for ax, source in zip(axes.flat, with_drops):
        stats = data["stats"][source]
        items = Counter({f"drop: {k}": v for k, v in stats.get("dropped", {}).items()})
        items.update({f"error: {k}": v for k, v in stats.get("errors", {}).items()})
        common = items.most_common(top)
        rest = sum(items.values()) - sum(v for _, v in common)
        if rest:
            common.append(("other", rest))
        labels = [k for k, _ in common][::-1]
        values = [v for _, v in common][::-1]
        colors = ["#c0392b" if k.startswith("error") else "#2c7fb8" for k in labels]
        ax.barh(labels, values, color=colors)
        ax.set_title(f"{source}: {stats.get('documents_in', 0):,} in, {stats.get('documents_written', 0):,} written",
                     fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(with_drops):]:
        ax.axis("off")
    fig.suptitle("Drop reasons and input errors per pipeline")
    _save(plt, fig, path)
    return True


def _grid(plt, n: int, cols: int = 4, width: float = 3.4, height: float = 2.6):
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def top_with_other(counts: Counter, top: int) -> list[tuple[str, int]]:
    """The `top` most common entries (ties by name) and one "other" entry for the rest."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    head = ranked[:top]
    rest = sum(v for _, v in ranked[top:])
    return head + ([("other", rest)] if rest else [])


def _bars(ax, counts: Counter, title: str, color: str, top: int) -> None:
    items = top_with_other(counts, top)[::-1]
    total = sum(counts.values()) or 1
    bars = ax.barh([k for k, _ in items], [v for _, v in items], color=color)
    for bar, (_, value) in zip(bars, items):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {100 * value / total:.1f}%",
                va="center", fontsize=7)
    ax.set_xlim(0, max(v for _, v in items) * 1.3)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=8)


def chart_languages(data: dict, path: str, top: int = TOP_LANGUAGES) -> bool:
    """One horizontal bar chart per source: the top languages and "other", with percentages."""
    sources = [s for s in SOURCES if s in data["samples"] and data["samples"][s].languages]
    if not sources:
        return False
    plt = _plt()
    fig, axes = _grid(plt, len(sources))
    for ax, source in zip(axes, sources):
        langs = data["samples"][source].languages
        _bars(ax, langs, f"{source} ({sum(langs.values()):,} documents)", "#41ab5d", top)
    fig.suptitle("Natural language of the documents (metadata.language)")
    _save(plt, fig, path)
    return True


def chart_licenses(data: dict, path: str, top: int = 10) -> bool:
    sample = data["samples"].get("github")
    if sample is None or not sample.licenses:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.35 * min(top + 1, len(sample.licenses)) + 1.2))
    _bars(ax, sample.licenses, f"GitHub licences ({sum(sample.licenses.values()):,} files)", "#6a51a3", top)
    _save(plt, fig, path)
    return True


def _log_histograms(data: dict, path: str, attribute: str, xlabel: str, title: str, color: str) -> bool:
    import numpy as np
    from matplotlib.ticker import NullFormatter

    sources = [s for s in SOURCES if s in data["samples"] and getattr(data["samples"][s], attribute)]
    if not sources:
        return False
    plt = _plt()
    fig, axes = _grid(plt, len(sources))
    for ax, source in zip(axes, sources):
        values = np.asarray(getattr(data["samples"][source], attribute), dtype=float)
        values = np.maximum(values, 1)
        low, high = np.log10(values.min()), np.log10(max(values.max(), values.min() * 10))
        ax.hist(values, bins=np.logspace(low, high, 30), color=color)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short ranges
        ax.axvline(float(np.median(values)), color="k", linestyle="--", linewidth=1)
        ax.set_title(f"{source}: median {np.median(values):,.0f} ({len(values):,} docs)", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title)
    _save(plt, fig, path)
    return True


def chart_lengths(data: dict, path: str) -> bool:
    return _log_histograms(data, path, "chars", "characters", "Document length per source (characters)", "#2c7fb8")


def chart_token_lengths(data: dict, path: str) -> bool:
    return _log_histograms(data, path, "tokens", "tokens", "Document length per source (tokens)", "#fd8d3c")


def chart_perplexity(data: dict, path: str) -> bool:
    """CommonCrawl perplexity histogram with the head/middle cutoffs of its main language."""
    import numpy as np

    sample = data["samples"].get("commoncrawl")
    if sample is None or not sample.perplexity:
        return False
    language = Counter(lang for _, lang in sample.perplexity).most_common(1)[0][0]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ppl = np.array([v for v, _ in sample.perplexity])
    ax.hist(ppl, bins=np.logspace(np.log10(max(ppl.min(), 1)), np.log10(max(ppl.max(), 2)), 50), color="#807dba")
    ax.set_xscale("log")
    for i, (name, cut) in enumerate(sorted(data["cutoffs"].get(language, {}).items(), key=lambda kv: kv[1])):
        ax.axvline(cut, color="k", linestyle="--", linewidth=1)
        ax.text(cut, ax.get_ylim()[1] * (0.92 - 0.08 * i), f" {name} {cut:g}", fontsize=8)
    ax.set_xlabel("perplexity (cc_net definition)")
    ax.set_ylabel("documents")
    ax.set_title(f"CommonCrawl perplexity, {len(ppl):,} documents; cutoffs for '{language}'")
    _save(plt, fig, path)
    return True


def chart_wiki_prob(data: dict, path: str, threshold: float | None = None) -> bool:
    """CommonCrawl `wiki_prob` (the Wikipedia-reference classifier's score) of kept documents."""
    sample = data["samples"].get("commoncrawl")
    if sample is None or not sample.wiki_prob:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.hist(sample.wiki_prob, bins=[i / 40 for i in range(41)], color="#e6550d")
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", linewidth=1)
        ax.text(threshold, ax.get_ylim()[1] * 0.9, f" threshold {threshold:g}", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("wiki_prob")
    ax.set_ylabel("documents")
    ax.set_title(f"CommonCrawl quality score, {len(sample.wiki_prob):,} kept documents")
    _save(plt, fig, path)
    return True


def chart_mixture(data: dict, path: str) -> bool:
    rows = mixture_rows(data)
    if not rows:
        return False
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    x = range(len(rows))
    names = [r["source"] for r in rows]
    left.bar([i - 0.27 for i in x], [100 * (r["paper_share"] or 0) for r in rows], 0.27, label="LLaMA Table 1")
    left.bar(list(x), [100 * r["share"] for r in rows], 0.27, label="plan")
    left.bar([i + 0.27 for i in x], [100 * r["written_share"] for r in rows], 0.27, label="written tokens")
    left.set_xticks(list(x), names, rotation=30, fontsize=8)
    left.set_ylabel("% of tokens")
    left.set_title("Sampling proportion")
    left.legend(fontsize=8)
    right.bar([i - 0.2 for i in x], [r["paper_epochs"] or 0 for r in rows], 0.4, label="LLaMA Table 1")
    right.bar([i + 0.2 for i in x], [r["epochs"] for r in rows], 0.4, label="plan")
    right.set_xticks(list(x), names, rotation=30, fontsize=8)
    right.set_ylabel("epochs")
    right.set_yscale("log")
    right.set_title("Epochs over each source")
    right.legend(fontsize=8)
    _save(plt, fig, path)
    return True


def chart_loss(data: dict, path: str) -> bool:
    log = [r for r in data["log"] if "loss" in r and "step" in r]
    if not log:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot([r["step"] for r in log], [r["loss"] for r in log], color="#d94801", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/token)")
    if all("lr" in r for r in log):
        twin = ax.twinx()
        twin.plot([r["step"] for r in log], [r["lr"] for r in log], color="#888", linewidth=1, label="lr")
        twin.set_ylabel("learning rate")
    ax.set_title(f"Trainer loss curve ({log[-1].get('tokens', 0):,} tokens)")
    _save(plt, fig, path)
    return True
