"""(c) Serving overhead: the full newsmt server with every model on the identity engine
(validation, interceptors, admission, segmentation, the batcher and its queue delay, the
identity "model") vs a bare grpcio echo server with the same thread-pool size. Same client
workload against both, interleaved: C threads sending one short sentence per Translate call.

The server's own CPU time per request (user + system, /proc/PID/stat, around each newsmt run)
is what an operator sizes CPU by: the echo ratio only says how much more a real server does
than a server that does nothing. Also on the identity server: a TranslateStream of 400
sentences against one of 50, time per sentence, interleaved (a stream's cost must grow with
its length, not faster).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from common import ROOT, median, rotated, timed
from loadgen import ServerProcess, closed_loop, newsmt_server, wait_until_loaded

log = logging.getLogger("bench.overhead")

HEADER = re.compile(r"^\[models\.[^\].]+\]\s*$")


def identity_registry(out: Path, source: Path | None = None) -> Path:
    """A registry (`source`, default the built-in one) with `engine = "identity"` under every
    [models.NAME] header, written to `out`."""
    from newsmt.models.registry import DEFAULT_REGISTRY

    lines = []
    for line in (source or DEFAULT_REGISTRY).read_text(encoding="utf-8").splitlines():
        lines.append(line)
        if HEADER.match(line):
            lines.append('engine = "identity"')
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def run(
    model_dir: Path,
    text: str,
    concurrency: int,
    requests: int,
    repeats: int,
    workers: int,
    log_dir: Path,
) -> dict[str, Any]:
    registry = identity_registry(log_dir / "identity-registry.toml")
    echo = [
        sys.executable,
        str(ROOT / "bench" / "echo_server.py"),
        "--port",
        "{port}",
        "--workers",
        str(workers),
    ]
    runs: dict[str, list[Any]] = {"newsmt_identity": [], "grpc_echo": []}
    cpu_ms: list[float] = []
    with ExitStack() as servers_up:
        with timed("(c) start both servers"):
            a = servers_up.enter_context(
                newsmt_server("newsmt-identity", model_dir, log_dir, "--registry", str(registry))
            )
            # The echo server has no health service: it is ready once a channel connects.
            b = servers_up.enter_context(
                ServerProcess(argv=echo, name="grpc-echo", log=log_dir / "grpc-echo.log")
            )
            listed = wait_until_loaded(a)
        servers = {"newsmt_identity": a, "grpc_echo": b}
        for r in range(repeats):
            for name in rotated(list(servers), r):
                with timed(f"(c) repeat {r + 1}: {name}, C={concurrency}, {requests} requests"):
                    servers[name].check_alive()
                    cpu_before = a.cpu_seconds()
                    result = closed_loop(
                        servers[name].address, [text], concurrency=concurrency, requests=requests
                    )
                    if name == "newsmt_identity":
                        cpu_ms.append(1000 * (a.cpu_seconds() - cpu_before) / requests)
                    wrong = sum(out != text for out in result.outputs.values())
                    if wrong or result.errors:
                        raise RuntimeError(f"{name}: {wrong} wrong outputs, {result.errors} errors")
                    runs[name].append(result)
        with timed("(c) streams of 50 and 400 sentences"):
            scaling = stream_scaling(a, repeats)
    rate = {name: median([x.per_second for x in rs]) for name, rs in runs.items()}
    return {
        "text": text,
        "concurrency": concurrency,
        "requests": requests,
        "repeats": repeats,
        "grpc_workers": workers,
        "identity_models": [m["engine"] for m in listed],
        "clients": "one newsmt.client.Client (own channel) per client thread",
        "newsmt_identity": rate_table(runs["newsmt_identity"], rate["newsmt_identity"]),
        "grpc_echo": rate_table(runs["grpc_echo"], rate["grpc_echo"]),
        "ratio": round(rate["newsmt_identity"] / rate["grpc_echo"], 3),
        "server_cpu_ms_per_request": round(median(cpu_ms), 3),
        "server_cpu_ms_per_request_runs": [round(x, 3) for x in cpu_ms],
        "streams": scaling,
    }


#: The stream scaling's sentences in the short and the long stream, four to a segment.
STREAM_SIZES = (50, 400)


def stream_scaling(server: ServerProcess, repeats: int) -> dict[str, Any]:
    """Time per sentence of one TranslateStream of each of `STREAM_SIZES` sentences on the
    identity server, interleaved; the ratio long / short per repeat, and its median. The
    sentences are the feed's news sentences cycled (the cache is off), four to a segment."""
    from feed import sentence_pool

    from newsmt.client import Client, StreamDone, TranslatedUnit

    pool = sentence_pool()
    per_sentence: dict[int, list[float]] = {n: [] for n in STREAM_SIZES}
    with Client(server.address, timeout=600, retries=0) as client:
        for r in range(repeats + 1):  # the first round warms up and is not counted
            for n in rotated(list(STREAM_SIZES), r):
                sentences = [pool[k % len(pool)] for k in range(n)]
                segments = [" ".join(sentences[k : k + 4]) for k in range(0, n, 4)]
                began = time.perf_counter()
                events = list(client.translate_stream(segments, source="en", target="ru"))
                seconds = time.perf_counter() - began
                joined = [""] * len(segments)
                for event in events:
                    if isinstance(event, TranslatedUnit):
                        joined[event.segment_index] += event.text
                if not isinstance(events[-1], StreamDone) or joined != segments:
                    raise RuntimeError(f"the stream of {n} sentences did not come back whole")
                if r:
                    per_sentence[n].append(1000 * seconds / n)
    short, long = STREAM_SIZES
    ratios = [b / a for a, b in zip(per_sentence[short], per_sentence[long], strict=True)]
    return {
        "sizes": list(STREAM_SIZES),
        "ms_per_sentence": {str(n): round(median(v), 3) for n, v in per_sentence.items()},
        "ratio_runs": [round(x, 3) for x in ratios],
        "ratio": round(median(ratios), 3),
    }


def rate_table(runs: list[Any], rate: float) -> dict[str, Any]:
    """A server's row: its median rate, p50 and p99, and every run."""
    per = [x.summary() for x in runs]
    return {
        "requests_per_s": round(rate, 1),
        "p50_ms": round(median([p["p50_ms"] for p in per]), 2),
        "p99_ms": round(median([p["p99_ms"] for p in per]), 2),
        "runs": per,
    }
