"""(e) A news-feed workload: 40 articles in which about 30% of the sentences, and of the source
tokens, repeat earlier ones (datelines, bylines, a boilerplate line, stories re-sent with one
sentence changed), sent in feed order as `newsmt process` sends them (four `ProcessArticle`
calls in flight; en -> ru, no summaries), to a server with the per-unit cache on (default
`--cache-bytes`) and to one with it off (`--cache-bytes 0`). Every pass gets a fresh server, so
the cache starts cold and both modes start from the same state of a process. The two passes of
a repeat run back to back, in alternating order, and the speed-up is the median over repeats
of each repeat's off / on: a pair measured minutes apart shares the machine's state, where
medians taken separately can come from different stretches of a shared machine's noise.

The sentences are cut from the seed article's words (12-word windows, each checked to segment
as one sentence), so that they have the vocabulary and length of news sentences; which
repeats go where is fixed (no randomness), and the measured shares are reported.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import SEEDS, TRANSLATOR, Models, median, timed
from loadgen import metric_values, newsmt_server, scrape, wait_until_loaded

log = logging.getLogger("bench.feed")

DATELINES = ("WASHINGTON, June 8", "MOSCOW, June 8", "KYIV, June 9", "HAVANA, June 9")
BYLINES = (
    "Reporting by Anna Petrova; editing by Mark Hughes.",
    "Reporting by Luis Ortega; editing by Jane Doe.",
    "Reporting by Ivan Sokolov and Maria Lopez; editing by Tom Brown.",
)
BOILERPLATE = "Our standards are set out in the newsmt wire trust principles."

#: The feed: ARTICLES articles of BODY body sentences, every article with a dateline and a
#: byline, the boilerplate line on every BOILERPLATE_EVERY-th, and RESENT of them re-sent later
#: (a copy of an earlier story, one body sentence replaced).
ARTICLES = 40
BODY = 6
RESENT = 8
BOILERPLATE_EVERY = 2
WINDOW = 12
#: ProcessArticle calls in flight: what `newsmt process` keeps by default (--concurrency).
IN_FLIGHT = 4


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    #: Paragraphs: dateline, body sentences, byline (and boilerplate).
    paragraphs: tuple[str, ...]

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def units(self) -> list[str]:
        return [self.title, *self.paragraphs]


def sentence_pool() -> list[str]:
    """Unique news-like sentences: WINDOW-word windows of the seed articles' words."""
    from newsmt.pipeline.segment import segment

    words: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = re.sub(r"[*#\"“”()]|--+", " ", path.read_text(encoding="utf-8"))
        words.extend(w if w.count(".") > 1 else w.strip(".,;:") for w in text.split())
    words = [w for w in words if w and any(c.isalpha() for c in w)]
    pool: list[str] = []
    for shift in range(0, WINDOW, 2):  # more windows, each offset, if the seeds are short
        for k in range(shift, len(words) - WINDOW + 1, WINDOW):
            window = words[k : k + WINDOW]
            text = " ".join([window[0][:1].upper() + window[0][1:], *window[1:]]) + "."
            pieces = [p.text for p in segment(text, "en") if p.translate]
            if pieces == [text] and text not in pool:
                pool.append(text)
    return pool


def build_feed() -> list[Article]:
    pool = iter(sentence_pool())
    originals = ARTICLES - RESENT
    stories: list[Article] = []
    for a in range(originals):
        tail = [BYLINES[a % len(BYLINES)]]
        if a % BOILERPLATE_EVERY == 0:
            tail.append(BOILERPLATE)
        title = " ".join(next(pool).split()[:8]).rstrip(".")
        body = [next(pool) for _ in range(BODY)]
        # Wire style: the dateline opens the first sentence, so it repeats only as part of it.
        body[0] = f"{DATELINES[a % len(DATELINES)]} - {body[0]}"
        stories.append(Article(f"story-{a:02d}", title, (*body, *tail)))
    feed: list[Article] = []
    # Re-sent stories arrive some time after the original: one after every few originals.
    every = originals // RESENT
    resent = 0
    for a, story in enumerate(stories):
        feed.append(story)
        if (a + 1) % every == 0 and resent < RESENT:
            old = stories[a - every + 1]
            changed = list(old.paragraphs)
            changed[1 + resent % (BODY - 1)] = next(pool)  # one body sentence corrected
            feed.append(Article(f"{old.id}-update", old.title, tuple(changed)))
            resent += 1
    assert len(feed) == ARTICLES, len(feed)
    return feed


