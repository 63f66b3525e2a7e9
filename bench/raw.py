"""The raw baseline for (b): the service's own engine, in this process, driven as the
batcher drives it.

Batches of B sentences in arrival order; each batch split into engine calls by output bound
with the batcher's own `group_by_bound` (so the baseline follows the scheduler's policy);
each call sorted by length, max_new_tokens = the largest of its per-sentence bounds (the
pipeline's `min(max_length, int(2.0 x input tokens) + 10)`), each output cut to what its own
bound gives it alone (`Engine.content_limit`: one token fewer for opus-mt's forced end token).
No gRPC, no pipeline, no queue, no waiting for company.

Above batch 1, the engine runs as many calls at once as `newsmt serve` does by default
(`--inter-threads`, `common.engine_calls`): each batch of B is divided into that many shares,
as the batcher divides what arrived together among its idle workers, and the calls run from
that many threads, timed by the wall clock. Batch 1 stays one call at a time: the idle
latency the service's C = 1 is held to. So best batch / batch 1 is the engine's whole gain
from concurrency on this machine, batching and parallel calls together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from common import TRANSLATOR, Models, cycle, engine_calls, engine_threads


class RawEngine:
    """The service's engine for `opus-mt-en-ru`, loaded in this process, with the pipeline's
    per-sentence output bounds."""

    def __init__(self, models: Models) -> None:
        from newsmt.engines.base import EngineOptions
        from newsmt.models.factory import create_engine
        from newsmt.models.registry import Registry, resolve_compute_type
        from newsmt.pipeline.config import PipelineConfig

        spec = Registry.load().models[TRANSLATOR]
        self.compute_type = resolve_compute_type(spec, "cpu")
        self.engine = create_engine(
            spec,
            models.path,
            demo=models.demo,
            options=EngineOptions(
                device="cpu", intra_threads=engine_threads(), inter_threads=engine_calls()
            ),
            ct2_path=models.ct2[self.compute_type],
            compute_type=self.compute_type,
        )
        self.config = PipelineConfig()
        self.limit = min(self.config.max_sentence_tokens, self.engine.max_input_tokens)

    def settings(self) -> dict[str, Any]:
        engine: Any = self.engine
        return {
            "engine": engine.kind,
            "compute_type": self.compute_type,
            "intra_threads": engine_threads(),
            "inter_threads": engine_calls(),
            "generation": vars(engine.settings),
            "output_bound": f"min(max_length, int({self.config.output_ratio} x input tokens)"
            f" + {self.config.output_extra})",
        }

    def bound(self, input_tokens: int) -> int:
        """The pipeline's max_new_tokens for one sentence (`hops.output_bound`)."""
        from newsmt.pipeline.hops import output_bound

        return output_bound(input_tokens, self.engine.settings.max_length, self.config)

    def prepare(self, texts: Sequence[str]) -> tuple[list[list[str]], list[int]]:
        from newsmt.pipeline.segment import segment

        rows = []
        for text in texts:
            pieces = [p.text for p in segment(text, "en") if p.translate]
            if pieces != [text]:
                raise SystemExit(f"seed sentence re-segments differently: {text!r}")
            row = self.engine.encode(text)
            if len(row) > self.limit:
                raise SystemExit(f"seed sentence longer than {self.limit} tokens: {text!r}")
            rows.append(row)
        return rows, [self.bound(len(r)) for r in rows]

    def pipeline_text(self, row: Sequence[str], output: Sequence[str]) -> str:
        """What the pipeline returns for one engine output (`hops.read_row`: cut to the row's
        own content limit, a trailing loop cut after its first copy unless the source itself
        ends in one, then decoded)."""
        return self._read(row, output).text

    def loop_cut(self, row: Sequence[str], output: Sequence[str]) -> int:
        """How many tokens the pipeline's cuts remove from this output."""
        return len(output) - len(self._read(row, output).tokens)

    def _read(self, row: Sequence[str], output: Sequence[str]) -> Any:
        from newsmt.pipeline.hops import read_row

        return read_row(self.engine, row, output, self.bound(len(row)))

    def generate(
        self, rows: Sequence[Sequence[str]], bounds: Sequence[int]
    ) -> tuple[list[list[str]], float]:
        """One engine call exactly as the batcher makes it; outputs in the given order."""
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        began = time.perf_counter()
        out = self.engine.generate([rows[i] for i in order], max_new_tokens=max(bounds))
        seconds = time.perf_counter() - began
        results: list[list[str]] = [[] for _ in rows]
        for i, generated in zip(order, out, strict=True):
            results[i] = list(generated.tokens[: self.engine.content_limit(bounds[i])])
        return results, seconds


@dataclass
class RawPass:
    batch: int
    sentences: int
    tokens: int
    seconds: float
    call_seconds: list[float]
    #: Sentence index -> output tokens (from this pass).
    outputs: dict[int, list[str]]
    #: Sentence index -> the max_new_tokens of the engine call it ran in.
    batch_bound: dict[int, int]


