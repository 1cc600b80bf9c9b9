"""The data card: one HTML page, with PNG charts, for someone deciding whether to trust the corpus.

    python -m mixture.report --root out --models models --output out/report

Caveats first (every fallback, warning and departure from the paper), then per source: counts and
drop reasons, languages, lengths in characters and tokens, dedup rates per stage, CommonCrawl's
perplexity and wiki_prob, GitHub licences, two kept and two dropped documents, then the mixture
against LLaMA's Table 1, the loss curve, and the versions and options each job recorded.
Inputs are listed in `mixture.card_data`; every path may be local, gs:// or s3:// (`corpus.paths`).
A section whose inputs are missing says which command produces them; a ROOT with none of the
outputs is an error.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import sys
from typing import Any, Optional, Sequence

from corpus import paths
from corpus.document import SOURCES, Document
from mixture import card_charts as charts
from mixture.card_data import MAX_DOCS, caveats, dedup_rows, find_cutoffs, gather, is_empty, mixture_rows
from mixture.plan import format_count

__all__ = ["gather", "find_cutoffs", "render", "summary", "main"]
EXAMPLE_CHARS = 600  # characters of each example document shown


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _missing(what: str, command: str) -> str:
    return f'<p class="missing">No {html.escape(what)} yet: run <code>{html.escape(command)}</code>.</p>'


def _img(out: str, name: str, chart, data: dict, alt: str, **kwargs: Any) -> str:
    if chart(data, paths.join(out, f"{name}.png"), **kwargs):
        return f'<img src="{name}.png" alt="{html.escape(alt)}">'
    return ""


def caveats_section(data: dict, out: str) -> str:
    notes = caveats(data)
    if not notes:
        return '<div class="caveats ok"><p>No fallbacks, warnings or departures from the paper were recorded.</p></div>'
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return f'<div class="caveats"><p><strong>Read before trusting the numbers below:</strong></p><ul>{items}</ul></div>'


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
    body += _img(out, "documents", charts.chart_documents, data, "documents per source after each stage")
    return body + _img(out, "drops", charts.chart_drops, data, "drop reasons per pipeline")


def languages_section(data: dict, out: str) -> str:
    body = _img(out, "languages", charts.chart_languages, data, "language distribution per source")
    return body or _missing("documents with language metadata", "make corpus SOURCE=commoncrawl")


def lengths_section(data: dict, out: str) -> str:
    body = _img(out, "lengths", charts.chart_lengths, data, "document length in characters per source")
    tokens = _img(out, "token_lengths", charts.chart_token_lengths, data, "document length in tokens per source")
    if not body:
        body = _missing("documents", "make corpus SOURCE=<name>")
    return body + (tokens or _missing("token shards", "make tokens"))


def dedup_section(data: dict, out: str) -> str:
    rows = dedup_rows(data)
    if not rows:
        return _missing("dedup counts (stats.json)", "make corpus SOURCE=<name>")
    return ("<p>Removed by each dedup stage, as a share of what entered it (from the jobs' stats.json).</p>"
            + _table(("source", "stage", "removed", "of", "rate"),
                     [(s, stage, f"{n:,}", f"{of:,}", f"{100 * rate:.1f}%") for s, stage, n, of, rate in rows]))


def commoncrawl_section(data: dict, out: str) -> str:
    threshold = (data["stats"].get("commoncrawl", {}).get("options") or {}).get("quality_threshold")
    body = _img(out, "perplexity", charts.chart_perplexity, data, "perplexity histogram")
    if not body:
        return _missing("CommonCrawl documents with perplexity", "make models && make corpus SOURCE=commoncrawl")
    body += _img(out, "wiki_prob", charts.chart_wiki_prob, data, "wiki_prob histogram",
                 threshold=threshold if isinstance(threshold, (int, float)) else None)
    cut = data["cutoffs"]
    body += (_table(("language", "cutoffs", "calibrated on"),
                    [(k, ", ".join(f"{n} {v:g}" for n, v in c.items()),
                      str(data["cutoff_cards"].get(k, {}).get("from", "-"))) for k, c in sorted(cut.items())])
             if cut else _missing("perplexity cutoffs (models/lm/<lang>.json)", "make models"))
    buckets = data["samples"]["commoncrawl"].buckets
    if buckets:
        body += "<p>Buckets written: " + html.escape(", ".join(f"{k} {v:,}" for k, v in sorted(buckets.items()))) + "</p>"
    return body


def licenses_section(data: dict, out: str) -> str:
    body = _img(out, "licenses", charts.chart_licenses, data, "GitHub licences")
    return body or _missing("GitHub documents", "make corpus SOURCE=github")


def _example(doc: Document, label: str) -> str:
    text = doc.text if len(doc.text) <= EXAMPLE_CHARS else doc.text[:EXAMPLE_CHARS] + " …"
    meta = {k: doc.metadata[k] for k in ("url", "title", "language", "path", "license") if doc.metadata.get(k)}
    head = html.escape(f"{label} · {doc.id}" + (" · " + json.dumps(meta, ensure_ascii=False) if meta else ""))
    return f'<div class="example"><div class="head">{head}</div><pre>{html.escape(text)}</pre></div>'


def examples_section(data: dict, out: str) -> str:
    parts = []
    for source in SOURCES:
        sample = data["samples"].get(source)
        if sample is None or not (sample.kept or sample.dropped):
            continue
        kept = "".join(_example(doc, "kept") for doc in sample.kept)
        dropped = "".join(_example(doc, f"dropped: {reason}") for reason, doc in sample.dropped)
        parts.append(f'<h3>{html.escape(source)}</h3><div class="examples">{kept}{dropped or ""}</div>'
                     + ("" if sample.dropped else '<p class="note">No rejected samples in this output.</p>'))
    return "".join(parts) or _missing("documents", "make corpus SOURCE=<name>")


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
    return body + _img(out, "mixture", charts.chart_mixture, data, "mixture plan against LLaMA Table 1")


def training_section(data: dict, out: str) -> str:
    image = _img(out, "loss", charts.chart_loss, data, "training loss curve")
    if not image:
        return _missing("training log", "make train")
    last = data["log"][-1]
    speeds = [r.get("tokens_per_s") for r in data["log"][1:] if r.get("tokens_per_s")]
    mean_speed = sum(speeds) / len(speeds) if speeds else 0
    loss = last.get("loss")
    loss_text = f"{loss:.4f}" if isinstance(loss, (int, float)) else "-"
    mfu = f", MFU {100 * last['mfu']:.1f}%" if isinstance(last.get("mfu"), (int, float)) else ""
    return (f"<p>{last.get('step')} steps, final loss {loss_text}, {mean_speed:,.0f} tokens/s mean{mfu}</p>"
            + image)


def versions_section(data: dict, out: str) -> str:
    if not data["stats"]:
        return _missing("stats.json", "make corpus SOURCE=<name>")
    names = sorted({name for st in data["stats"].values() for name in (st.get("versions") or {})})
    sources = list(data["stats"])
    body = _table(("package", *sources),
                  [(name, *[(data["stats"][s].get("versions") or {}).get(name, "-") for s in sources]) for name in names])
    for source, stats in data["stats"].items():
        options = json.dumps(stats.get("options") or {}, indent=1, sort_keys=True, ensure_ascii=False)
        when = f"{stats.get('started', '?')} → {stats.get('finished', '?')}"
        body += (f"<details><summary>{html.escape(source)} options ({html.escape(when)})</summary>"
                 f"<pre>{html.escape(options)}</pre></details>")
    return body


SECTIONS = (("Caveats", caveats_section), ("Sources", sources_section), ("Languages", languages_section),
            ("Lengths", lengths_section), ("Dedup", dedup_section), ("CommonCrawl quality", commoncrawl_section),
            ("GitHub licences", licenses_section), ("Examples", examples_section), ("Mixture", mixture_section),
            ("Training", training_section), ("Versions and options", versions_section))

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { display: block; max-width: 100%; margin: 1em 0; }
.missing, .note { color: #888; font-style: italic; }
.caveats { border: 2px solid #d94801; background: #fff5eb; padding: 0.5em 1em; }
.caveats.ok { border-color: #41ab5d; background: #f1faf0; }
.examples { display: grid; grid-template-columns: repeat(2, 1fr); gap: 0.8em; }
.example { border: 1px solid #ddd; padding: 0.4em; font-size: 0.8em; overflow: hidden; }
.example .head { color: #555; margin-bottom: 0.3em; word-break: break-all; }
.example pre { white-space: pre-wrap; max-height: 14em; overflow: auto; margin: 0; }
nav a { margin-right: 1em; }
"""