def repeat_shares(feed: list[Article], count_tokens: Any) -> dict[str, Any]:
    """Share of units, and of source tokens, that repeat a unit seen earlier in the feed."""
    seen: set[str] = set()
    units = tokens = repeated_units = repeated_tokens = 0
    for article in feed:
        for unit in article.units:
            n = count_tokens(unit)
            units += 1
            tokens += n
            if unit in seen:
                repeated_units += 1
                repeated_tokens += n
            seen.add(unit)
    token_share = repeated_tokens / tokens
    return {
        "articles": len(feed),
        "units": units,
        "source_tokens": tokens,
        "repeated_unit_share": round(repeated_units / units, 3),
        "repeated_token_share": round(token_share, 3),
        "ideal_speedup": round(1 / (1 - token_share), 3),
        "kinds": dict(Counter(kind(u) for a in feed for u in a.units)),
    }


def kind(unit: str) -> str:
    if unit in BYLINES:
        return "byline"
    return "boilerplate" if unit == BOILERPLATE else "title or body"


def cache_counters(metrics_port: int) -> dict[str, float]:
    values = metric_values(scrape(metrics_port))
    return {
        name.removeprefix("newsmt_cache_").removesuffix("_total"): value
        for (name, _), value in values.items()
        if name
        in ("newsmt_cache_hits_total", "newsmt_cache_misses_total", "newsmt_cache_coalesced_total")
    }


def one_pass(address: str, feed: list[Article]) -> tuple[float, dict[str, str]]:
    """Every article, in feed order, as `newsmt process` sends a feed: one ProcessArticle per
    article, IN_FLIGHT at a time. Seconds, and the texts."""
    from newsmt.client import Client

    def one(client: Client, article: Article) -> tuple[str, str]:
        result = client.process_article(
            article.title, article.body, id=article.id, source="en", targets=["ru"]
        )
        if not result.ok:
            raise RuntimeError(f"{article.id}: a stage failed")
        [ru] = result.translations
        return article.id, ru.title + "\n\n" + ru.body

    with Client(address, timeout=900, retries=0) as client:
        client.translate(["Hello."], source="en", target="ru")  # connect, untimed
        began = time.perf_counter()
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            texts = dict(pool.map(lambda a: one(client, a), feed))
        return time.perf_counter() - began, texts


def run(models: dict[str, Models], model_dir: Path, repeats: int, log_dir: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    feed = build_feed()
    tokenizer = AutoTokenizer.from_pretrained(str(models[TRANSLATOR].path))
    shares = repeat_shares(feed, lambda text: len(tokenizer(text).input_ids))
    log.info("(e) feed: %s", {k: v for k, v in shares.items() if k != "kinds"})
    seconds: dict[str, list[float]] = {"off": [], "on": []}
    counters: list[dict[str, float]] = []
    reference: dict[str, str] | None = None
    mismatches = 0
    flags = {"off": (), "on": ("--cache-bytes", str(64 * 2**20))}  # after the bench's own win
    for r in range(repeats):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            name = f"newsmt-feed-cache-{mode}"
            with (
                timed(f"(e) repeat {r + 1}: cache {mode}, {len(feed)} articles"),
                newsmt_server(name, model_dir, log_dir, *flags[mode]) as server,
            ):
                wait_until_loaded(server)
                s, texts = one_pass(server.address, feed)
                if mode == "on":
                    counters.append(cache_counters(server.metrics_port))
            seconds[mode].append(s)
            reference = reference or texts
            mismatches += sum(texts[k] != v for k, v in reference.items())
    pairs = [off / on for off, on in zip(seconds["off"], seconds["on"], strict=True)]
    off_s, on_s = median(seconds["off"]), median(seconds["on"])
    hits = median([c.get("hits", 0.0) for c in counters])
    # Joined a unit another article was translating at the same moment (single flight).
    coalesced = median([c.get("coalesced", 0.0) for c in counters])
    looked_up = hits + coalesced + median([c.get("misses", 0.0) for c in counters])
    return {
        "model": TRANSLATOR,
        "workload": shares,
        "repeats": repeats,
        "cache_off_s": round(off_s, 2),
        "cache_on_s": round(on_s, 2),
        "seconds_runs": {k: [round(x, 2) for x in v] for k, v in seconds.items()},
        "cache_hits": hits,
        "cache_coalesced": coalesced,
        "cache_lookups": looked_up,
        "hit_share": round(hits / looked_up, 3) if looked_up else None,
        #: Each repeat's off / on (its two passes ran back to back), and their median: the
        #: figure the target reads. The ratio of the two medians is kept beside it.
        "speedup_runs": [round(x, 3) for x in pairs],
        "speedup": round(median(pairs), 3),
        "speedup_of_medians": round(off_s / on_s, 3),
        "texts_differing": mismatches,
    }
