#!/usr/bin/env python3
"""Developer entry point. Needs only Python 3.11+; sets up .venv on first use.

    python3 scripts/dev.py smoke   # set up, then run every seed article through the service
    python3 scripts/dev.py test    # set up, then: stub check, lint, types, pytest with a coverage
                                   # floor (browser tests: npm ci in tests/browser first), Node
                                   # client test, both wheels and a client-only venv
    python3 scripts/dev.py check   # lint and types only
    python3 scripts/dev.py protos  # regenerate the Python stubs from protos/
    python3 scripts/dev.py image   # build the container image with podman, run it, check it

Extra arguments after the command go to the tool it runs (`smoke --json`, `test -k batcher`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".newsmt-installed"


def run(*cmd: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def setup() -> None:
    """Create .venv and install newsmt-client and newsmt with the dev tools, once per change of
    either pyproject.toml."""
    if sys.version_info < (3, 11):  # noqa: UP036 - users may run an older python3
        sys.exit(f"newsmt needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256(
        b"".join(
            (ROOT / p).read_bytes() for p in ("pyproject.toml", "clients/python/pyproject.toml")
        )
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    # Both distributions: the client (stubs, client, CLI) and the server, which depends on it.
    run(PY, "-m", "pip", "install", "--quiet", "-e", "./clients/python", "-e", ".[dev]")
    if not (BIN / "newsmt").exists():
        # A venv from before the split: upgrading `newsmt` removed the `newsmt` command that
        # it used to own and newsmt-client now installs. Put it back.
        run(
            PY,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--force-reinstall",
            "-e",
            "./clients/python",
        )
    STAMP.write_text(wanted)


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    return env


def check() -> None:
    env = tool_env()
    run(PY, "scripts/gen_protos.py", "--check", env=env)
    run(PY, "-m", "ruff", "format", "--check", ".", env=env)
    run(PY, "-m", "ruff", "check", ".", env=env)
    run(PY, "-m", "mypy", env=env)
    run(BIN / "hadolint", "Dockerfile", env=env)


def browser_setup() -> None:
    """axe-core (injected by the review page's browser tests) and the page's vendored libraries
    (checked against npm's files), from tests/browser/package-lock.json. The tests also need
    Debian's chromium (`apt-get install -y chromium`); without either they skip, in CI they fail."""
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            sys.exit("npm is required in CI for the review page's browser tests")
        print("skipped: npm ci in tests/browser (npm not found)", flush=True)
        return
    run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=ROOT / "tests" / "browser")


def node_test() -> None:
    node_dir = ROOT / "clients" / "node"
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("CI"):
            sys.exit("node and npm are required in CI for the Node client test")
        print("skipped: Node client test (node/npm not found)", flush=True)
        return
    env = tool_env()
    env["NEWSMT_PYTHON"] = str(PY)
    run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=node_dir, env=env)
    run("npm", "test", cwd=node_dir, env=env)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        sys.exit(0 if argv else 2)
    command, extra = argv[0], argv[1:]
    if command == "smoke":
        setup()
        run(BIN / "newsmt", "smoke", *extra, env=tool_env())
    elif command == "test":
        setup()
        check()
        browser_setup()
        # Coverage floor: [tool.coverage.report] fail_under in pyproject.toml.
        run(PY, "-m", "pytest", "--cov", "--cov-report=term:skip-covered", *extra, env=tool_env())
        node_test()
        run(PY, "scripts/client_check.py", env=tool_env())
    elif command == "check":
        setup()
        check()
    elif command == "protos":
        setup()
        run(PY, "scripts/gen_protos.py", env=tool_env())
    elif command == "image":  # stdlib only, no .venv needed: scripts/image.py
        run(sys.executable, "scripts/image.py", *extra)
    else:
        sys.exit(f"unknown command {command!r}; see: python3 scripts/dev.py --help")


if __name__ == "__main__":
    main(sys.argv[1:])
