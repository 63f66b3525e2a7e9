"""(b) The real server end to end vs the raw CTranslate2 engine, same run, same sentences.

`newsmt serve` runs in a subprocess (every model on CTranslate2 int8, default scheduler
flags); closed-loop clients send one-sentence Translate requests en->ru at C = 1, 4, 16, 32.
The raw baseline (raw.py) is the server's own engine in this process, driven the way the
batcher drives it, over the same sentence sequence. Each repeat runs every raw batch size and
every C once, interleaved, so that noise from other work on the machine falls on both sides
alike.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import TRANSLATOR, Models, median, percentile, timed
from loadgen import (
    LoadRun,
    ServerProcess,
    closed_loop,
    engine_counters,
    newsmt_server,
    wait_until_loaded,
)
from raw import RawEngine, RawPass, diagnose, raw_pass

log = logging.getLogger("bench.service")

#: The raw batch also run under the server's token budget (the C=16 target's batch).
BUDGETED = 16


@dataclass(frozen=True)
class Plan:
    #: Client threads per load run, and requests per run (after one warm-up per thread).
    concurrency: tuple[int, ...]
    requests: dict[int, int]
    #: Raw engine batch sizes; batch B runs the sentence sequence of the load run at C = B.
    raw_batches: tuple[int, ...]
    repeats: int


def make_plan(n_sentences: int, repeats: int, quick: bool) -> Plan:
    """C = 1 and 4: one pass over the sentences; C = 16: two waves (one if quick); C = 32: one
    wave. The raw engine runs the same sentence sequence in batches of B = C."""
    busy = 16 if quick else max(n_sentences, 32)
    requests = {1: n_sentences, 4: n_sentences, 16: busy, 32: 32}
    return Plan((1, 4, 16, 32), requests, (1, 4, 16, 32), repeats)


def paired_pass(
    raw: RawEngine,
    rows: list[list[str]],
    bounds: list[int],
    address: str,
    sentences: list[str],
    on_start: Callable[[], None],
) -> tuple[RawPass, LoadRun]:
    """Idle latency, paired: for each sentence, one raw batch-1 engine call, then the same
    sentence as one Translate request to the idle server (C = 1), back to back, so that both
    sides see the same moment of a noisy machine."""
    from newsmt.client import Client

    raw_seconds: list[float] = []
    raw_out: dict[int, list[str]] = {}
    latencies: list[float] = []
    texts: dict[int, str] = {}
    with Client(address, timeout=900, retries=0) as client:
        client.translate(["Hello."], source="en", target="ru")
        on_start()
        for i, text in enumerate(sentences):
            out, seconds = raw.generate([rows[i]], [bounds[i]])
            raw_seconds.append(seconds)
            raw_out[i] = out[0]
            time.sleep(0.05)  # let this process's engine threads go idle first
            began = time.perf_counter()
            [result] = client.translate([text], source="en", target="ru")
            latencies.append((time.perf_counter() - began) * 1000)
            texts[i] = result.text
            time.sleep(0.05)
    n = len(sentences)
    raw_side = RawPass(
        1, n, sum(bounds), sum(raw_seconds), raw_seconds, raw_out, dict(enumerate(bounds))
    )
    service_side = LoadRun(1, n, sum(latencies) / 1000, latencies, 0, {}, texts)
    return raw_side, service_side


def server_flags() -> dict[str, Any]:
    """The scheduler and thread settings `newsmt serve` runs with (its defaults)."""
    from newsmt.server.app import plan_threads
    from newsmt.server.settings import Settings

    defaults = Settings()
    threads = plan_threads(defaults)
    flags = {
        name: getattr(defaults, name)
        for name in (
            "max_queue_delay_ms",
            "queue_quiet_ms",
            "max_batch_tokens",
            "max_batch_size",
            "max_queue",
            "max_inflight_requests",
            "max_connection_age_s",
        )
        if hasattr(defaults, name)
    }
    return flags | {
        "grpc_workers": threads.grpc_workers,
        "intra_threads": threads.intra,
        "inter_threads": threads.inter,
        "non_default": {"metrics_port": "a free port", "cache_bytes": 0},
    }


class EngineWindow:
    """The server's own engine counters over one timed run: `start` as the timing begins
    (after the warm-up requests), `stop` once the run is over."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = engine_counters(self.server, TRANSLATOR)

    def stop(self) -> dict[str, float]:
        after = engine_counters(self.server, TRANSLATOR)
        return {k: after[k] - self.before.get(k, 0.0) for k in after}


