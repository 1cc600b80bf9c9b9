"""The data card: one HTML page with PNG charts of whatever the pipeline has produced so far.

    python -m mixture.report --out out/report

Reads, when present (local or remote paths, through `corpus.paths`):
    out/<source>/stats.json                 documents in / written, drop reasons, input errors
    out/<source>/documents/*                metadata `language`, `perplexity` (a sample; an output
                                            without `documents/` is read from its own folder;
                                            `rejected/` samples never count)
    models/lm/<lang>.json                   perplexity bucket cutoffs (CommonCrawl head/middle/tail)
    out/tokens/<source>/manifest.json       documents and tokens per source after tokenization
    out/mixture/manifest.json               the mixture plan and what was drawn
    out/train/log.jsonl                     the trainer's loss curve
and writes `OUT/index.html` plus one PNG per chart (matplotlib, Agg backend). A section whose
inputs are missing says which command produces them.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import io
import json
import sys
from collections import Counter
from typing import Any, Iterator, Optional, Sequence

from corpus import docfiles, paths
from corpus.document import SOURCES
from corpus.fileio import open_path
from mixture.plan import TABLE1, format_count

MAX_DOCS = 50_000  # documents sampled per source for metadata charts


# --------------------------------------------------------------------------------------------
# Gathering
# --------------------------------------------------------------------------------------------
def _read_json(path: str) -> Optional[dict]:
    try:
        return json.loads(paths.read_text(path))
    except (OSError, ValueError):
        return None


def iter_metadata(directory: str, limit: int = MAX_DOCS) -> Iterator[dict]:
    """Metadata of up to `limit` documents of a pipeline output (JSONL or Parquet shards); only
    the metadata is decoded. A broken shard is skipped: the card shows what can be read."""
    if not paths.is_dir(directory):
        return
    seen = 0
    for _hint, path in docfiles.find_document_files([directory]):
        try:
            for meta in _file_metadata(path):
                if seen >= limit:
                    return
                seen += 1
                yield meta
        except (OSError, EOFError, ValueError, KeyError):
            continue


def _file_metadata(path: str) -> Iterator[dict]:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with paths.open(path, "rb") as handle:
            column = pq.read_table(handle, columns=["metadata"]).column("metadata").to_pylist()
        for value in column:
            yield json.loads(value) if isinstance(value, str) else (value or {})
        return
    with open_path(path) as stream:
        for line in stream:
            if line.strip():
                yield json.loads(line).get("metadata") or {}


def find_cutoffs(card: Any) -> dict[str, float]:
    """The head/middle/tail cutoffs of a `corpus.lm` model card (`cutoffs.p30`, `cutoffs.p60`)."""
    cutoffs = card.get("cutoffs") if isinstance(card, dict) else None
    if not isinstance(cutoffs, dict):
        return {}
    return {key: float(cutoffs[key]) for key in ("p30", "p60") if isinstance(cutoffs.get(key), (int, float))}


def gather(root: str, tokens: str, mixture: str, train: str, models: str, limit: int = MAX_DOCS) -> dict:
    data: dict[str, Any] = {"stats": {}, "languages": {}, "perplexity": [], "cutoffs": {}, "tokens": {},
                            "buckets": Counter(), "mixture": None, "log": []}
    for source in SOURCES:
        stats = docfiles.read_stats_json(paths.join(root, source))
        if stats:
            data["stats"][source] = stats
        langs: Counter = Counter()
        for meta in iter_metadata(paths.join(root, source), limit):
            if meta.get("language"):
                langs[str(meta["language"])] += 1
            if source == "commoncrawl" and isinstance(meta.get("perplexity"), (int, float)):
                data["perplexity"].append((float(meta["perplexity"]), str(meta.get("language", ""))))
            if source == "commoncrawl" and meta.get("bucket"):
                data["buckets"][str(meta["bucket"])] += 1
        if langs:
            data["languages"][source] = langs
        manifest = _read_json(paths.join(tokens, source, "manifest.json"))
        if manifest:
            data["tokens"][source] = manifest
    for card in paths.list_files(paths.join(models, "lm", "*.json")):
        cutoffs = find_cutoffs(_read_json(card) or {})
        if cutoffs:
            data["cutoffs"][paths.basename(card)[: -len(".json")]] = cutoffs
    data["mixture"] = _read_json(paths.join(mixture, "manifest.json"))
    log_path = paths.join(train, "log.jsonl")
    if paths.exists(log_path):
        for line in paths.read_text(log_path).splitlines():
            try:
                data["log"].append(json.loads(line))
            except ValueError:
                continue
    return data


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------
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
    stages = []
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


def chart_languages(data: dict, path: str, top: int = 20) -> bool:
    sources = [s for s in SOURCES if data["languages"].get(s)]
    if not sources:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(sources), figsize=(4.5 * len(sources), 4), squeeze=False)
    for ax, source in zip(axes.flat, sources):
        common = data["languages"][source].most_common(top)
        ax.barh([k for k, _ in common][::-1], [v for _, v in common][::-1], color="#41ab5d")
        ax.set_title(f"{source} (sample of {sum(data['languages'][source].values()):,})", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle("Language distribution (document metadata)")
    _save(plt, fig, path)
    return True


def chart_perplexity(data: dict, path: str) -> bool:
    values = data["perplexity"]
    if not values:
        return False
    language = Counter(lang for _, lang in values).most_common(1)[0][0]
    plt = _plt()
    import numpy as np

    fig, ax = plt.subplots(figsize=(9, 4))
    ppl = np.array([v for v, _ in values])
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


def mixture_rows(data: dict) -> list[dict]:
    manifest = data["mixture"]
    if not manifest:
        return []
    plan = manifest.get("extra", {}).get("plan", {})
    drawn = manifest.get("extra", {}).get("tokens_by_source", {})
    total = sum(drawn.values()) or 1
    rows = []
    for s in plan.get("sources", []):
        paper = TABLE1.get(s["source"], (None, None, None))
        rows.append({"source": s["source"], "share": s["share"], "paper_share": paper[0], "epochs": s["epochs"],
                     "paper_epochs": paper[1], "available": s["available_tokens"], "target": s["target_tokens"],
                     "written": drawn.get(s["source"], 0), "written_share": drawn.get(s["source"], 0) / total,
                     "documents": s.get("documents")})
    return rows


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


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------
def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _missing(what: str, command: str) -> str:
    return f'<p class="missing">No {html.escape(what)} yet: run <code>{html.escape(command)}</code>.</p>'


def sources_section(data: dict, out: str) -> str:
    rows = []
    for source in SOURCES:
        st, tk = data["stats"].get(source, {}), data["tokens"].get(source, {})
        if not st and not tk:
            continue
        rows.append((source, f"{st.get('documents_in', 0):,}" if st else "-",
                     f"{st.get('documents_written', 0):,}" if st else "-",
                     f"{sum(st.get('dropped', {}).values()):,}" if st else "-",
                     f"{sum(st.get('errors', {}).values()):,}" if st else "-",
                     ("yes" if st.get("balanced") else "NO") if st else "-",
                     f"{tk.get('documents', 0):,}" if tk else "-",
                     format_count(tk.get("tokens", 0)) if tk else "-"))
    body = (_table(("source", "documents in", "written", "dropped", "errors", "balanced", "tokenized docs", "tokens"),
                   rows) if rows else _missing("pipeline outputs", "make corpus SOURCE=<name>"))
    if chart_documents(data, paths.join(out, "documents.png")):
        body += '<img src="documents.png" alt="documents per source after each stage">'
    if chart_drops(data, paths.join(out, "drops.png")):
        body += '<img src="drops.png" alt="drop reasons per pipeline">'
    return body


def languages_section(data: dict, out: str) -> str:
    if chart_languages(data, paths.join(out, "languages.png")):
        return '<img src="languages.png" alt="language distribution">'
    return _missing("documents with language metadata", "make corpus SOURCE=commoncrawl")


def perplexity_section(data: dict, out: str) -> str:
    if not chart_perplexity(data, paths.join(out, "perplexity.png")):
        return _missing("CommonCrawl documents with perplexity", "make models && make corpus SOURCE=commoncrawl")
    cut = data["cutoffs"]
    body = '<img src="perplexity.png" alt="perplexity histogram">'
    return body + (_table(("language", "cutoffs"), [(k, ", ".join(f"{n} {v:g}" for n, v in c.items()))
                                                    for k, c in sorted(cut.items())])
                   if cut else _missing("perplexity cutoffs (models/lm/<lang>.json)", "make models"))


def mixture_section(data: dict, out: str) -> str:
    rows = mixture_rows(data)
    if not rows:
        return _missing("mixture", "make mixture TOKENS=<n>")
    extra = data["mixture"].get("extra", {})
    body = _table(("source", "share", "Table 1", "available", "target tokens", "written tokens", "epochs",
                   "Table 1 epochs", "documents"),
                  [(r["source"], f"{100 * r['share']:.2f}%",
                    f"{100 * r['paper_share']:.1f}%" if r["paper_share"] else "-",
                    format_count(r["available"]), format_count(r["target"]), format_count(r["written"]),
                    f"{r['epochs']:.2f}", f"{r['paper_epochs']:.2f}" if r["paper_epochs"] else "-",
                    f"{r['documents']:,}" if r["documents"] is not None else "-") for r in rows])
    body += (f"<p>{len(data['mixture'].get('shards', []))} shards, "
             f"{data['mixture'].get('tokens', 0):,} tokens, seed {extra.get('seed')}, "
             f"tokenizer {html.escape(str(data['mixture'].get('tokenizer_sha256', ''))[:16])}</p>")
    if chart_mixture(data, paths.join(out, "mixture.png")):
        body += '<img src="mixture.png" alt="mixture plan against LLaMA Table 1">'
    return body


def training_section(data: dict, out: str) -> str:
    if not chart_loss(data, paths.join(out, "loss.png")):
        return _missing("training log", "make train")
    last = data["log"][-1]
    speeds = [r.get("tokens_per_s") for r in data["log"][1:] if r.get("tokens_per_s")]
    mean_speed = sum(speeds) / len(speeds) if speeds else 0
    return (f"<p>{last.get('step')} steps, final loss {last.get('loss'):.4f}, "
            f"{mean_speed:,.0f} tokens/s mean"
            + (f", MFU {100 * last['mfu']:.1f}%" if last.get("mfu") else "") + "</p>"
            '<img src="loss.png" alt="training loss curve">')


SECTIONS = (("Sources", sources_section), ("Languages", languages_section), ("Perplexity", perplexity_section),
            ("Mixture", mixture_section), ("Training", training_section))

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { display: block; max-width: 100%; margin: 1em 0; }
.missing { color: #888; font-style: italic; }
nav a { margin-right: 1em; }
"""


