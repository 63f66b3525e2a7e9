"""TranslateStream: a request's texts piece by piece, each piece as soon as it and every piece
before it are translated.

The units that need a model are cut into submissions (`stream_groups`). The first goes to the
scheduler alone, so that it is not held behind the whole article or batched with it. As soon as
it is in an engine call (or done: a cache hit), so that nothing can join its call but an
engine's other parallel calls can start on what follows, the rest goes in groups in document
order, up to `STREAM_IN_FLIGHT` at once, ranked in that order, so that the scheduler batches
them as it does a unary request but serves the earlier ones first. The groups run on the
server's shared stage pool; no thread waits for the first unit: its engine call releases the
rest (`_Groups`).

Each piece is rendered from its own units as soon as they are done, and a text's final result
carries no text: the stream has sent it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from newsmt.core.context import RequestContext
from newsmt.core.errors import ServiceUnavailable
from newsmt.pipeline.documents import Unit
from newsmt.pipeline.documents.render import render_piece
from newsmt.pipeline.hops import UnitWork
from newsmt.pipeline.quality import SegmentQuality, aggregate
from newsmt.pipeline.results import Finishing, Prepared, Translated, assemble

#: Units per scheduler submission of a stream, in order (the last size repeats). The first
#: unit goes alone, so that it is not held behind the article; the rest follow in growing
#: groups, so that the early ones come out first without making the late ones many.
STREAM_GROUPS = (1, 2, 4, 8, 16)

#: Submissions of one stream in flight at once after its first unit. Enough that the
#: scheduler plans the rest of an article together, into calls as full as a unary request's;
#: their ranks keep it serving them in document order.
STREAM_IN_FLIGHT = 8


@dataclass(frozen=True)
class StreamedUnit:
    """One piece of a text's translation, as a stream sends it (see `piece_spans`)."""

    segment: int
    index: int
    source_start: int
    source_end: int
    text: str
    cached: bool
    truncated: bool
    #: Its sentence's quality; None where no model ran on it.
    quality: SegmentQuality | None


@dataclass(frozen=True)
class SegmentFinished:
    """Every piece of text `segment` has been sent; its result, without the text."""

    segment: int
    result: Translated


StreamItem = StreamedUnit | SegmentFinished

#: Translates one submission: (its units, the context, its rank, the hook for its first
#: engine call) -> one result per unit.
RunGroup = Callable[
    [list[tuple[int, Unit]], RequestContext, int, Callable[[], None] | None], list[UnitWork]
]


def stream_groups(prepared: Sequence[Prepared]) -> list[list[tuple[int, Unit]]]:
    """The units that need a model in stream order, cut into submissions: sizes from
    `STREAM_GROUPS` (the last repeated), a new group wherever the route changes."""
    groups: list[list[tuple[int, Unit]]] = []
    current: tuple[str, ...] | None = None
    for p, item in enumerate(prepared):
        for unit in item.todo:
            size = STREAM_GROUPS[min(len(groups) - 1, len(STREAM_GROUPS) - 1)] if groups else 0
            if not groups or item.route != current or len(groups[-1]) >= size:
                groups.append([])
                current = item.route
            groups[-1].append((p, unit))
    return groups


