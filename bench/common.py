"""What every bench section shares: models on disk, the workload, statistics, machine info."""

from __future__ import annotations

import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
#: The model every translation measurement uses.
TRANSLATOR = "opus-mt-en-ru"
SUMMARIZER = "distilbart-cnn-12-6"
#: CTranslate2 conversions the bench needs, besides the models themselves.
COMPUTE_TYPES = ("int8", "float32")

log = logging.getLogger("bench")


# -- models ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Models:
    """Paths of one registry model: its Hugging Face folder and its CTranslate2 conversions."""

    name: str
    path: Path
    demo: bool
    ct2: dict[str, Path]


def ensure_models(model_dir: Path) -> dict[str, Models]:
    """Every registry model in `model_dir` (a full-size demo model where none is there, or
    where the demo there is another size), with its int8 and float32 CTranslate2
    conversions. Existing files are reused."""
    from newsmt.models.registry import Registry
    from newsmt.models.store import ModelStore

    store = ModelStore(model_dir)
    found: dict[str, Models] = {}
    for spec in Registry.load().models.values():
        # The store logs each model it builds and each conversion it makes.
        local = store.ensure(spec, demo_size="full", compute_types=COMPUTE_TYPES, exact_size=True)
        ct2 = {c: store.ct2_path(local, c) for c in COMPUTE_TYPES}
        found[spec.name] = Models(spec.name, local.path, local.demo, ct2)
    return found


# -- workload --------------------------------------------------------------------------------


def seed_sentences(limit: int | None = None) -> list[str]:
    """The sentences of every seed article that reach a model, in order, as the service
    segments them (a line of punctuation, like Markdown's `---`, is returned as it is and never
    translated, so it is no model workload)."""
    from newsmt.pipeline.documents import parse

    found: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        doc = parse(path.read_text(encoding="utf-8"), "plain", "en")
        found.extend(unit.text for unit in doc.units if unit.needs_model)
    if not found:
        raise SystemExit(f"no sentences in {SEEDS}/*.txt")
    return found[:limit] if limit else found


def rotated(items: Sequence[Any], r: int) -> list[Any]:
    """`items` started at position r (modulo their count): repeat r's order when setups are
    interleaved, so that none always runs first."""
    k = r % len(items)
    return [*items[k:], *items[:k]]


def cycle(items: Sequence[Any], n: int) -> list[Any]:
    """The first `n` items of `items` repeated."""
    return [items[i % len(items)] for i in range(n)]


# -- statistics ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated between the closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def repeat(n: int, measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(n)]


@contextmanager
def timed(what: str) -> Iterator[None]:
    """Log how long a step took: `with timed("what"): ...`."""
    log.info("%s ...", what)
    began = time.perf_counter()
    yield
    log.info("%s: %.1f s", what, time.perf_counter() - began)


# -- machine ---------------------------------------------------------------------------------


def usable_cpus() -> int:
    from newsmt.server.cpu import usable_cpus as cpus

    return cpus()


def engine_threads() -> int:
    """Threads per engine call in `newsmt serve` with its defaults (`plan_threads`): what the
    raw baseline and the one-call-per-request CTranslate2 peer run with."""
    return engine_plan()[0]


def engine_calls() -> int:
    """Engine calls one model runs at once in `newsmt serve` with its defaults (`plan_threads`):
    how many calls the raw baseline runs in parallel above batch 1."""
    return engine_plan()[1]


def engine_plan() -> tuple[int, int]:
    from newsmt.server.app import plan_threads
    from newsmt.server.settings import Settings

    threads = plan_threads(Settings())
    return threads.intra, threads.inter


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    models = [
        ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")
    ]
    flags = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), "")
    versions = {}
    for package in ("torch", "ctranslate2", "transformers", "grpcio", "tokenizers"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu_model": models[0] if models else platform.processor() or "unknown",
        "simd": "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "none",
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "memory_gib": round(_mem_total_kib() / 1024**2, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "load_average_at_start": list(os.getloadavg()),
    }


def _mem_total_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
