"""Pull every registry model into a folder, record the lock, convert to CTranslate2: the image's
models stage.

    PYTHONPATH=<a folder holding newsmt/core and newsmt/models> python pull_models.py /models

The same as `newsmt models pull --convert --model-dir /models` (newsmt.lock included), but it
imports only newsmt.core and newsmt.models (the registry, the download, the lock and the
conversion), which the Dockerfile's models stage copies alone: an edit to any other part of
newsmt then leaves that stage, and the models it downloaded, in the build cache. Exit 1 if any
model failed.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from newsmt.models.lock import LockEntry
from newsmt.models.registry import Registry
from newsmt.models.store import ModelStore, serving_compute_types


def pull_all(store: ModelStore, registry: Registry) -> int:
    """Pull, lock and convert each model; the number that failed."""
    failed = 0
    locked: dict[str, LockEntry] = {}
    for spec in registry.models.values():
        try:
            path = store.pull(spec)
            locked[spec.name] = store.lock_entry(spec, path)
            local = store.locate(spec)
            if local is None:
                raise RuntimeError(f"pulled into {path} but not found there")
            converted = serving_compute_types(spec, "cpu")
            for compute_type in converted:
                if not store.is_converted(local, compute_type):
                    store.convert(local, compute_type)
        except Exception as exc:
            failed += 1
            print(f"pull_models: {spec.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        ct2 = ", ".join(converted) or "-"
        print(f"{spec.name}: {path} (commit {locked[spec.name].commit}; CTranslate2: {ct2})")
    if locked:
        print(f"lock: {store.record(locked)} ({len(locked)} model(s) recorded)", flush=True)
    return failed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    return 1 if pull_all(ModelStore(Path(argv[0])), Registry.load()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
