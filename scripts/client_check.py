#!/usr/bin/env python3
"""Build both wheels, then prove the client wheel stands alone.

    python scripts/client_check.py [--dist DIR]

1. `pip wheel --no-deps` builds newsmt-client (clients/python) and newsmt (the server) into
   --dist (default dist/).
2. A fresh virtualenv gets the client wheel alone. None of the ML stack may come with it, and
   `newsmt.client` and `newsmt.v1` must ship `py.typed`.
3. A real server (this interpreter's environment, every model on the identity engine) is
   started on a free port; from the client venv, `newsmt health`, `newsmt translate` and the
   Python `Client` must work against it, and `newsmt serve` must exit 2 naming the install
   command.

Run by `python3 scripts/dev.py test` after the test suite. Exit 0 when every check holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What a client install must never pull in.
FORBIDDEN = {
    "torch",
    "transformers",
    "ctranslate2",
    "sentencepiece",
    "tokenizers",
    "pysbd",
    "lingua-language-detector",
}
TEXT = "Hello, world. The client needs no model."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    dist: Path = args.dist.resolve()
    dist.mkdir(parents=True, exist_ok=True)
    for old in dist.glob("newsmt*.whl"):
        old.unlink()
    step("building both wheels")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist,
        ROOT / "clients" / "python", ROOT)  # fmt: skip
    [client_wheel] = dist.glob("newsmt_client-*.whl")
    [server_wheel] = dist.glob("newsmt-*.whl")
    print(f"  {client_wheel.name}\n  {server_wheel.name}")

    with tempfile.TemporaryDirectory(prefix="newsmt-client-") as tmp:
        work = Path(tmp)
        step("a fresh venv with the client wheel alone")
        venv.EnvBuilder(with_pip=True).create(work / "venv")
        bin_dir = work / "venv" / "bin"
        run(bin_dir / "python", "-m", "pip", "install", "--quiet", client_wheel)
        installed = {
            p["name"].lower()
            for p in json.loads(
                run(bin_dir / "python", "-m", "pip", "list", "--format=json", capture=True)
            )
        }
        check(not (installed & FORBIDDEN), f"client venv pulled in {sorted(installed & FORBIDDEN)}")
        typed = run(
            bin_dir / "python",
            "-c",
            "import importlib.resources as r;"
            "print(all(r.files(p).joinpath('py.typed').is_file()"
            " for p in ('newsmt.client', 'newsmt.v1')))",
            capture=True,
        )
        check(typed.strip() == "True", "py.typed missing from newsmt.client or newsmt.v1")
        print(
            f"  {len(installed)} packages, none of {', '.join(sorted(FORBIDDEN))}; py.typed ships"
        )

        serve = subprocess.run(
            [bin_dir / "newsmt", "serve"], capture_output=True, text=True, check=False
        )
        check(
            serve.returncode == 2 and "pip install" in serve.stderr,
            f"client-only `newsmt serve` gave {serve.returncode}: {serve.stderr.strip()}",
        )
        print(f"  newsmt serve without the server: exit 2, {serve.stderr.strip()!r}")

        step("a real server (identity engine), called from the client venv")
        registry = work / "identity.toml"
        builtin = (ROOT / "service/newsmt/models/registry.toml").read_text(encoding="utf-8")
        registry.write_text(
            re.sub(r"^(\[models\.[^\]]+\])$", r'\1\nengine = "identity"', builtin, flags=re.M),
            encoding="utf-8",
        )
        port = free_port()
        address = f"127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "newsmt.cli.main", "serve", "--port", str(port),
             "--metrics-port", "-1", "--http-port", "-1", "--registry", registry, "--model-dir", work / "models"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                health = subprocess.run(
                    [bin_dir / "newsmt", "health", "--address", address, "--timeout", "2"],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                if health.returncode == 0:
                    break
                check(server.poll() is None, f"server exited: {server.returncode}")
                check(time.monotonic() < deadline, "server not SERVING within 120 s")
                time.sleep(0.5)
            print(f"  newsmt health: {health.stdout.strip()}")
            translated = subprocess.run(
                [bin_dir / "newsmt", "translate", "--to", "ru", "--from", "en",
                 "--address", address],
                input=TEXT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            check(
                translated.returncode == 0 and translated.stdout.strip() == TEXT,
                f"newsmt translate: exit {translated.returncode}, {translated.stderr.strip()}",
            )
            print("  newsmt translate: the identity engine's output, exit 0")
            script = (
                "import sys\n"
                "from newsmt.client import Client\n"
                "with Client(sys.argv[1], timeout=30) as c:\n"
                "    [t] = c.translate([sys.argv[2]], target='es', source='en')\n"
                "    print(t.text == sys.argv[2], t.route.demo)\n"
            )
            out = run(bin_dir / "python", "-c", script, address, TEXT, capture=True)
            check(out.split() == ["True", "True"], f"Client.translate gave {out!r}")
            print("  Client.translate: exact text back, marked demo")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    print("client check: OK")
    return 0


def step(what: str) -> None:
    print(f"client check: {what}", flush=True)


def check(condition: bool, problem: str) -> None:
    if not condition:
        print(f"client check FAILED: {problem}", file=sys.stderr)
        sys.exit(1)


def run(*cmd: str | Path, capture: bool = False) -> str:
    result = subprocess.run(
        [str(c) for c in cmd], capture_output=capture, text=True, check=False, cwd=ROOT
    )
    if result.returncode != 0:
        print(result.stdout or "", result.stderr or "", file=sys.stderr)
        check(False, f"{' '.join(str(c) for c in cmd[:4])} ... exited {result.returncode}")
    return result.stdout or ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
