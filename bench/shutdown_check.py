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
import sys
import threading
import time
from pathlib import Path

from newsmt.client import Client

# The repository root, for the scaffolding the bench shares with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ROOT, ServerProcess


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    server = ServerProcess(
        "--model-dir",
        str(args.model_dir),
        "--shutdown-grace",
        "1",
        "--log-level",
        "WARNING",
        metrics=False,
        quiet=False,  # its warnings, or a crash's traceback, show here
    ).start()
    address = server.address
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
    time.sleep(4)  # the signal must land mid-decode: that moment is what is checked
    code = server.stop(signal.SIGTERM, timeout=60)
    for t in callers:
        t.join()
    print(f"server exit code: {code}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