def _anchor(name: str) -> str:
    return name.lower().replace(" ", "-")


def page(sections: Sequence[tuple[str, str]]) -> str:
    """The HTML page around the sections' bodies."""
    nav = "".join(f'<a href="#{_anchor(name)}">{name}</a> ' for name, _ in sections)
    content = "".join(f'<section id="{_anchor(name)}"><h2>{name}</h2>{body}</section>' for name, body in sections)
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
    """The demo's closing text: documents per source, top drops, languages, buckets, caveats."""
    lines = [f"{'source':<14} {'in':>7} {'written':>8} {'tokens':>10}  top drop reasons"]
    for source, stats in data["stats"].items():
        drops = sorted(stats.get("dropped", {}).items(), key=lambda kv: -kv[1])[:3]
        tokens = data["tokens"].get(source, {}).get("tokens")
        tokens_text = f"{tokens:,}" if isinstance(tokens, int) else "-"
        lines.append(f"{source:<14} {stats.get('documents_in', 0):>7,} {stats.get('documents_written', 0):>8,} "
                     f"{tokens_text:>10}  " + ", ".join(f"{r} {n:,}" for r, n in drops))
    for source, sample in data["samples"].items():
        if sample.languages:
            lines.append(f"languages {source}: " + ", ".join(f"{k} {v}" for k, v in sample.languages.most_common(6)))
    buckets = data["samples"]["commoncrawl"].buckets if "commoncrawl" in data["samples"] else {}
    if buckets:
        lines.append("commoncrawl buckets written: " + ", ".join(f"{k} {v}" for k, v in sorted(buckets.items())))
    losses = [row["loss"] for row in data["log"] if isinstance(row.get("loss"), (int, float))]
    if losses:
        lines.append(f"training loss: {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} logged steps")
    lines.extend(f"caveat: {note}" for note in caveats(data))
    lines.append(f"data card: {paths.join(out, 'index.html')}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mixture.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add = p.add_argument
    add("--output", "--out", dest="output", default="out/report",
        help="directory for index.html and the charts (default: %(default)s; --out is an alias)")
    add("--root", default="out", help="directory of the per-source pipeline outputs (default: %(default)s)")
    add("--tokens", help="per-source token series (default: ROOT/tokens)")
    add("--mixture", help="mixture output (default: ROOT/mixture)")
    add("--train", help="trainer output (default: ROOT/train)")
    add("--models", default="models", help="models directory: lm/<lang>.json, quality/quality.json (default: %(default)s)")
    add("--max_docs", type=int, default=MAX_DOCS, help="documents sampled per source for the charts (default: %(default)s)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    root = args.root
    if not paths.is_dir(root):
        print(f"mixture.report: --root {root} does not exist (run the pipelines first, e.g. make demo)", file=sys.stderr)
        return 2
    data = gather(root, args.tokens or paths.join(root, "tokens"), args.mixture or paths.join(root, "mixture"),
                  args.train or paths.join(root, "train"), args.models, args.max_docs)
    if is_empty(data):
        print(f"mixture.report: nothing to report under {root}: no <{'|'.join(SOURCES)}>/stats.json or documents, "
              "tokens, mixture or train log", file=sys.stderr)
        return 2
    render(data, args.output)
    print(summary(data, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
