#!/usr/bin/env python3
"""Soak test: mixed traffic from 16 concurrent clients against a real server for a set time.

    python bench/soak.py --duration 600 --out bench/results/soak.json

It starts `newsmt serve` on demo models (building and converting them if missing), sends a
mix of Translate (short, medium, long), ProcessArticle, Summarize, DetectLanguage, invalid
requests and calls abandoned by tight deadlines, samples the server's resident memory every
second, and reports the growth over the second half (target: under 50 MB), every unexpected
status, and the server's in-flight and queue state once traffic stops (must be back to zero).
Not a CI test: it runs for minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc

from newsmt.client import Client, NewsmtError
from newsmt.models.registry import Registry
from newsmt.models.store import DemoSize, ModelStore, serving_compute_types
from newsmt.pipeline.segment import sentences

# The repository root, for the scaffolding the bench shares with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ROOT, ServerProcess, metric_values, scrape

#: Outcomes a kind of request may have without being an error.
EXPECTED = {
    "invalid": {"INVALID_ARGUMENT"},
    # A 50 ms deadline behind a queue is refused on arrival (RESOURCE_EXHAUSTED) or expires.
    "tight-deadline": {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"},
}


def ensure_models(model_dir: Path, size: DemoSize) -> None:
    """Every registry model on disk (a demo model of `size` where none is there), with the
    CTranslate2 conversion the server loads on CPU."""
    store = ModelStore(model_dir)
    for spec in Registry.load().models.values():
        store.ensure(spec, demo_size=size, compute_types=serving_compute_types(spec, "cpu"))


def queue_state(metrics_port: int) -> dict[str, float]:
    """The server's in-flight requests and per-model queue depths, as `name{labels}` -> value."""
    state: dict[str, float] = {}
    for (name, labels), value in metric_values(scrape(metrics_port)).items():
        if name in {"newsmt_inflight_requests", "newsmt_queue_depth"}:
            pairs = ",".join(f'{k}="{v}"' for k, v in sorted(labels))
            state[name + (f"{{{pairs}}}" if pairs else "")] = value
    return state


class Traffic:
    def __init__(self, address: str, article: str, seed: int) -> None:
        self.address = address
        self.article = article
        self.lines = sentences(article, "en")
        self.rng = random.Random(seed)
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def one(self, client: Client) -> None:
        kind = self.rng.choices(
            [
                "short",
                "medium",
                "long",
                "article",
                "summary",
                "detect",
                "invalid",
                "tight-deadline",
            ],
            weights=[30, 20, 8, 4, 4, 10, 8, 6],
        )[0]
        k = self.rng.randrange(len(self.lines))
        started = time.monotonic()
        code = "OK"
        try:
            if kind == "short":
                client.translate([self.lines[k]], source="en", target=self.rng.choice(["ru", "es"]))
            elif kind == "medium":
                client.translate([" ".join(self.lines[k : k + 4])], source="en", target="ru")
            elif kind == "long":
                client.translate([self.article[:4000]], target=self.rng.choice(["ru", "es"]))
            elif kind == "article":
                result = client.process_article(
                    self.lines[0], self.article[:3000], targets=["ru", "es"], summaries=["en", "ru"]
                )
                if not result.ok:
                    code = "STAGE_FAILED"
            elif kind == "summary":
                client.summarize(self.article, source="en", target="es", max_sentences=3)
            elif kind == "detect":
                client.detect_language(self.lines[k : k + 8])
            elif kind == "invalid":
                client.translate([self.lines[k]], source="en", target="xx")
            else:
                client.translate([self.article[:2000]], source="en", target="ru", timeout=0.05)
        except NewsmtError as exc:
            code = exc.code.name
        seconds = time.monotonic() - started
        with self.lock:
            self.outcomes[(kind, code)] += 1
            self.latency.setdefault(kind, []).append(seconds)
            if code not in EXPECTED.get(kind, {"OK"}):
                self.errors.append(f"{kind}: {code}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of traffic")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--demo-size", choices=("full", "tiny"), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ensure_models(args.model_dir, args.demo_size)
    workdir = tempfile.TemporaryDirectory(prefix="newsmt-soak-")
    server = ServerProcess(
        "--model-dir",
        str(args.model_dir),
        "--log-level",
        "WARNING",
        log=Path(workdir.name) / "server.log",
        ready_timeout=300.0,
    )
    address = server.address
    try:
        server.start()
        with Client(address, timeout=60) as probe:
            demo = [m.name for m in probe.list_models() if m.demo]
        article = next((ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
        traffic = Traffic(address, article, seed=1234)
        samples: list[tuple[float, float]] = []
        stop = threading.Event()
        started = time.monotonic()

        def sample() -> None:
            while not stop.is_set():
                mib = server.rss_mib()
                if mib is not None:
                    samples.append((time.monotonic() - started, mib))
                stop.wait(1.0)

        def client_loop() -> None:
            with Client(address, timeout=120, retries=0) as client:
                while time.monotonic() - started < args.duration:
                    traffic.one(client)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        workers = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        sampler.join()
        time.sleep(1.0)  # a second for the last calls to leave before the state is read
        state = queue_state(server.metrics_port)
    finally:
        exit_code = server.stop()
        log_text = server.log_path.read_text(errors="replace") if server.log_path else ""
        workdir.cleanup()

    half = args.duration / 2
    second_half = [mb for t, mb in samples if t >= half]
    growth = second_half[-1] - second_half[0] if len(second_half) > 1 else 0.0
    total = sum(traffic.outcomes.values())
    report: dict[str, Any] = {
        "command": " ".join(["python", "bench/soak.py", *sys.argv[1:]]),
        "duration_s": args.duration,
        "clients": args.clients,
        "demo_models": demo,
        "requests": total,
        "requests_per_s": round(total / args.duration, 2),
        "outcomes": {f"{kind} {code}": n for (kind, code), n in sorted(traffic.outcomes.items())},
        "unexpected": dict(Counter(traffic.errors)),
        "latency_ms": {
            kind: {
                "p50": round(statistics.median(v) * 1000, 1),
                "p99": round(sorted(v)[max(0, math.ceil(0.99 * len(v)) - 1)] * 1000, 1),
                "n": len(v),
            }
            for kind, v in sorted(traffic.latency.items())
        },
        "rss_mb": {
            "start": round(samples[0][1], 1) if samples else None,
            "second_half_start": round(second_half[0], 1) if second_half else None,
            "end": round(samples[-1][1], 1) if samples else None,
            "max": round(max(mb for _, mb in samples), 1) if samples else None,
            "second_half_growth": round(growth, 1),
        },
        "after_traffic": state,
        "server_exit_code": exit_code,
        "server_errors_logged": sum(1 for line in log_text.splitlines() if " ERROR " in line),
        "passed": growth < 50
        and not traffic.errors
        and all(v == 0 for v in state.values())
        and exit_code == 0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    grpc_version = grpc.__version__
    sys.exit(main())