def batcher_groups(
    chunk: list[int], rows: list[list[str]], bounds: list[int], budget: int | None = None
) -> list[list[int]]:
    """How the batcher splits one batch into engine calls (by output bound), using its own
    code with the server's default config; with `budget`, each call also within that token
    budget (`plan_calls`, as the server's `--max-batch-tokens`), the rows a call cannot hold
    going to later calls."""
    from newsmt.scheduler.batcher import BatcherConfig, group_by_bound, plan_calls

    items = [SimpleNamespace(i=i, tokens=rows[i], max_new_tokens=bounds[i]) for i in chunk]
    if budget is None:
        groups = group_by_bound(items, BatcherConfig().max_bound_spread)
    else:
        config = BatcherConfig(max_batch_tokens=budget)
        groups = []
        while items:
            calls, items = plan_calls(items, config)
            groups.extend(calls)
    return [[item.i for item in group] for group in groups]


def raw_pass(
    raw: RawEngine,
    rows: list[list[str]],
    bounds: list[int],
    batch: int,
    count: int,
    budget: int | None = None,
) -> RawPass:
    """`count` sentences (cycled) in arrival order, in batches of `batch`, each batch run as
    the batcher runs it: divided into one share per parallel engine call (one at batch 1),
    each share one engine call per group of similar output bounds (with `budget`, each call
    also within that token budget), the calls taken in order by that many threads."""
    workers = 1 if batch == 1 else raw.engine.parallel_calls
    sequence = cycle(range(len(rows)), count)
    share = -(-batch // workers)
    planned: list[list[int]] = []
    for k in range(0, len(sequence), batch):
        chunk = sequence[k : k + batch]
        for s in range(0, len(chunk), share):
            planned.extend(batcher_groups(chunk[s : s + share], rows, bounds, budget))
    calls: list[float] = []
    outputs: dict[int, list[str]] = {}
    batch_bound: dict[int, int] = {}
    lock = threading.Lock()
    pending = iter(planned)

    def work() -> None:
        while True:
            with lock:
                group = next(pending, None)
            if group is None:
                return
            group_bounds = [bounds[i] for i in group]
            out, seconds = raw.generate([rows[i] for i in group], group_bounds)
            with lock:
                calls.append(seconds)
                for i, tokens in zip(group, out, strict=True):
                    outputs[i] = tokens
                    batch_bound[i] = max(group_bounds)

    if workers == 1:
        work()
        elapsed = sum(calls)  # engine time only, as before parallel calls
    else:
        began = time.perf_counter()
        threads = [threading.Thread(target=work) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    tokens = sum(bounds[i] for i in sequence)
    return RawPass(batch, len(sequence), tokens, elapsed, calls, outputs, batch_bound)


def diagnose(
    raw: RawEngine,
    rows: list[list[str]],
    bounds: list[int],
    raw_runs: dict[int, list[RawPass]],
    limit: int = 4,
) -> dict[str, Any]:
    """How a sentence's output changes when it shares an engine call with others (raw side,
    first repeat: batch 16, or the largest batch, vs batch 1), token by token; then, for up
    to `limit` sentences whose beam path changed, a rerun alone with the max_new_tokens of
    the batch they shared (cut to their own bound) separates the two causes: the longer
    length bound, or batch numerics."""
    sizes = [b for b in raw_runs if b > 1]
    if 1 not in raw_runs or not sizes:
        return {}
    batch = 16 if 16 in sizes else max(sizes)
    batched, alone = raw_runs[batch][0], raw_runs[1][0].outputs
    same = extra_token_only = path_changed = same_text = 0
    changed: list[int] = []
    for i, out in sorted(batched.outputs.items()):
        own = alone[i]
        if out == own:
            same += 1
        elif out[: len(own)] == own:
            extra_token_only += 1
        else:
            path_changed += 1
            changed.append(i)
        same_text += raw.pipeline_text(rows[i], out) == raw.pipeline_text(rows[i], own)
    cases = []
    for i in changed[:limit]:
        longer, _ = raw.generate([rows[i]], [batched.batch_bound[i]])
        cases.append(
            {
                "sentence": i,
                "bound": bounds[i],
                "batch_max_new_tokens": batched.batch_bound[i],
                "common_prefix_tokens": _common_prefix(alone[i], batched.outputs[i]),
                "alone_with_batch_bound_equals_batched": longer[0][
                    : raw.engine.content_limit(bounds[i])
                ]
                == batched.outputs[i],
            }
        )
    return {
        "batch": batch,
        "sentences": len(batched.outputs),
        "identical_tokens": same,
        "one_extra_token_only": extra_token_only,
        "beam_path_changed": path_changed,
        "same_pipeline_text": same_text,
        "reruns": cases,
    }


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