def run(
    models: dict[str, Models], model_dir: Path, sentences: list[str], plan: Plan, log_dir: Path
) -> dict[str, Any]:
    raw = RawEngine(models[TRANSLATOR])
    rows, bounds = raw.prepare(sentences)
    n = len(sentences)
    raw_runs: dict[int, list[RawPass]] = {b: [] for b in plan.raw_batches}
    load_runs: dict[int, list[LoadRun]] = {c: [] for c in plan.concurrency}
    #: Per load run: the server's own engine counters over that run (from /metrics).
    engine: dict[int, list[dict[str, float]]] = {c: [] for c in plan.concurrency}
    memory: dict[str, Any] = {}
    #: Raw batch BUDGETED also under the server's token budget, which the raw rows ignore:
    #: what the memory budget costs, apart from the scheduling.
    budget = server_flags()["max_batch_tokens"]
    budgeted: list[RawPass] = []
    with newsmt_server("newsmt", model_dir, log_dir) as server:
        with timed("(b) newsmt serve: load every model"):
            listed = wait_until_loaded(server)
        memory["server_peak_rss_after_load_mib"] = server.peak_rss_mib()
        memory["server_rss_after_load_mib"] = server.rss_mib()
        window = EngineWindow(server)
        for r in range(plan.repeats):
            with timed(f"(b) repeat {r + 1}: raw batch 1 and service C=1, paired"):
                pair = paired_pass(raw, rows, bounds, server.address, sentences, window.start)
                engine[1].append(window.stop())
                raw_runs[1].append(pair[0])
                load_runs[1].append(pair[1])
            # Alternate raw and service runs so that both see the same stretch of noise.
            raws = [("raw", b) for b in plan.raw_batches[1:]]
            loads = [("service", c) for c in plan.concurrency[1:]]
            steps = [x for pair in itertools.zip_longest(raws, loads) for x in pair if x]
            for kind, size in steps:
                count = plan.requests[size]
                if kind == "raw":
                    with timed(f"(b) repeat {r + 1}: raw batch {size}, {count} sentences"):
                        raw_runs[size].append(raw_pass(raw, rows, bounds, size, count))
                    if size == BUDGETED:
                        with timed(f"(b) repeat {r + 1}: raw batch {size}, budget {budget}"):
                            budgeted.append(raw_pass(raw, rows, bounds, size, count, budget))
                    continue
                with timed(f"(b) repeat {r + 1}: service C={size}, {count} requests"):
                    server.check_alive()
                    load = closed_loop(
                        server.address,
                        sentences,
                        concurrency=size,
                        requests=count,
                        on_start=window.start,
                    )
                    engine[size].append(window.stop())
                    load_runs[size].append(load)
        memory["server_peak_rss_after_load_tests_mib"] = server.peak_rss_mib()
        memory["server_rss_after_load_tests_mib"] = server.rss_mib()
    with timed("(b) diagnose output changes under batching"):
        diagnosis = diagnose(raw, rows, bounds, raw_runs)

    alone = raw_runs[1][0].outputs
    reference = [raw.pipeline_text(rows[i], alone[i]) for i in range(n)]
    loop_cut = [raw.loop_cut(rows[i], alone[i]) for i in range(n)]
    checks = [
        {
            "concurrency": c,
            "repeat": r + 1,
            "match": sum(text == reference[i % n] for i, text in load.outputs.items()),
            "of": load.requests,
        }
        for c, loads in load_runs.items()
        for r, load in enumerate(loads)
    ]
    raw_table = [_raw_row(b, passes) for b, passes in raw_runs.items()]
    best = max(raw_table, key=lambda row: row["tokens_per_s"])
    b1_p50 = [median(p.call_seconds) * 1000 for p in raw_runs[1]]
    b1_p90 = [percentile(p.call_seconds, 90) * 1000 for p in raw_runs[1]]
    return {
        "model": TRANSLATOR,
        "sentences": n,
        "input_tokens": [len(r) for r in rows],
        "output_bounds": bounds,
        "engine_settings": raw.settings(),
        "server_flags": server_flags(),
        "server_models": listed,
        "plan": {
            "concurrency": list(plan.concurrency),
            "raw_batches": list(plan.raw_batches),
            "requests": plan.requests,
            "repeats": plan.repeats,
            "clients": "one newsmt.client.Client (own channel, no retries) per client thread",
        },
        "raw": raw_table,
        "raw_best": {k: best[k] for k in ("batch", "sentences_per_s", "tokens_per_s")},
        "raw_budgeted": (
            _raw_row(BUDGETED, budgeted)
            | {
                "budget": budget,
                "calls_per_pass": len(budgeted[0].call_seconds),
                "unbudgeted_calls_per_pass": len(raw_runs[BUDGETED][0].call_seconds),
            }
            if budgeted
            else None
        ),
        "raw_batch1_p50_ms": round(median(b1_p50), 1),
        "raw_batch1_p90_ms": round(median(b1_p90), 1),
        "raw_batch1_p50_ms_runs": [round(x, 1) for x in b1_p50],
        "service": [_service_row(c, loads, engine[c], bounds) for c, loads in load_runs.items()],
        "reference": {
            "what": "raw engine at batch 1 with its own bound, then the pipeline's loop cut, "
            "decoded: what the service must return for a sentence alone in its batch",
            "loop_cut_sentences": sum(1 for x in loop_cut if x),
            "tokens_generated_mean": round(sum(len(alone[i]) for i in range(n)) / n, 1),
            "tokens_kept_mean": round(sum(len(alone[i]) - loop_cut[i] for i in range(n)) / n, 1),
        },
        "output_check": checks,
        "batching_diagnosis": diagnosis,
        "memory": memory,
    }


