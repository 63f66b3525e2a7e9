#!/usr/bin/env python3
"""A/B: `newsmt serve` from other git revisions against this checkout's, same machine, same run.

    python bench/ab.py 2b07e9a HEAD [--repeats 3] [--out bench/results/ab.json]

Each revision is checked out once into a temporary git worktree and served from there
(PYTHONPATH points at its `service/` and `clients/python/`; the dependencies are this
checkout's venv). Two workloads, each run against every revision's server in a rotating
order, repeat after repeat, with the same client code (this checkout's):

- models: every registry model on its demo weights in `--model-dir` (CTranslate2 int8), 32
  one-sentence `Translate` requests en->ru at C = 16 over the seed sentences: (b)'s busy load;
- identity: every model on the identity engine (the revision's own registry with
  `engine = "identity"` added), 2,000 requests of one short sentence at C = 16: (c)'s load.

Reported: the median sentences/s (requests/s) of each revision and its ratio to the first
revision given. `--loads identity` runs only the second load (a minute or two: for bisecting). The per-unit cache is off where a revision has one (`--cache-bytes 0`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import (
    ROOT,
    ensure_models,
    machine_info,
    median,
    now_iso,
    rotated,
    seed_sentences,
    timed,
)
from loadgen import ServerProcess, closed_loop, wait_until_loaded
from overhead import identity_registry

log = logging.getLogger("bench.ab")

SHORT = "Moscow has repeatedly warned that Western support would prolong the war."


def worktree(rev: str, base: Path) -> tuple[str, Path]:
    """A detached worktree of `rev` under `base`; its full commit id and path."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    path = base / commit[:12]
    if not path.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), commit],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return commit, path


def tree_registry(tree: Path) -> Path:
    """The revision's built-in registry file."""
    [registry] = sorted((tree / "service").rglob("registry.toml"))
    return registry


def server(tree: Path, name: str, log_dir: Path, *flags: str) -> ServerProcess:
    settings = next((tree / "service").rglob("server/settings.py")).read_text(encoding="utf-8")
    cache_off = ("--cache-bytes", "0") if "cache_bytes" in settings else ()
    python_path = f"{tree / 'service'}{os.pathsep}{tree / 'clients' / 'python'}"
    return ServerProcess(
        *cache_off,
        *flags,
        http="http_port" in settings,
        command=[sys.executable, "-c", "import sys; from newsmt.cli.main import main; main()"],
        env={"PYTHONPATH": python_path},
        name=name,
        log=log_dir / f"{name}.log",
        ready_timeout=600.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", help="git revisions; the first is the baseline")
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--loads",
        default="models,identity",
        help="which loads, comma-separated: models, identity (default: both)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/ab.json"))
    args = parser.parse_args(argv)
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    if not loads or not set(loads) <= {"models", "identity"}:
        parser.error("--loads takes models, identity or both")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    model_dir = (ROOT / args.model_dir).resolve()
    ensure_models(model_dir)
    sentences = seed_sentences()
    base = Path(tempfile.mkdtemp(prefix="newsmt-ab-"))
    trees = dict(worktree(rev, base) for rev in args.revisions)
    names = {commit: commit[:9] for commit in trees}
    rates: dict[str, dict[str, list[float]]] = {c: {"models": [], "identity": []} for c in trees}
    memory: dict[str, float] = {}
    try:
        with ExitStack() as up:
            servers: dict[str, dict[str, ServerProcess]] = {}
            for commit, tree in trees.items():
                with timed(f"start {names[commit]}"):
                    flags = {
                        "models": ("--model-dir", str(model_dir)),
                        "identity": (
                            "--model-dir",
                            str(model_dir),
                            "--registry",
                            str(
                                identity_registry(
                                    base / f"{names[commit]}-identity.toml", tree_registry(tree)
                                )
                            ),
                        ),
                    }
                    servers[commit] = {
                        load: up.enter_context(
                            server(tree, f"{names[commit]}-{load}", base, *flags[load])
                        )
                        for load in loads
                    }
                    for load in loads:
                        wait_until_loaded(servers[commit][load])
            order = list(trees)
            for r in range(args.repeats):
                for commit in rotated(order, r):
                    for load in loads:
                        texts, requests = (sentences, 32) if load == "models" else ([SHORT], 2000)
                        with timed(f"repeat {r + 1}: {names[commit]} {load}, C=16, {requests}"):
                            run = closed_loop(
                                servers[commit][load].address,
                                texts,
                                concurrency=16,
                                requests=requests,
                            )
                            rates[commit][load].append(run.per_second)
            for commit in trees:
                memory[commit] = servers[commit][loads[0]].peak_rss_mib()
    finally:
        for tree in trees.values():
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
            )
    first = next(iter(trees))
    result: dict[str, Any] = {
        "command": " ".join(["python", "bench/ab.py", *(argv or sys.argv[1:])]),
        "timestamp": now_iso(),
        "machine": machine_info(),
        "revisions": {
            commit: {
                "given_as": rev,
                "peak_rss_mib": memory.get(commit),
                **{
                    key: value
                    for load in loads
                    for key, value in {
                        f"{load}_per_s": round(median(rates[commit][load]), 3),
                        f"{load}_runs": [round(x, 3) for x in rates[commit][load]],
                        f"{load}_vs_first": round(
                            median(rates[commit][load]) / median(rates[first][load]), 3
                        ),
                    }.items()
                },
            }
            for rev, commit in zip(args.revisions, trees, strict=True)
        },
    }
    out = args.out if args.out.is_absolute() else ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for commit, row in result["revisions"].items():
        figures = ", ".join(
            f"{load} {row[f'{load}_per_s']:,.3f}/s ({row[f'{load}_vs_first']:.3f}x)"
            for load in loads
        )
        log.info(
            "%s (%s): %s, peak %s MiB", names[commit], row["given_as"], figures, memory.get(commit)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
