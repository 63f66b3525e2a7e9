"""(h) HTTP vs gRPC: one `newsmt serve` (every model on the identity engine, cache off), the same
one-sentence translation at C=16 as `POST /v1/translate` (JSON) and as gRPC `Translate`,
interleaved run by run. Each HTTP client thread keeps one keep-alive connection (the standard
library's `http.client`, the lightest client Python has), as each gRPC thread keeps its own
channel (`newsmt.client.Client`). Every answer is checked against the text sent.

    python bench/http_vs_grpc.py --requests 800 --repeats 3   # this row alone, as JSON
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import median, rotated, timed
from loadgen import LoadRun, closed_loop, newsmt_server, run_workers, wait_until_loaded
from overhead import identity_registry, rate_table

log = logging.getLogger("bench.http")

CONCURRENCY = 16


def http_closed_loop(
    port: int, text: str, *, concurrency: int, requests: int, warmup_text: str = "Hello."
) -> LoadRun:
    """As `loadgen.closed_loop`, over HTTP: C threads, each with one keep-alive connection,
    send `POST /v1/translate` back to back until `requests` are done (one warm-up each,
    untimed)."""
    counter = itertools.count()
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    latencies: list[float] = []
    outputs: dict[int, str] = {}
    errors: dict[str, int] = {}
    headers = {"Content-Type": "application/json"}

    def body(sentence: str) -> bytes:
        return json.dumps(
            {
                "segments": [{"id": "0", "text": sentence}],
                "sourceLanguageCode": "en",
                "targetLanguageCode": "ru",
            }
        ).encode()

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        try:
            connection.request("POST", "/v1/translate", body(warmup_text), headers)
            connection.getresponse().read()
        finally:
            start.wait()
        mine: list[float] = []
        while (i := next(counter)) < requests:
            began = time.perf_counter()
            connection.request("POST", "/v1/translate", body(text), headers)
            response = connection.getresponse()
            data = response.read()
            if response.status != 200:
                with lock:
                    kind = f"HTTP {response.status}"
                    errors[kind] = errors.get(kind, 0) + 1
                continue
            mine.append((time.perf_counter() - began) * 1000)
            outputs[i] = json.loads(data)["translations"][0]["translatedText"]
        connection.close()
        with lock:
            latencies.extend(mine)

    seconds = run_workers(worker, concurrency, start)
    return LoadRun(concurrency, requests, seconds, latencies, sum(errors.values()), errors, outputs)


def run(model_dir: Path, text: str, requests: int, repeats: int, log_dir: Path) -> dict[str, Any]:
    registry = identity_registry(log_dir / "identity-registry-http.toml")
    runs: dict[str, list[LoadRun]] = {"grpc": [], "http": []}
    with newsmt_server("newsmt-http", model_dir, log_dir, "--registry", str(registry)) as server:
        wait_until_loaded(server)
        for r in range(repeats):
            for name in rotated(list(runs), r):
                with timed(f"(h) repeat {r + 1}: {name}, C={CONCURRENCY}, {requests} requests"):
                    server.check_alive()
                    if name == "grpc":
                        result = closed_loop(
                            server.address, [text], concurrency=CONCURRENCY, requests=requests
                        )
                    else:
                        result = http_closed_loop(
                            server.http_port, text, concurrency=CONCURRENCY, requests=requests
                        )
                    wrong = sum(out != text for out in result.outputs.values())
                    if wrong or result.errors:
                        raise RuntimeError(f"{name}: {wrong} wrong outputs, {result.errors} errors")
                    runs[name].append(result)
    rate = {name: median([x.per_second for x in rs]) for name, rs in runs.items()}
    # Each repeat's two runs are neighbours in time: their ratio sees one stretch of noise.
    pairs = [h.per_second / g.per_second for g, h in zip(runs["grpc"], runs["http"], strict=True)]
    return {
        "text": text,
        "concurrency": CONCURRENCY,
        "requests": requests,
        "repeats": repeats,
        "clients": {
            "grpc": "one newsmt.client.Client (own channel) per client thread",
            "http": "one http.client.HTTPConnection (keep-alive) per client thread",
        },
        "grpc": rate_table(runs["grpc"], rate["grpc"]),
        "http": rate_table(runs["http"], rate["http"]),
        "ratio_runs": [round(x, 3) for x in pairs],
        "ratio": round(median(pairs), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from run import seed_sentences, short_text

    log_dir = Path(tempfile.mkdtemp(prefix="newsmt-bench-http-"))
    result = run(
        args.model_dir.resolve(),
        short_text(seed_sentences()),
        args.requests,
        args.repeats,
        log_dir,
    )
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