def _raw_row(batch: int, passes: list[RawPass]) -> dict[str, Any]:
    return {
        "batch": batch,
        "sentences_per_pass": passes[0].sentences,
        "sentences_per_s": round(median([p.sentences / p.seconds for p in passes]), 3),
        "tokens_per_s": round(median([p.tokens / p.seconds for p in passes]), 1),
        "seconds_runs": [round(p.seconds, 2) for p in passes],
    }


def _service_row(
    c: int, loads: list[LoadRun], engine: list[dict[str, float]], bounds: list[int]
) -> dict[str, Any]:
    n = len(bounds)
    per = [load.summary() | {"server_engine": e} for load, e in zip(loads, engine, strict=True)]
    # From the server's metrics: rows per engine call, and the share of the run's wall time
    # the engine was busy (None where the metrics endpoint could not be read).
    seen = [(e, x) for e, x in zip(engine, loads, strict=True) if e.get("engine_calls")]
    rows = [e["rows"] / e["engine_calls"] for e, _ in seen]
    busy = [e["engine_seconds"] / x.seconds for e, x in seen]
    # Generated tokens: each request's sentence runs to its bound (random weights never stop).
    tokens = [sum(bounds[i % n] for i in load.outputs) / load.seconds for load in loads]
    return {
        "concurrency": c,
        "requests": loads[0].requests,
        "sentences_per_s": round(median([load.per_second for load in loads]), 3),
        "tokens_per_s": round(median(tokens), 1),
        "p50_ms": round(median([p["p50_ms"] for p in per]), 1),
        "p90_ms": round(median([p["p90_ms"] for p in per]), 1),
        "p99_ms": round(median([p["p99_ms"] for p in per]), 1),
        "errors": sum(p["errors"] for p in per),
        "server_batch_rows_mean": round(median(rows), 2) if rows else None,
        "server_engine_busy": round(median(busy), 3) if busy else None,
        "runs": per,
    }
