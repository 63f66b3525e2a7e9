#!/usr/bin/env python3
"""newsmt benchmarks: one command, JSON out, docs/PERFORMANCE.md regenerated.

    python bench/run.py [--model-dir models] [--repeats 3] [--quick]
                        [--out bench/results/latest.json] [--markdown docs/PERFORMANCE.md]

(a) engines side by side in-process, (b) the real server end to end vs the raw engine,
(c) serving overhead vs a bare gRPC echo server, (d) newsmt vs the peers' serving styles,
(e) a news feed with the cache on and off, (f) a stream vs unary, (g) an HTML article vs the
same text as plain. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Never reach the Hugging Face hub: set before anything imports huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import baselines
import decode_memory
import documents
import engines
import feed
import http_vs_grpc
import overhead
import report
import serving
import streams
from common import ROOT, ensure_models, machine_info, now_iso, seed_sentences, timed

log = logging.getLogger("bench")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--repeats", type=int, default=3, help="repeats per measurement")
    parser.add_argument("--quick", action="store_true", help="small workload, 1 repeat (~3 min)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument("--markdown", type=Path, default=Path("docs/PERFORMANCE.md"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def short_text(sentences: list[str]) -> str:
    """The shortest seed sentence of at least five words: the overhead workload."""
    return min((s for s in sentences if len(s.split()) >= 5), key=len)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    # SIGTERM unwinds like Ctrl-C, so that the servers this run started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    began = time.perf_counter()
    repeats = 1 if args.quick else args.repeats
    results: dict[str, Any] = {
        "command": shlex.join(["python", "bench/run.py", *argv]),
        "timestamp": now_iso(),
        "machine": machine_info(),
    }
    model_dir = args.model_dir.resolve()
    with timed("models: build and convert what is missing"):
        models = ensure_models(model_dir)
    sentences = seed_sentences()
    # --quick: the shortest sentences only, fewer requests, shorter forced lengths.
    workload = sorted(sentences, key=len)[:8] if args.quick else sentences
    plan = serving.make_plan(len(workload), repeats, args.quick)
    overhead_requests = 400 if args.quick else 2000
    results["settings"] = {
        "quick": args.quick,
        "repeats": repeats,
        "model_dir": str(args.model_dir),
        "demo_models": {name: m.demo for name, m in models.items()},
        "seed_sentences": len(sentences),
        "service_sentences": len(workload),
    }
    log_dir = Path(tempfile.mkdtemp(prefix="newsmt-bench-"))
    log.info("server logs in %s", log_dir)
    with timed("(a) engines"):
        results["engines"] = engines.run(models, sentences, repeats, args.quick)
    with timed("(b) service vs raw engine"):
        results["service"] = serving.run(models, model_dir, workload, plan, log_dir)
    with timed("(c) serving overhead"):
        workers = serving.server_flags()["grpc_workers"]
        results["overhead"] = overhead.run(
            model_dir, short_text(sentences), 16, overhead_requests, repeats, workers, log_dir
        )
    # (d) is the long one (the transformers peer decodes a sentence at a time on float32): at
    # most two repeats. (e), 40 articles twice a repeat, takes every repeat: its figure is a
    # median of per-repeat pairs, and two pairs leave it at their mean.
    long_repeats = min(repeats, 2)
    with timed("(d) peer serving styles"):
        results["peers"] = baselines.run(
            models, model_dir, workload, plan.requests[16], long_repeats, log_dir
        )
    with timed("(e) news feed, cache on and off"):
        results["feed"] = feed.run(models, model_dir, repeats, log_dir)
    with timed("(f) streams"):
        results["streams"] = streams.run(model_dir, repeats, log_dir)
    with timed("(g) markup overhead"):
        results["documents"] = documents.run(model_dir, repeats, log_dir)
    with timed("decoding memory per position"):
        results["decode_memory"] = decode_memory.run(model_dir)
    with timed("(h) HTTP vs gRPC"):
        results["http"] = http_vs_grpc.run(
            model_dir, short_text(sentences), overhead_requests, repeats, log_dir
        )
    results["targets"] = report.targets(
        results["service"],
        results["overhead"],
        results["documents"],
        results["peers"],
        results["feed"],
        results["streams"],
        results["decode_memory"],
        results["http"],
    )
    results["duration_s"] = round(time.perf_counter() - began, 1)
    write(args.out, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    write(args.markdown, report.render(results))
    log.info("wrote %s and %s in %.1f min", args.out, args.markdown, results["duration_s"] / 60)
    for t in results["targets"]:
        log.info(
            "%-4s %s: %s (%s)", "ok" if t["met"] else "MISS", t["key"], t["measured"], t["bound"]
        )
    return 0


def write(path: Path, text: str) -> None:
    """Write atomically (a .tmp sibling, then rename)."""
    path = path if path.is_absolute() else ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
