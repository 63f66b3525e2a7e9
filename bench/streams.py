"""(f) Streams: on an idle server (cache off), a 32-sentence article as one `TranslateStream`
vs as one unary `Translate`, and the article's first sentence translated alone. Reported: the
time to the first unit against the first sentence alone, and the stream's total time against
the unary call's. The stream's units joined must equal the unary text. Interleaved, in a
rotating order, repeat after repeat; each ratio is the median of the repeats' own ratios (a
repeat's three steps run back to back), with the ratio of the medians kept beside it. A repeat
takes about 25 s, so (f) runs twice the repeats it is given.

The article is the first 32 sentences of (e)'s sentence pool, four to a paragraph, so that
its sentences have news length and none repeats.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from common import TRANSLATOR, median, rotated, timed
from feed import sentence_pool
from loadgen import newsmt_server, wait_until_loaded

log = logging.getLogger("bench.streams")

SENTENCES = 32

#: (f)'s repeats per repeat of the bench: its steps are short and the machine noisy.
REPEAT_FACTOR = 2


def article() -> tuple[str, str]:
    """The article (paragraphs of four sentences) and its first sentence."""
    pool = sentence_pool()[:SENTENCES]
    paragraphs = [" ".join(pool[k : k + 4]) for k in range(0, len(pool), 4)]
    return "\n\n".join(paragraphs), pool[0]


def run(model_dir: Path, repeats: int, log_dir: Path) -> dict[str, Any]:
    from newsmt.client import Client, StreamDone, TranslatedUnit

    text, first = article()
    times: dict[str, list[float]] = {"first_alone": [], "first_unit": [], "stream": [], "unary": []}
    units: list[int] = []
    mismatches = 0
    with (
        timed("(f) start the server"),
        newsmt_server("newsmt-streams", model_dir, log_dir) as server,
    ):
        wait_until_loaded(server)
        with Client(server.address, timeout=900, retries=0) as client:
            client.translate([first], source="en", target="ru")  # warm-up, not counted

            def alone() -> None:
                began = time.perf_counter()
                client.translate([first], source="en", target="ru")
                times["first_alone"].append(time.perf_counter() - began)

            def unary() -> None:
                began = time.perf_counter()
                [out] = client.translate([text], source="en", target="ru")
                times["unary"].append(time.perf_counter() - began)
                unary_text.append(out.text)

            def stream() -> None:
                began = time.perf_counter()
                first_unit: float | None = None
                pieces: list[str] = []
                done = False
                for event in client.translate_stream([text], source="en", target="ru"):
                    if isinstance(event, TranslatedUnit):
                        if first_unit is None:
                            first_unit = time.perf_counter() - began
                        pieces.append(event.text)
                    elif isinstance(event, StreamDone):
                        done = True
                        units.append(event.units)
                if not done or first_unit is None:
                    raise RuntimeError("the stream ended without StreamDone or without a unit")
                times["stream"].append(time.perf_counter() - began)
                times["first_unit"].append(first_unit)
                stream_text.append("".join(pieces))

            unary_text: list[str] = []
            stream_text: list[str] = []
            steps = [("first sentence alone", alone), ("stream", stream), ("unary", unary)]
            for r in range(repeats * REPEAT_FACTOR):
                for name, step in rotated(steps, r):
                    with timed(f"(f) repeat {r + 1}: {name}"):
                        step()
            mismatches = sum(s != u for s, u in zip(stream_text, unary_text, strict=True))
    first_alone, first_unit = median(times["first_alone"]), median(times["first_unit"])
    stream_s, unary_s = median(times["stream"]), median(times["unary"])
    first_pairs = [u / a for u, a in zip(times["first_unit"], times["first_alone"], strict=True)]
    total_pairs = [s / u for s, u in zip(times["stream"], times["unary"], strict=True)]
    return {
        "model": TRANSLATOR,
        "sentences": SENTENCES,
        "units": units[0],
        "repeats": repeats * REPEAT_FACTOR,
        "first_alone_s": round(first_alone, 3),
        "first_unit_s": round(first_unit, 3),
        "stream_s": round(stream_s, 3),
        "unary_s": round(unary_s, 3),
        "seconds_runs": {k: [round(x, 3) for x in v] for k, v in times.items()},
        #: Each repeat's ratio, and their median: the figures the targets read.
        "first_unit_vs_alone_runs": [round(x, 3) for x in first_pairs],
        "first_unit_vs_alone": round(median(first_pairs), 3),
        "first_unit_vs_alone_of_medians": round(first_unit / first_alone, 3),
        "stream_vs_unary_runs": [round(x, 3) for x in total_pairs],
        "stream_vs_unary": round(median(total_pairs), 3),
        "stream_vs_unary_of_medians": round(stream_s / unary_s, 3),
        "joined_units_differing": mismatches,
    }
