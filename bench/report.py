"""Targets from the measurements, and docs/PERFORMANCE.md rendered from the results alone."""

from __future__ import annotations

from typing import Any

from common import median


def memory_bound_mib(
    loaded_mib: float, calls: int, batch_tokens: int, kib_per_position: float
) -> float:
    """docs/OPERATIONS.md's sizing formula: what a server needs once loaded, plus every engine
    call's decoding memory at its token budget, plus 10%."""
    return 1.1 * (loaded_mib + calls * batch_tokens * kib_per_position / 1024)


def targets(
    service: dict[str, Any],
    overhead: dict[str, Any],
    documents: dict[str, Any] | None = None,
    peers: dict[str, Any] | None = None,
    feed: dict[str, Any] | None = None,
    streams: dict[str, Any] | None = None,
    decode_memory: dict[str, Any] | None = None,
    http: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Each target: what, the bound, the measured value, met or not."""
    by_c = {row["concurrency"]: row for row in service["service"]}
    c1, c16 = by_c.get(1), by_c.get(16)
    raw_best = service["raw_best"]
    busy = [row for c, row in by_c.items() if c >= 16]
    best_busy = max(busy, key=lambda row: row["tokens_per_s"]) if busy else None
    found: list[dict[str, Any]] = []

    def add(key: str, what: str, bound: str, value: float, met: bool, unit: str = "x") -> None:
        found.append(
            {
                "key": key,
                "target": what,
                "bound": bound,
                "measured": round(value, 3),
                "unit": unit,
                "met": bool(met),
            }
        )

    if best_busy is not None:
        ratio = best_busy["tokens_per_s"] / raw_best["tokens_per_s"]
        add(
            "service_vs_raw",
            f"service tok/s at C={best_busy['concurrency']} (best C >= 16) / raw engine at "
            f"its best batch size ({raw_best['batch']})",
            ">= 0.85",
            ratio,
            ratio >= 0.85,
        )
    if c1 and c16:
        ratio = c16["tokens_per_s"] / c1["tokens_per_s"]
        gain = raw_gain(service, 16)
        if gain is not None:
            batch, raw_ratio = gain
            shares = gain_shares(service, 16, batch)
            share = median(shares) if shares else ratio / raw_ratio
            runs = ", ".join(f"{x:.2f}" for x in shares)
            add(
                "c16_gain_vs_raw_gain",
                f"service gain from concurrency, C=16 / C=1, over the raw engine's own gain from "
                f"batching, best batch B <= 16 ({batch}) / batch 1, each repeat's runs against "
                f"each other ({runs}; from the medians: {ratio:.2f}x / {raw_ratio:.2f}x = "
                f"{ratio / raw_ratio:.2f}): a C=16 load never holds more than 16 sentences",
                ">= 0.9",
                share,
                share >= 0.9,
            )
        raw_p50 = service["raw_batch1_p50_ms"]
        limit = 1.15 * raw_p50 + 3
        add(
            "idle_latency",
            f"idle single-sentence p50 (C=1) vs raw batch-1 p50 ({raw_p50:.0f} ms)",
            f"<= 1.15 x raw + 3 ms = {limit:.0f} ms",
            c1["p50_ms"],
            c1["p50_ms"] <= limit,
            unit="ms",
        )
        spread = c16["p99_ms"] / c16["p50_ms"]
        add("p99_over_p50", "p99 / p50 latency at C=16", "<= 3", spread, spread <= 3)
    if "server_cpu_ms_per_request" in overhead:
        cpu = overhead["server_cpu_ms_per_request"]
        add(
            "cpu_per_request",
            f"server CPU time per one-sentence request, identity engine, C="
            f"{overhead['concurrency']} (user + system, /proc/PID/stat)",
            "<= 2 ms",
            cpu,
            cpu <= 2.0,
            unit=" ms",
        )
        engine_ms = service["raw_batch1_p50_ms"]
        share = 100 * cpu / engine_ms
        add(
            "pipeline_share",
            f"that CPU time / one real-size sentence's engine time (raw batch 1 p50, "
            f"{engine_ms:,.0f} ms, demo model)",
            "<= 2%",
            share,
            share <= 2.0,
            unit="%",
        )
    if "streams" in overhead:
        scaling = overhead["streams"]
        short, long = scaling["sizes"]
        add(
            "stream_scaling",
            f"TranslateStream time per sentence, {long} sentences / {short}, identity engine "
            f"(per repeat {', '.join(f'{x:.2f}' for x in scaling['ratio_runs'])})",
            "<= 1.2",
            scaling["ratio"],
            scaling["ratio"] <= 1.2,
        )
    memory = service.get("memory", {})
    if "server_peak_rss_after_load_tests_mib" in memory and decode_memory is not None:
        flags = service["server_flags"]
        peak = memory["server_peak_rss_after_load_tests_mib"]
        bound_mib = memory_bound_mib(
            memory["server_rss_after_load_mib"],
            flags["inter_threads"],
            flags["max_batch_tokens"],
            decode_memory["median_kib_per_position"],
        )
        add(
            "memory",
            "peak resident memory (VmHWM) after (b)'s load, against RSS after loading + "
            f"--inter-threads ({flags['inter_threads']}) x --max-batch-tokens "
            f"({flags['max_batch_tokens']}) x {decode_memory['median_kib_per_position']} KiB "
            "a position, + 10% (docs/OPERATIONS.md's sizing formula)",
            f"<= {bound_mib:,.0f} MiB",
            peak,
            peak <= bound_mib,
            unit=" MiB",
        )
    alone = [c for c in service["output_check"] if c["concurrency"] == 1]
    match, total = sum(c["match"] for c in alone), sum(c["of"] for c in alone)
    add(
        "output_check",
        "C=1 service text == raw engine output (batch 1, pipeline loop cut), all repeats",
        f"{total}/{total}",
        match,
        match == total,
        unit=f"/{total}",
    )
    if documents is not None and "docx_overhead" in documents:
        add(
            "docx_overhead",
            f"the same article as a DOCX through TranslateDocument ({documents['docx_units']} "
            "sentences) / as plain text through Translate, one request at a time, minus 1",
            "<= 15%",
            100 * documents["docx_overhead"],
            documents["docx_overhead"] <= 0.15,
            unit="%",
        )
    if documents is not None:
        add(
            "markup_overhead",
            f"HTML article / the same text as plain, {documents['sentences']} sentences, "
            "one request at a time, minus 1",
            "<= 10%",
            100 * documents["overhead"],
            documents["overhead"] <= 0.10,
            unit="%",
        )
    if peers is not None:
        for key, name, bound in (
            ("ct2_per_request", "one CTranslate2 call per request (LibreTranslate's way)", 1.8),
            ("transformers_per_request", "transformers generate per request (EasyNMT's way)", 3),
        ):
            value = peers[f"newsmt_vs_{key}"]
            add(
                f"vs_{key}",
                f"newsmt / {name}, sentences/s at C={peers['concurrency']}",
                f">= {bound}",
                value,
                value >= bound,
            )
    if feed is not None:
        add(
            "feed_cache",
            f"news feed ({feed['workload']['articles']} articles, "
            f"{feed['workload']['repeated_token_share']:.0%} of source tokens repeated), "
            f"cache on / off (ideal {feed['workload']['ideal_speedup']:.2f}x)",
            ">= 1.3",
            feed["speedup"],
            feed["speedup"] >= 1.3,
        )
    if streams is not None:
        add(
            "stream_first_unit",
            f"stream, time to the first unit / the first sentence alone "
            f"({streams['sentences']}-sentence article)",
            "<= 2",
            streams["first_unit_vs_alone"],
            streams["first_unit_vs_alone"] <= 2,
        )
        add(
            "stream_total",
            "stream total / unary Translate total, same article",
            "<= 1.1",
            streams["stream_vs_unary"],
            streams["stream_vs_unary"] <= 1.1,
        )
    if http is not None:
        add(
            "http_vs_grpc",
            f"POST /v1/translate / gRPC Translate, requests/s at C={http['concurrency']}, same "
            f"server (identity engine), each repeat's runs against each other "
            f"({', '.join(f'{x:.2f}' for x in http['ratio_runs'])})",
            ">= 0.8",
            http["ratio"],
            http["ratio"] >= 0.8,
        )
    return found


def raw_gain(service: dict[str, Any], most: int) -> tuple[int, float] | None:
    """The raw engine's best batch size up to `most` and its tok/s over batch 1's."""
    raw = {r["batch"]: r for r in service["raw"]}
    if 1 not in raw:
        return None
    best = max((r for b, r in raw.items() if b <= most), key=lambda r: r["tokens_per_s"])
    return best["batch"], best["tokens_per_s"] / raw[1]["tokens_per_s"]


def gain_shares(
    service: dict[str, Any], concurrency: int, batch: int, against: dict[str, Any] | None = None
) -> list[float]:
    """Per repeat: the service's gain (C=`concurrency` / C=1) over the raw engine's (B=`batch`
    / B=1), each from that repeat's own runs. C=1 and B=1 run paired sentence by sentence, and
    C=16 right after B=16, so each repeat's four runs share one stretch of the machine; the
    median of these is steadier than a ratio of medians taken from different stretches. Each
    pair of runs carries the same sentences, so a ratio of sentences/s is one of tok/s.
    `against`: another raw row of batch B to take instead (`raw_budgeted`)."""
    raw = {r["batch"]: r for r in service["raw"]}
    if against is not None:
        raw[batch] = against
    svc = {r["concurrency"]: r for r in service["service"]}
    if not all(k in raw for k in (1, batch)) or not all(k in svc for k in (1, concurrency)):
        return []

    def rates(passes: int, seconds: list[float]) -> list[float]:
        return [passes / s for s in seconds]

    raw1 = rates(raw[1]["sentences_per_pass"], raw[1]["seconds_runs"])
    rawb = rates(raw[batch]["sentences_per_pass"], raw[batch]["seconds_runs"])
    svc1 = [run["requests"] / run["seconds"] for run in svc[1]["runs"]]
    svcc = [run["requests"] / run["seconds"] for run in svc[concurrency]["runs"]]
    return [(c / one) / (b / b1) for one, c, b1, b in zip(svc1, svcc, raw1, rawb, strict=False)]


# -- markdown --------------------------------------------------------------------------------


def _budgeted(b: dict[str, Any]) -> list[str]:
    """What the server's memory budget costs the raw engine at the C=16 target's batch, and
    the service's gain measured against that budget-bound gain (a diagnosis, not a target)."""
    budgeted = b.get("raw_budgeted")
    raw = {r["batch"]: r for r in b["raw"]}
    if not budgeted or budgeted["batch"] not in raw or 1 not in raw:
        return []
    batch = budgeted["batch"]
    free = raw[batch]
    shares = gain_shares(b, batch, batch, budgeted)
    gain = budgeted["tokens_per_s"] / raw[1]["tokens_per_s"]
    left = budgeted["tokens_per_s"] / free["tokens_per_s"]
    return [
        f"The raw rows above ignore the server's memory budget (`--max-batch-tokens` "
        f"{budgeted['budget']}: rows x (longest input + largest bound) per engine call). Under "
        f"it, raw batch {batch} makes {budgeted['calls_per_pass']} engine calls a pass instead "
        f"of {budgeted['unbudgeted_calls_per_pass']}, and **{budgeted['sentences_per_s']:.3f}**"
        f" sentences/s ({', '.join(_num(x, 1) for x in budgeted['seconds_runs'])} s): "
        f"{left:.2f}x batch {batch} without it, a "
        f"gain over batch 1 of {gain:.2f}x. The service's C={batch} / C=1 gain over that "
        f"budget-bound gain, each repeat's runs against each other: "
        + (", ".join(f"{x:.2f}" for x in shares) if shares else "n/a")
        + (f" (median **{median(shares):.2f}**)" if shares else "")
        + f". So the C={batch} target's share is the product of two factors: what the "
        f"memory budget leaves of the raw engine's gain ({left:.2f}), and what the scheduling "
        "reaches of the budget-bound gain (the figures just given).",
        "",
    ]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return [*lines, ""]


def _opt(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else fmt.format(x)


def _num(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    load = " / ".join(f"{x:.2f}" for x in m["load_average_at_start"])
    s = results["settings"]
    out = [
        "# Performance",
        "",
        "<!-- Generated by bench/run.py: edit the bench, not this file. -->",
        "",
        "Throughput and latency of newsmt's engines and of the service end to end, measured on "
        "**demo models**: the real architectures and tokenizers (opus-mt Marian en-ru, "
        "distilbart-cnn-12-6) with random weights. Random weights never emit `</s>`, so every "
        "generation runs to its length bound: the engine comparisons force the same output "
        "length on every setup, and the service runs each sentence to the pipeline's bound "
        f"`{results['service']['engine_settings']['output_bound']}`. The translations are "
        "meaningless text. **tok/s** is generated target tokens per second of wall time "
        "(decoding steps x rows; beam search's extra hypotheses are not counted). Every figure "
        "is the median of the repeats; the machine is shared, so repeats of different setups "
        "are interleaved and only ratios from the same run are compared.",
        "",
        f"Regenerated with `{results['command']}` at {results['timestamp']} "
        f"({_num(results['duration_s'] / 60)} min; {s['repeats']} repeat(s)"
        f"{', QUICK run: smaller workload, not for comparison' if s['quick'] else ''}).",
        "",
        f"**Machine:** {m['cpu_model']}, {m['usable_cpus']} usable CPUs"
        f" ({m['simd']}), {m['memory_gib']} GiB; Python {m['python']}; "
        f"{versions}; load average at start {load}.",
        "",
    ]
    out += _engines(results["engines"])
    out += _service(results["service"])
    out += _overhead(results["overhead"])
    if "peers" in results:
        out += _peers(results["peers"])
    if "feed" in results:
        out += _feed(results["feed"])
    if "streams" in results:
        out += _streams(results["streams"])
    if "documents" in results:
        out += _documents(results["documents"])
    if "http" in results:
        out += _http(results["http"])
    out += _memory(results["service"]["memory"])
    out += ["## Targets", ""]
    out += _table(
        ["target", "bound", "measured", "met?"],
        [
            [t["target"], t["bound"], _measured(t), "yes" if t["met"] else "**no**"]
            for t in results["targets"]
        ],
    )
    return "\n".join(out).rstrip() + "\n"


def _documents(d: dict[str, Any]) -> list[str]:
    out = [
        "## (g) Markup overhead",
        "",
        f"The seed article ({d['sentences']} sentences) through the server on the demo "
        f"{d['model']} model, as plain text and as HTML with {d['tags']} tags (a `<p>` per "
        "paragraph, a `<b>` and a link in each), the same sentences for the model; one request "
        "at a time, interleaved, median of the repeats. HTML adds the parse, the alignment "
        "(CTranslate2's attention), the tag projection and the rendering.",
        "",
    ]
    rows = [
        ["plain", _num(d["plain_s"], 2), "1.00x"],
        ["HTML", _num(d["html_s"], 2), f"{d['html_s'] / d['plain_s']:.2f}x"],
    ]
    if "docx_s" in d:
        rows.append(
            [
                "DOCX (TranslateDocument)",
                _num(d["docx_s"], 2),
                f"{d['docx_s'] / d['plain_s']:.2f}x",
            ]
        )
    out += _table(["format", "seconds", "vs plain"], rows)
    if "docx_s" in d:
        out += [
            "The DOCX is made with python-docx: a paragraph each, its first word a bold run and "
            "its last an italic one; it adds the zip and XML parts read and written.",
            "",
        ]
    return out


def _http(d: dict[str, Any]) -> list[str]:
    g, h = d["grpc"], d["http"]
    out = [
        "## (h) HTTP vs gRPC",
        "",
        f"One `newsmt serve` (every model on the identity engine), the same one-sentence "
        f"translation (`{d['text']}`) at C={d['concurrency']}, {d['requests']} requests per "
        "run, the two protocols interleaved: gRPC `Translate` "
        f"({d['clients']['grpc']}) and `POST /v1/translate` with a JSON body "
        f"({d['clients']['http']}). Both run the same call pipeline and translation pipeline; HTTP "
        "adds uvicorn, Starlette, the proto3 JSON mapping and a hop to a worker thread.",
        "",
    ]
    out += _table(
        ["protocol", "requests/s", "p50 ms", "p99 ms"],
        [
            [
                "gRPC",
                f"**{_num(g['requests_per_s'])}**",
                _num(g["p50_ms"], 2),
                _num(g["p99_ms"], 2),
            ],
            [
                "HTTP/JSON",
                f"**{_num(h['requests_per_s'])}**",
                _num(h["p50_ms"], 2),
                _num(h["p99_ms"], 2),
            ],
        ],
    )
    out += [
        f"HTTP / gRPC = **{d['ratio']:.2f}x** (median of the repeats' own ratios: "
        f"{', '.join(f'{x:.2f}' for x in d['ratio_runs'])}).",
        "",
    ]
    return out


def _peers(d: dict[str, Any]) -> list[str]:
    g = d["decoding"]
    names = {
        "newsmt": "newsmt (`newsmt serve`, defaults, `--cache-bytes 0`)",
        "ct2_per_request": "one `translate_batch` per request, CTranslate2 int8 "
        "(`bench/peers/ct2_per_request.py`)",
        "transformers_per_request": "one `generate` per request, transformers float32 "
        "(`bench/peers/transformers_per_request.py`)",
    }
    out = [
        "## (d) Peer serving styles",
        "",
        f"The same C={d['concurrency']} workload as (b) ({d['requests']} one-sentence "
        "`Translate` requests en->ru, closed loop) against three servers of the same model, "
        "interleaved in a rotating order: newsmt; LibreTranslate's way, one CTranslate2 "
        "`translate_batch` per request on the same int8 conversion and engine threads "
        f"({_peer_threads(d, 'ct2_per_request')} per call; one thread is also the faster "
        "setting for a lone call here, see (a)), calls serialised; EasyNMT's way, one "
        "transformers `generate` per request on the float32 model, calls serialised, on "
        f"{_peer_threads(d, 'transformers_per_request')} threads (PyTorch's default: every "
        "CPU). The peers decode with "
        f"newsmt's settings (beam {g['num_beams']}, length penalty {g['length_penalty']}) and "
        f"its per-sentence bound (min({g['max_length']}, int({g['output_ratio']} x input "
        f"tokens) + {g['output_extra']})), so all three do the same work per sentence; only the "
        "way requests meet the engine differs. newsmt's texts are shorter: the pipeline cuts "
        "the loops random weights produce, after decoding.",
        "",
    ]
    out += _table(
        ["server", "sentences/s", "p50 ms", "p90 ms", "output chars (mean)", "newsmt / it"],
        [
            [
                names[name],
                f"**{row['sentences_per_s']:.3f}**",
                f"{row['p50_ms']:,.0f}",
                f"{row['p90_ms']:,.0f}",
                _num(row["output_chars_mean"]),
                "1.00x" if name == "newsmt" else f"{d[f'newsmt_vs_{name}']:.2f}x",
            ]
            for name, row in d["servers"].items()
        ],
    )
    return out


def _feed(d: dict[str, Any]) -> list[str]:
    w = d["workload"]
    kinds = ", ".join(f"{v} {k}" for k, v in w["kinds"].items())
    out = [
        "## (e) A news feed, cache on and off",
        "",
        f"{w['articles']} articles ({w['units']} units: {kinds}), sent in feed order as "
        "`newsmt process` sends them, four `ProcessArticle` calls in flight (en->ru, no "
        "summaries). Repeats of an earlier unit: "
        f"**{w['repeated_unit_share']:.1%}** of the units and "
        f"**{w['repeated_token_share']:.1%}** of the {w['source_tokens']:,} source tokens "
        "(bylines, a boilerplate line, stories re-sent with one sentence changed), so the ideal "
        f"speed-up is 1 / (1 - {w['repeated_token_share']:.3f}) = {w['ideal_speedup']:.2f}x. "
        "Cache on: the default `--cache-bytes`; off: `--cache-bytes 0`; a fresh server for "
        "every pass (so a cold cache), the two passes of a repeat back to back in alternating "
        f"order. Units answered from the cache (server metrics): "
        f"{d['cache_hits']:,.0f} of {d['cache_lookups']:,.0f} looked up"
        f"{_coalesced(d)}. Texts differing "
        f"between on and off: {d['texts_differing']} (demo models' outputs depend on which "
        "sentences share an engine call, see (b); cached and uncached output are tested equal "
        "on the identity engine).",
        "",
    ]
    out += _table(
        ["cache", "seconds", "runs (s)"],
        [
            [
                "off",
                f"**{_num(d['cache_off_s'], 1)}**",
                ", ".join(_num(x, 1) for x in d["seconds_runs"]["off"]),
            ],
            [
                "on",
                f"**{_num(d['cache_on_s'], 1)}**",
                ", ".join(_num(x, 1) for x in d["seconds_runs"]["on"]),
            ],
        ],
    )
    pairs = ", ".join(f"{x:.2f}x" for x in d.get("speedup_runs", []))
    out += [
        f"Off / on, the median of each repeat's pair ({pairs}) = **{d['speedup']:.2f}x**; the "
        f"ratio of the two medians is {d.get('speedup_of_medians', d['speedup']):.2f}x.",
        "",
    ]
    return out


def _coalesced(d: dict[str, Any]) -> str:
    """The feed's units that joined another article's unit in flight, where counted."""
    n = d.get("cache_coalesced")
    return "" if n is None else f", and {n:,.0f} joined the same unit in flight for another article"


def _streams(d: dict[str, Any]) -> list[str]:
    out = [
        "## (f) Streams",
        "",
        f"An idle server (cache off), a {d['sentences']}-sentence article ({d['units']} units) "
        "as one `TranslateStream` and as one unary `Translate`, and its first sentence alone, "
        "interleaved in a rotating order. Runs whose joined units differ from the unary text: "
        f"{d['joined_units_differing']} of {d['repeats']} (the stream sends its first unit to "
        "the engine alone, and demo models' outputs depend on which sentences share an engine "
        "call, see (b); the exact equality is tested on the identity engine and the tiny "
        "models).",
        "",
    ]
    out += _table(
        ["measure", "seconds", "runs (s)"],
        [
            [label, f"**{_num(d[key], 2)}**", ", ".join(_num(x, 2) for x in d["seconds_runs"][k])]
            for label, key, k in (
                ("first sentence alone, unary", "first_alone_s", "first_alone"),
                ("stream: time to the first unit", "first_unit_s", "first_unit"),
                ("stream: total", "stream_s", "stream"),
                ("whole article, unary", "unary_s", "unary"),
            )
        ],
    )
    out += [
        f"First unit / first sentence alone = **{d['first_unit_vs_alone']:.2f}x**; "
        f"stream / unary = **{d['stream_vs_unary']:.2f}x**. {_paired(d, 'first_unit_vs_alone')} "
        f"{_paired(d, 'stream_vs_unary')}",
        "",
    ]
    return out


def _paired(d: dict[str, Any], key: str) -> str:
    """How a paired figure was made: the repeats' own ratios, and the ratio of the medians."""
    runs = d.get(f"{key}_runs")
    if runs is None:  # an older result, a ratio of medians
        return ""
    return (
        f"`{key}` is the median of each repeat's ratio ({', '.join(f'{x:.2f}' for x in runs)}); "
        f"the ratio of the medians is {d[f'{key}_of_medians']:.2f}x."
    )


def _measured(t: dict[str, Any]) -> str:
    if t["unit"] == "x":
        return f"{t['measured']:.2f}x"
    if t["unit"] == "%":
        return f"{t['measured']:+.1f}%"
    if t["unit"] == "ms":
        return f"{t['measured']:,.0f} ms"
    return f"{t['measured']:,.0f}{t['unit']}"


def _engines(a: dict[str, Any]) -> list[str]:
    rows = {r["setup"]: r for r in a["setups"]}
    mt = [r for r in a["setups"] if not r["setup"].startswith(("summarizer", "threads-"))]
    threads = [r for r in a["setups"] if r["setup"].startswith("threads-")]
    sm = [r for r in a["setups"] if r["setup"].startswith("summarizer")]
    new = mt[0]["new_tokens"]
    out = [
        "## (a) Engines side by side",
        "",
        f"In-process, {a['model']} shape, the same input tokens (the seed sentences, cycled to "
        f"the batch size) and exactly {new} new tokens per row on every setup (checked on every "
        f"run); {a['threads']} intra-op threads, 1 inter-op. transformers: PyTorch fp32 "
        "`generate`; CTranslate2: `translate_batch` on the int8 or float32 conversion.",
        "",
    ]
    out += _table(
        ["setup", "precision", "beams", "batch", "tok/s", "s per run", "runs (s)"],
        [
            [
                r["engine"] + (f" ({r['note']})" if r["note"] else ""),
                r["compute_type"],
                r["beams"],
                r["batch"],
                f"**{_num(r['tokens_per_s'])}**",
                _num(r["seconds"], 3),
                ", ".join(_num(x, 2) for x in r["seconds_runs"]),
            ]
            for r in mt
        ],
    )
    hf, ct = rows.get("transformers-fp32-beam4-b32"), rows.get("ctranslate2-int8-beam4-b32")
    if hf and ct:
        out += [
            f"CTranslate2 int8 vs transformers fp32 at beam 4, batch 32: "
            f"**{ct['tokens_per_s'] / hf['tokens_per_s']:.1f}x** the tokens per second.",
            "",
        ]
    out += _threads(threads)
    if len(sm) == 2:
        hf_s, ct_s = sm
        out += [
            f"**Summarizer** ({a['summarizer']} shape, {hf_s['note']}, {hf_s['new_tokens']} "
            f"new tokens forced, beam {hf_s['beams']}, the model's length penalty "
            f"{hf_s['settings']['length_penalty']} and no-repeat n-gram size "
            f"{hf_s['settings']['no_repeat_ngram_size']}):",
            "",
        ]
        out += _table(
            ["engine", "precision", "seconds per summary", "runs (s)"],
            [
                [
                    r["engine"],
                    r["compute_type"],
                    f"**{_num(r['seconds'], 2)}**",
                    ", ".join(_num(x, 2) for x in r["seconds_runs"]),
                ]
                for r in sm
            ],
        )
        out += [
            f"CTranslate2 int8 is **{hf_s['seconds'] / ct_s['seconds']:.1f}x** faster "
            f"({ct_s['seconds'] / hf_s['seconds']:.2f}x the time).",
            "",
        ]
    return out


def _peer_threads(d: dict[str, Any], peer: str) -> Any:
    """A peer's threads: one count per peer; older results have one for both."""
    threads = d["threads"]
    return threads[peer] if isinstance(threads, dict) else threads


def _threads(setups: list[dict[str, Any]]) -> list[str]:
    """The threads comparison of (a): one call of one thread, one call of every CPU, and
    several single-thread calls at once."""
    if not setups:
        return []
    by = {(r["batch"], r["threads"], r.get("calls", 1)): r for r in setups}
    most = max(r["threads"] for r in setups)
    calls = max(r.get("calls", 1) for r in setups)
    out = [
        f"**Threads per engine call, and calls at once** (CTranslate2 int8, beam 4, "
        f"{setups[0]['new_tokens']} new tokens; batch 1 is 16 sentences, one call each): what "
        "`--intra-threads 0` and `--inter-threads 0` are chosen on. One call of one thread, one "
        f"call of {most} threads, and {calls} calls of one thread each at once, the batch's "
        "rows divided among them (what the batcher does with `--inter-threads` "
        f"{calls}, on one copy of the weights).",
        "",
    ]
    rows = []
    for batch in sorted({r["batch"] for r in setups}):
        one, all_ = by.get((batch, 1, 1)), by.get((batch, most, 1))
        if one is None or all_ is None:
            continue
        parallel = by.get((batch, 1, calls)) if calls > 1 else None
        runs = [one, all_] + ([parallel] if parallel else [])
        rows.append(
            [
                batch,
                f"**{_num(one['tokens_per_s'])}**",
                f"**{_num(all_['tokens_per_s'])}**",
                f"**{_num(parallel['tokens_per_s'])}**" if parallel else "-",
                f"{one['tokens_per_s'] / all_['tokens_per_s']:.2f}x",
                f"{parallel['tokens_per_s'] / one['tokens_per_s']:.2f}x" if parallel else "-",
                " / ".join(", ".join(_num(x, 2) for x in r["seconds_runs"]) for r in runs),
            ]
        )
    out += _table(
        [
            "batch",
            "tok/s, 1 call x 1 thread",
            f"tok/s, 1 call x {most} threads",
            f"tok/s, {calls} calls x 1 thread",
            f"1 thread / {most} threads",
            f"{calls} calls / 1 call",
            "runs (s)",
        ],
        rows,
    )
    return out


def _service(b: dict[str, Any]) -> list[str]:
    g = b["engine_settings"]["generation"]
    flags = b["server_flags"]
    plan = b["plan"]
    tokens = b["input_tokens"]
    engines = sorted({m["engine"] for m in b["server_models"]})
    loaded = f"ListModels: {len(b['server_models'])} models loaded on {', '.join(engines)}"
    flag_text = ", ".join(
        f"`--{k.replace('_', '-')} {v}`" for k, v in flags.items() if k != "non_default"
    )
    out = [
        "## (b) The service end to end vs the raw engine",
        "",
        f"`newsmt serve` as a subprocess ({loaded}; compute type "
        f"{b['engine_settings']['compute_type']}); "
        f"defaults: {flag_text}; the flags set are `--metrics-port`, on a free port, and "
        "`--cache-bytes 0`: the workload repeats its sentences, and what is measured is the "
        "models being served, not the per-unit cache. "
        f"Workload: {b['sentences']} seed sentences ({min(tokens)}-{max(tokens)} input tokens, "
        f"bounds {min(b['output_bounds'])}-{max(b['output_bounds'])} tokens), one per "
        f"`Translate` request (en->ru, source given), from C client threads, "
        f"{plan['clients']}, after one warm-up request per thread. Decoding: beam "
        f"{g['num_beams']}, length penalty {g['length_penalty']}, the pipeline's output bound "
        "per sentence.",
        "",
        "Raw baseline: the server's own engine (`create_engine`, same compute type, threads and "
        "settings) in the bench process, driven as the batcher drives it: the sentence sequence "
        "of the load run at C = B, in batches of B in arrival order, each batch split into "
        "engine calls by output bound with the batcher's own grouping (`group_by_bound`), each "
        "call sorted by length with max_new_tokens = the call's largest bound and every output "
        "cut to its own bound. Batch 1 is paired with C=1 sentence by sentence (a raw call, "
        "then the same sentence as a request to the idle server).",
        "",
    ]
    out += _table(
        ["raw batch", "sentences per pass", "sentences/s", "tok/s", "runs (s)"],
        [
            [
                r["batch"],
                r["sentences_per_pass"],
                f"**{r['sentences_per_s']:.3f}**",
                _num(r["tokens_per_s"]),
                ", ".join(_num(x, 1) for x in r["seconds_runs"]),
            ]
            for r in b["raw"]
        ],
    )
    raw = {r["batch"]: r for r in b["raw"]}
    best = b["raw_best"]
    out += [
        f"Raw batch-1 latency (one sentence per call): p50 **{b['raw_batch1_p50_ms']:,.0f} ms**,"
        f" p90 {b['raw_batch1_p90_ms']:,.0f} ms. The raw engine's own gain from batching: best "
        f"batch ({best['batch']}) / batch 1 = "
        f"**{best['tokens_per_s'] / raw[1]['tokens_per_s']:.2f}x**"
        + (
            f", batch 16 / batch 1 = {raw[16]['tokens_per_s'] / raw[1]['tokens_per_s']:.2f}x"
            if 16 in raw
            else ""
        )
        + " tok/s. That is the ceiling for what the service can gain from concurrency."
        + (
            f" Above batch 1 the raw engine runs {b['engine_settings']['inter_threads']} calls "
            "at once, each batch divided among them, as the server does with its default "
            "`--inter-threads`; batch 1 is one call at a time, the idle latency C=1 is held to."
            if b["engine_settings"].get("inter_threads", 1) > 1
            else ""
        ),
        "",
        *_budgeted(b),
    ]
    out += _table(
        [
            "C",
            "requests",
            "sentences/s",
            "tok/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "errors",
            "rows per engine call",
            "engine busy",
        ],
        [
            [
                r["concurrency"],
                r["requests"],
                f"**{r['sentences_per_s']:.3f}**",
                _num(r["tokens_per_s"]),
                f"{r['p50_ms']:,.0f}",
                f"{r['p90_ms']:,.0f}",
                f"{r['p99_ms']:,.0f}",
                r["errors"],
                _opt(r.get("server_batch_rows_mean"), "{:.1f}"),
                _opt(r.get("server_engine_busy"), "{:.0%}"),
            ]
            for r in b["service"]
        ],
    )
    out += [
        "tok/s counts each sentence's bound (random weights always reach it). With so few "
        "requests per run, p99 is close to the slowest request. The last two columns come from "
        "the server's own metrics over each run: mean rows per engine call, and the share of "
        "the run's wall time its engine was busy.",
        "",
    ]
    out += _output_check(b)
    return out


def _output_check(b: dict[str, Any]) -> list[str]:
    ref = b["reference"]
    out = [
        "### Output check",
        "",
        f"Reference per sentence: {ref['what']}. The pipeline cuts a trailing loop after its "
        f"first copy; random weights loop, so it shortened {ref['loop_cut_sentences']} of "
        f"{b['sentences']} reference outputs (mean {ref['tokens_generated_mean']} tokens "
        f"generated, {ref['tokens_kept_mean']} kept).",
        "",
    ]
    by_c: dict[int, list[str]] = {}
    for c in b["output_check"]:
        by_c.setdefault(c["concurrency"], []).append(f"{c['match']}/{c['of']}")
    out += _table(
        ["C", "service text == reference (each repeat)"],
        [[c, ", ".join(v)] for c, v in by_c.items()],
    )
    d = b["batching_diagnosis"]
    if d:
        reruns = d["reruns"]
        bound_only = sum(1 for r in reruns if r["alone_with_batch_bound_equals_batched"])
        out += [
            f"Why outputs change once a sentence shares an engine call (raw side, batch "
            f"{d['batch']} vs batch 1, the {d['sentences']} distinct sentences): tokens "
            f"identical for {d['identical_tokens']}, one extra final token only for "
            f"{d['one_extra_token_only']}, beam path changed for {d['beam_path_changed']}; "
            f"text after the pipeline's cut identical for {d['same_pipeline_text']}. An engine "
            "call decodes every row to the call's largest bound and the batcher then cuts each "
            "row to what its own bound gives it alone (`Engine.content_limit`, one token short "
            "of the bound for opus-mt's forced end token), but beam search run longer can keep "
            "a different best hypothesis. Rerun alone with the call's "
            f"max_new_tokens, {bound_only} of {len(reruns)} changed sentences reproduce their "
            "batched output exactly"
            + (
                ": the length bound alone explains them."
                if bound_only == len(reruns)
                else f"; the other {len(reruns) - bound_only} differ even then (batch numerics: "
                "padding and batch shape change int8 results slightly, and random weights leave "
                "near-ties between beams)."
            ),
            "",
        ]
    return out


def _overhead(c: dict[str, Any]) -> list[str]:
    a, e = c["newsmt_identity"], c["grpc_echo"]
    out = [
        "## (c) Serving overhead",
        "",
        f"Same client workload against both servers, interleaved: C={c['concurrency']} threads "
        f"({c['clients']}), {c['requests']} one-segment `Translate` requests per run "
        f'(`{c["text"]}`). A: `newsmt serve --registry <every model engine = "identity">` '
        "(validation, interceptors, admission, segmentation, the batcher with its queue delay, "
        "the identity engine). B: `bench/echo_server.py`, a bare grpcio server returning each "
        f"segment unchanged, with the same thread pool ({c['grpc_workers']} workers).",
        "",
    ]
    out += _table(
        ["server", "requests/s", "p50 ms", "p99 ms"],
        [
            [
                "A: newsmt, identity engine",
                f"**{_num(a['requests_per_s'])}**",
                _num(a["p50_ms"], 2),
                _num(a["p99_ms"], 2),
            ],
            [
                "B: bare gRPC echo",
                f"**{_num(e['requests_per_s'])}**",
                _num(e["p50_ms"], 2),
                _num(e["p99_ms"], 2),
            ],
        ],
    )
    out += [f"A / B = **{c['ratio']:.2f}x**.", ""]
    if "server_cpu_ms_per_request" in c:
        runs = ", ".join(f"{x:.2f}" for x in c["server_cpu_ms_per_request_runs"])
        out += [
            f"A's own CPU time per request (user + system, from /proc/PID/stat around each "
            f"run): **{c['server_cpu_ms_per_request']:.2f} ms** (runs: {runs}). Against the "
            "echo server A does real work (validation, admission, parsing, the batcher, quality "
            "signals, logs and metrics) and is bound by one core's Python; this is the figure "
            "to size CPU by.",
            "",
        ]
    if "streams" in c:
        st = c["streams"]
        out += [
            "TranslateStream on A, the feed's news sentences four to a segment, interleaved, "
            "the first round not counted:",
            "",
            *_table(
                ["sentences", "ms per sentence (median)"],
                [[str(n), _num(st["ms_per_sentence"][str(n)], 3)] for n in st["sizes"]],
            ),
            f"{st['sizes'][1]} / {st['sizes'][0]} = **{st['ratio']:.2f}x** per sentence "
            f"(per repeat: {', '.join(f'{x:.2f}' for x in st['ratio_runs'])}).",
            "",
        ]
    return out


def _memory(mem: dict[str, Any]) -> list[str]:
    return [
        "## Memory",
        "",
        "`newsmt serve` with all five models loaded (CTranslate2 int8), from /proc/PID/status:",
        "",
        *_table(
            ["when", "peak RSS (VmHWM)", "RSS"],
            [
                [
                    "after loading",
                    f"{mem['server_peak_rss_after_load_mib']:,.0f} MiB",
                    f"{mem['server_rss_after_load_mib']:,.0f} MiB",
                ],
                [
                    "after the load tests",
                    f"{mem['server_peak_rss_after_load_tests_mib']:,.0f} MiB",
                    f"{mem['server_rss_after_load_tests_mib']:,.0f} MiB",
                ],
            ],
        ),
    ]
