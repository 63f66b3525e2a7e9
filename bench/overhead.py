"""(c) Serving overhead: the full newsmt server with every model on the identity engine
(validation, interceptors, admission, segmentation, the batcher and its queue delay, the
identity "model") vs a bare grpcio echo server with the same thread-pool size. Same client
workload against both, interleaved: C threads sending one short sentence per Translate call.
"""

from __future__ import annotations

import logging
import re
import sys
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
                    result = closed_loop(
                        servers[name].address, [text], concurrency=concurrency, requests=requests
                    )
                    wrong = sum(out != text for out in result.outputs.values())
                    if wrong or result.errors:
                        raise RuntimeError(f"{name}: {wrong} wrong outputs, {result.errors} errors")
                    runs[name].append(result)
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
