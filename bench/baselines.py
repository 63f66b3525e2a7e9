"""(d) Peer serving styles: newsmt against the way other open servers serve the same model,
same run, same workload as (b) at C = 16 (one-sentence Translate requests en->ru, closed
loop, one `newsmt.client.Client` per client thread).

- newsmt: `newsmt serve` (defaults, CTranslate2 int8, `--cache-bytes 0`).
- one call per request, CTranslate2 (LibreTranslate's way): `peers/ct2_per_request.py`, the
  same int8 conversion and engine threads, one `translate_batch` per request, calls serialised.
- transformers per request (EasyNMT's way): `peers/transformers_per_request.py`, the float32
  PyTorch model, one `generate` per request, calls serialised, on every CPU (PyTorch's own
  default, as EasyNMT runs it).

The peers decode with newsmt's own settings (beam, penalties) and its per-sentence output
bound, so all three do the same work per sentence; what differs is how requests meet the
engine. The three run interleaved, in a rotating order, repeat after repeat.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from common import ROOT, TRANSLATOR, Models, engine_threads, median, rotated, timed, usable_cpus
from loadgen import LoadRun, ServerProcess, closed_loop, newsmt_server, wait_until_loaded
from raw import RawEngine

log = logging.getLogger("bench.baselines")

PEERS = ROOT / "bench" / "peers"


def decoding(models: Models) -> tuple[dict[str, Any], str]:
    """newsmt's decoding settings for the translator, read off the server's own engine built
    the way the server builds it, with the pipeline's output bound, as the peers take them;
    and the engine's CTranslate2 compute type."""
    raw = RawEngine(models)
    settings = {k: v for k, v in vars(raw.engine.settings).items() if k != "min_length"}
    bound = {"output_ratio": raw.config.output_ratio, "output_extra": raw.config.output_extra}
    return settings | bound, raw.compute_type


def peer(
    name: str,
    script: str,
    model: Path,
    models: Models,
    settings: str,
    log_dir: Path,
    threads: int,
    *extra: str,
) -> ServerProcess:
    argv = [
        sys.executable,
        str(PEERS / script),
        "--port",
        "{port}",
        "--model",
        str(model),
        "--tokenizer",
        str(models.path),
        "--threads",
        str(threads),
        "--decoding",
        settings,
        *extra,
    ]
    return ServerProcess(argv=argv, name=name, log=log_dir / f"{name}.log", ready_timeout=600.0)


def run(
    models: dict[str, Models],
    model_dir: Path,
    sentences: list[str],
    requests: int,
    repeats: int,
    log_dir: Path,
    concurrency: int = 16,
) -> dict[str, Any]:
    translator = models[TRANSLATOR]
    settings, compute_type = decoding(translator)
    as_json = json.dumps(settings)
    runs: dict[str, list[LoadRun]] = {}
    with ExitStack() as up:
        with timed("(d) start newsmt and the two peer servers"):
            servers: dict[str, ServerProcess] = {
                "newsmt": up.enter_context(newsmt_server("newsmt-peers", model_dir, log_dir)),
                "ct2_per_request": up.enter_context(
                    peer(
                        "ct2-per-request",
                        "ct2_per_request.py",
                        translator.ct2[compute_type],
                        translator,
                        as_json,
                        log_dir,
                        engine_threads(),
                        "--compute-type",
                        compute_type,
                    )
                ),
                "transformers_per_request": up.enter_context(
                    peer(
                        "transformers-per-request",
                        "transformers_per_request.py",
                        translator.path,
                        translator,
                        as_json,
                        log_dir,
                        usable_cpus(),
                    )
                ),
            }
            wait_until_loaded(servers["newsmt"])
        names = list(servers)
        runs = {name: [] for name in names}
        for r in range(repeats):
            for name in rotated(names, r):
                with timed(f"(d) repeat {r + 1}: {name}, C={concurrency}, {requests} requests"):
                    servers[name].check_alive()
                    result = closed_loop(
                        servers[name].address,
                        sentences,
                        concurrency=concurrency,
                        requests=requests,
                    )
                    if result.errors:
                        raise RuntimeError(f"{name}: {result.errors} errors {result.error_kinds}")
                    runs[name].append(result)
    rate = {name: median([x.per_second for x in rs]) for name, rs in runs.items()}
    return {
        "model": TRANSLATOR,
        "concurrency": concurrency,
        "requests": requests,
        "repeats": repeats,
        "decoding": settings,
        "compute_type": compute_type,
        "threads": {"ct2_per_request": engine_threads(), "transformers_per_request": usable_cpus()},
        "servers": {
            name: {
                "sentences_per_s": round(rate[name], 3),
                "p50_ms": round(median([x.summary()["p50_ms"] for x in rs]), 1),
                "p90_ms": round(median([x.summary()["p90_ms"] for x in rs]), 1),
                # Mean output length: a check that the three do comparable work per sentence.
                "output_chars_mean": round(
                    median(
                        [sum(map(len, x.outputs.values())) / max(1, len(x.outputs)) for x in rs]
                    ),
                    1,
                ),
                "runs": [x.summary() for x in rs],
            }
            for name, rs in runs.items()
        },
        "newsmt_vs_ct2_per_request": round(rate["newsmt"] / rate["ct2_per_request"], 3),
        "newsmt_vs_transformers_per_request": round(
            rate["newsmt"] / rate["transformers_per_request"], 3
        ),
    }
