#!/usr/bin/env python3
"""SIGTERM while full-size models are mid-decode: the server must exit 0.

    python bench/shutdown_check.py [--model-dir models]

Starts `newsmt serve` on the full-size demo models (build them with `newsmt smoke` or
`newsmt models make-demo --convert`), sends two long translations, signals SIGTERM four
seconds in with a 1 s grace, and prints the exit code. Before the fix in `newsmt serve` the
process died with SIGSEGV (-11): the interpreter was torn down under a running CTranslate2
call. Tiny models decode too fast to show it, hence a script and not a test.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from newsmt.client import Client

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsmt.cli.main",
            "serve",
            "--port",
            str(port),
            "--metrics-port",
            "-1",
            "--model-dir",
            str(args.model_dir),
            "--shutdown-grace",
            "1",
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
    )
    address = f"127.0.0.1:{port}"
    with Client(address) as client:
        client.wait_until_serving(timeout=120)
    text = next((ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")

    def call() -> None:
        try:
            with Client(address, retries=0) as c:
                c.translate([text], source="en", target="ru", timeout=60)
        except Exception as exc:
            print(f"client: {type(exc).__name__} (expected: the grace ends the call)")

    callers = [threading.Thread(target=call) for _ in range(2)]
    for t in callers:
        t.start()
    time.sleep(4)
    server.send_signal(signal.SIGTERM)
    code = server.wait(60)
    for t in callers:
        t.join()
    print(f"server exit code: {code}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