def stream(
    prepared: Sequence[Prepared], run: RunGroup, ctx: RequestContext, pool: Executor
) -> Iterator[StreamItem]:
    """For each text in order, its pieces in document order (each as soon as it and every
    piece before it are ready), then its SegmentFinished. Closing the iterator (a cancelled
    stream) submits nothing more; the request's cancellation withdraws what is queued in the
    scheduler, and so does the first unit's failure, so that the stream ends with that error
    at no further engine cost."""
    groups = stream_groups(prepared)
    where = {(p, unit.index): g for g, members in enumerate(groups) for p, unit in members}
    lead, rest = ctx.child(), ctx.child()
    running = _Groups(
        len(groups),
        lambda g, on_engine: run(groups[g], lead if g == 0 else rest, g, on_engine),
        pool,
        on_lead_failure=rest.cancel,
    )
    states = [Finishing.of(item) for item in prepared]
    taken = [False] * len(groups)
    try:
        running.start()
        for p, item in enumerate(prepared):
            state = states[p]
            doc = item.read.doc
            if doc is None or state is None:
                if item.read.text:
                    text = item.read.text
                    yield StreamedUnit(p, 0, 0, len(text), text, False, False, None)
                yield SegmentFinished(p, assemble(item, None))
                continue
            degraded = False
            for k, span in enumerate(item.spans):
                for index in span.needs:
                    g = where.get((p, index))
                    if g is not None and not taken[g]:
                        taken[g] = True
                        for (q, unit), done in zip(groups[g], running.result(g), strict=True):
                            into = states[q]
                            assert into is not None
                            into.add(prepared[q], unit.index, done)
                piece = render_piece(doc, state.outputs, span)
                degraded = degraded or piece.degraded
                quality = state.quality(span.unit)
                work = state.works.get(span.unit) if span.unit is not None else None
                yield StreamedUnit(
                    p,
                    k,
                    span.source_start,
                    span.source_end,
                    piece.text,
                    state.cached(span.unit),
                    work is not None and work.truncated,
                    aggregate([quality]) if quality is not None else None,
                )
            yield SegmentFinished(p, assemble(item, state, streamed_degraded=degraded))
    finally:
        running.close()


class _Groups:
    """A stream's submissions on a shared pool: the first at once; the rest once the first is
    in an engine call (its hook) or done, in order, at most `STREAM_IN_FLIGHT` at a time, each
    started as another ends. No pool thread ever waits for another submission."""

    def __init__(
        self,
        count: int,
        work: Callable[[int, Callable[[], None] | None], list[UnitWork]],
        pool: Executor,
        *,
        on_lead_failure: Callable[[], None],
    ) -> None:
        self._count = count
        self._work = work
        self._pool = pool
        self._on_lead_failure = on_lead_failure
        self._cond = threading.Condition()
        self._results: list[list[UnitWork] | BaseException | None] = [None] * count
        self._next = 1
        self._followers = 0
        self._released = False
        self._closed = False

    def start(self) -> None:
        if self._count:
            with self._cond:
                self._submit_locked(0)

    def _submit_locked(self, g: int) -> None:
        try:
            self._pool.submit(self._task, g)
        except RuntimeError:  # the pool is shut down: the server is stopping
            self._results[g] = ServiceUnavailable("server is shutting down")
            self._cond.notify_all()

    def release(self) -> None:
        """The first submission reached an engine (or ended): the rest may follow."""
        with self._cond:
            self._released = True
            self._fill_locked()

    def _fill_locked(self) -> None:
        while (
            self._released
            and not self._closed
            and self._next < self._count
            and self._followers < STREAM_IN_FLIGHT
        ):
            self._followers += 1
            self._submit_locked(self._next)
            self._next += 1

    def _task(self, g: int) -> None:
        result: list[UnitWork] | BaseException
        try:
            result = self._work(g, self.release if g == 0 else None)
        except BaseException as exc:  # handed to the reader of group g
            result = exc
        if g == 0 and isinstance(result, BaseException):
            self._on_lead_failure()
        with self._cond:
            self._results[g] = result
            if g == 0:
                self._released = True
            else:
                self._followers -= 1
            self._fill_locked()
            self._cond.notify_all()

    def result(self, g: int) -> list[UnitWork]:
        """Group `g`'s results, waited for (its work keeps the request's deadline)."""
        with self._cond:
            self._cond.wait_for(lambda: self._results[g] is not None)
            found = self._results[g]
        if isinstance(found, BaseException):
            raise found
        assert found is not None
        return found

    def close(self) -> None:
        """Submit nothing more (the groups running end with the request's cancellation)."""
        with self._cond:
            self._closed = True