def page(sections: Sequence[tuple[str, str]]) -> str:
    """The HTML page around the sections' bodies."""
    nav = "".join(f'<a href="#{name.lower()}">{name}</a> ' for name, _ in sections)
    content = "".join(f'<section id="{name.lower()}"><h2>{name}</h2>{body}</section>' for name, body in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llama-corpus data card</title>
<style>{STYLE}</style></head><body>
<h1>llama-corpus data card</h1>
<p>Generated {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by <code>python -m mixture.report</code>.</p>
<nav>{nav}</nav>
{content}
</body></html>
"""


def render(data: dict, out: str) -> str:
    """Write OUT/index.html and its charts; returns the page's path."""
    paths.makedirs(out)
    path = paths.join(out, "index.html")
    paths.write_text_atomically(path, page([(name, section(data, out)) for name, section in SECTIONS]))
    return path


def summary(data: dict, out: str) -> str:
    """The demo's closing text: documents per source, top drops, languages, buckets, outputs."""
    lines = [f"{'source':<14} {'in':>7} {'written':>8} {'tokens':>10}  top drop reasons"]
    for source, stats in data["stats"].items():
        drops = sorted(stats.get("dropped", {}).items(), key=lambda kv: -kv[1])[:3]
        tokens = data["tokens"].get(source, {}).get("tokens")
        tokens_text = f"{tokens:,}" if isinstance(tokens, int) else "-"
        lines.append(f"{source:<14} {stats.get('documents_in', 0):>7,} {stats.get('documents_written', 0):>8,} "
                     f"{tokens_text:>10}  " + ", ".join(f"{r} {n:,}" for r, n in drops))
    for source, langs in data["languages"].items():
        lines.append(f"languages {source}: " + ", ".join(f"{k} {v}" for k, v in langs.most_common(6)))
    if data["buckets"]:
        lines.append("commoncrawl buckets written: " + ", ".join(f"{k} {v}" for k, v in sorted(data["buckets"].items())))
    if data["log"]:
        losses = [row["loss"] for row in data["log"] if isinstance(row.get("loss"), (int, float))]
        if losses:
            lines.append(f"training loss: {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} logged steps")
    lines.append(f"data card: {paths.join(out, 'index.html')}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mixture.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/report", help="directory for index.html and the charts")
    parser.add_argument("--root", default="out", help="directory of the per-source pipeline outputs")
    parser.add_argument("--tokens", help="per-source token series (default ROOT/tokens)")
    parser.add_argument("--mixture", help="mixture output (default ROOT/mixture)")
    parser.add_argument("--train", help="trainer output (default ROOT/train)")
    parser.add_argument("--models", default="models", help="models directory (lm/<lang>.json cutoffs)")
    parser.add_argument("--max_docs", type=int, default=MAX_DOCS, help="documents sampled per source for metadata")
    args = parser.parse_args(argv)
    root = args.root
    data = gather(root, args.tokens or paths.join(root, "tokens"), args.mixture or paths.join(root, "mixture"),
                  args.train or paths.join(root, "train"), args.models, args.max_docs)
    render(data, args.out)
    print(summary(data, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
