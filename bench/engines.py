"""(a) Engines side by side, in-process: transformers (PyTorch fp32) vs CTranslate2.

Same input tokens for every setup (the opus-mt-en-ru tokenizer on the seed sentences, cycled
to the batch size), and a forced output length, so that every setup does the same work:
transformers `min_new_tokens = max_new_tokens = N`, CTranslate2 `min_decoding_length =
max_decoding_length = N`. The libraries are called directly (not through the Engine classes,
which count the length one short for opus-mt's forced end token), and every run checks that
each row really came back with N new tokens. Repeats are interleaved across setups.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common import SUMMARIZER, TRANSLATOR, Models, cycle, median, timed, usable_cpus

log = logging.getLogger("bench.engines")

#: Runs one measurement; returns the number of new tokens of each output row.
Runner = Callable[[], list[int]]


@dataclass
class Setup:
    key: str
    engine: str
    compute_type: str
    beams: int
    batch: int
    new_tokens: int
    run: Runner
    rows: int
    note: str = ""
    #: Decoding settings beyond beams and lengths (the summarizer's own, on both sides).
    settings: dict[str, Any] = field(default_factory=dict)
    #: The first setup on each loaded model warms that model up (one untimed run).
    warm_up: bool = False
    #: Intra-op threads (0 = every usable CPU, the comparisons' setting).
    threads: int = 0
    #: Engine calls running at once (CTranslate2 inter_threads), the rows divided among them.
    calls: int = 1


def _hf_model(path: Any) -> Any:
    import torch
    from transformers import AutoModelForSeq2SeqLM, GenerationConfig

    model = AutoModelForSeq2SeqLM.from_pretrained(path, dtype=torch.float32).eval()
    # Lengths come with each call; the config's own go back to the defaults (as the engine does).
    model.generation_config.update(max_length=GenerationConfig().max_length, min_length=0)
    return model


def _hf_runner(model: Any, rows: list[list[int]], pad: int, beams: int, new: int) -> Runner:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1

    def run() -> list[int]:
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                num_beams=beams,
                do_sample=False,
                max_new_tokens=new,
                min_new_tokens=new,
            )
        # Column 0 is the decoder start token, which is not generated.
        return [out.shape[1] - 1] * out.shape[0]

    return run


def _ct2_runner(
    translator: Any, rows: list[list[str]], beams: int, new: int, **extra: Any
) -> Runner:
    def run() -> list[int]:
        results = translator.translate_batch(
            rows,
            beam_size=beams,
            min_decoding_length=new,
            max_decoding_length=new,
            max_input_length=0,
            **extra,
        )
        return [len(r.hypotheses[0]) for r in results]

    return run


def _one_by_one(runners: list[Runner]) -> Runner:
    def run() -> list[int]:
        return [n for runner in runners for n in runner()]

    return run


def _at_once(runners: list[Runner]) -> Runner:
    """Each runner in its own thread, all at once (CTranslate2 releases the GIL)."""

    def run() -> list[int]:
        lengths: list[list[int]] = [[] for _ in runners]

        def one(i: int) -> None:
            lengths[i] = runners[i]()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(runners))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [n for part in lengths for n in part]

    return run


def build_setups(models: dict[str, Models], sentences: list[str], quick: bool) -> list[Setup]:
    import ctranslate2
    import torch
    from transformers import AutoTokenizer

    cpus = usable_cpus()
    torch.set_num_threads(cpus)
    new = 8 if quick else 32
    mt = models[TRANSLATOR]
    tokenizer = AutoTokenizer.from_pretrained(mt.path)
    ids = [tokenizer(s)["input_ids"] for s in sentences]
    pieces = [tokenizer.convert_ids_to_tokens(row) for row in ids]
    hf = _hf_model(mt.path)
    ct2 = {
        c: ctranslate2.Translator(
            str(mt.ct2[c]), device="cpu", compute_type=c, intra_threads=cpus, inter_threads=1
        )
        for c in ("int8", "float32")
    }
    setups = []
    for beams, batch in ((1, 16), (4, 16), (4, 32)):
        run = _hf_runner(hf, cycle(ids, batch), tokenizer.pad_token_id, beams, new)
        key = f"transformers-fp32-beam{beams}-b{batch}"
        setups.append(Setup(key, "transformers", "float32", beams, batch, new, run, batch))
    for compute, beams, batch in (
        ("float32", 4, 32),
        ("int8", 4, 16),
        ("int8", 4, 32),
        ("int8", 1, 64),
    ):
        run = _ct2_runner(ct2[compute], cycle(pieces, batch), beams, new)
        key = f"ctranslate2-{compute}-beam{beams}-b{batch}"
        setups.append(Setup(key, "ctranslate2", compute, beams, batch, new, run, batch))
    run = _one_by_one([_ct2_runner(ct2["int8"], [row], 4, new) for row in cycle(pieces, 16)])
    note = "16 sentences, one engine call each"
    setups.append(
        Setup("ctranslate2-int8-beam4-b1", "ctranslate2", "int8", 4, 1, new, run, 16, note)
    )
    setups += _thread_setups(mt, pieces, new, cpus)
    setups += _summarizer_setups(models[SUMMARIZER], sentences, quick, cpus)
    seen: set[tuple[str, str, bool, int]] = set()
    for setup in setups:
        model = (
            setup.engine,
            setup.compute_type,
            setup.key.startswith("summarizer"),
            setup.threads,
        )
        setup.warm_up = model not in seen
        seen.add(model)
    return setups


#: Batch sizes of the threads comparison: a lone sentence, a few, a full call.
THREAD_BATCHES = (1, 4, 16)


def _thread_setups(mt: Models, pieces: list[list[str]], new: int, cpus: int) -> list[Setup]:
    """CTranslate2 int8, beam 4, at the batch sizes the service makes (1 = 16 sentences, one
    call each): one call at a time with one thread, one call at a time with every usable CPU,
    and `cpus` calls at once of one thread each, the rows divided among them (the batcher's
    parallel calls, `--inter-threads`): what the thread defaults are chosen on. Nothing to
    compare on one CPU."""
    import ctranslate2

    if cpus < 2:
        return []

    def translator(threads: int, calls: int) -> Any:
        return ctranslate2.Translator(
            str(mt.ct2["int8"]),
            device="cpu",
            compute_type="int8",
            intra_threads=threads,
            inter_threads=calls,
        )

    plans = {
        (1, 1): translator(1, 1),
        (cpus, 1): translator(cpus, 1),
        (1, cpus): translator(1, cpus),
    }
    setups = []
    for batch in THREAD_BATCHES:
        for (t, calls), model in plans.items():
            if batch == 1:
                singles = [_ct2_runner(model, [r], 4, new) for r in cycle(pieces, 16)]
                shares = [_one_by_one(singles[k::calls]) for k in range(calls)]
                rows, note = 16, "16 sentences, one engine call each"
            else:
                part = -(-batch // calls)
                rows_in = cycle(pieces, batch)
                shares = [
                    _ct2_runner(model, rows_in[k : k + part], 4, new) for k in range(0, batch, part)
                ]
                rows, note = batch, ""
            run = shares[0] if len(shares) == 1 else _at_once(shares)
            key = f"threads-ctranslate2-int8-beam4-b{batch}-t{t}-calls{calls}"
            setups.append(
                Setup(
                    key,
                    "ctranslate2",
                    "int8",
                    4,
                    batch,
                    new,
                    run,
                    rows,
                    note,
                    threads=t,
                    calls=calls,
                )
            )
    return setups


def _summarizer_setups(m: Models, sentences: list[str], quick: bool, cpus: int) -> list[Setup]:
    import ctranslate2
    from transformers import AutoTokenizer

    new, width = (16, 128) if quick else (64, 512)
    tokenizer = AutoTokenizer.from_pretrained(m.path)
    text = " ".join(sentences)
    content: list[int] = []
    while len(content) < width - 2:
        content += tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = [tokenizer.bos_token_id, *content[: width - 2], tokenizer.eos_token_id]
    hf = _hf_model(m.path)
    config = hf.generation_config
    translator = ctranslate2.Translator(
        str(m.ct2["int8"]), device="cpu", compute_type="int8", intra_threads=cpus, inter_threads=1
    )
    # The model's own decoding settings on both sides: beam 4, length penalty, no-repeat 3.
    # BART's forced first token (<s>) is CTranslate2's target prefix and counts as generated.
    settings = {
        "length_penalty": config.length_penalty,
        "no_repeat_ngram_size": config.no_repeat_ngram_size,
    }
    extra = {**settings, "target_prefix": [[tokenizer.bos_token]]}
    note = f"{width} input tokens, batch 1"
    hf_run = _hf_runner(hf, [ids], tokenizer.pad_token_id, 4, new)
    ct2_run = _ct2_runner(translator, [tokenizer.convert_ids_to_tokens(ids)], 4, new, **extra)
    return [
        Setup(
            "summarizer-transformers-fp32",
            "transformers",
            "float32",
            4,
            1,
            new,
            hf_run,
            1,
            note,
            settings,
        ),
        Setup(
            "summarizer-ctranslate2-int8",
            "ctranslate2",
            "int8",
            4,
            1,
            new,
            ct2_run,
            1,
            note,
            settings,
        ),
    ]


def run(
    models: dict[str, Models], sentences: list[str], repeats: int, quick: bool
) -> dict[str, Any]:
    with timed("(a) load engines"):
        setups = build_setups(models, sentences, quick)
    with timed("(a) warm-up: one untimed run on each loaded model"):
        for setup in setups:
            if setup.warm_up:
                _check(setup, setup.run())
    seconds: dict[str, list[float]] = {s.key: [] for s in setups}
    for r in range(repeats):
        with timed(f"(a) repeat {r + 1}/{repeats}"):
            for setup in setups:
                began = time.perf_counter()
                lengths = setup.run()
                seconds[setup.key].append(time.perf_counter() - began)
                _check(setup, lengths)
    table = []
    for s in setups:
        tokens = s.rows * s.new_tokens
        table.append(
            {
                "setup": s.key,
                "engine": s.engine,
                "compute_type": s.compute_type,
                "beams": s.beams,
                "batch": s.batch,
                "new_tokens": s.new_tokens,
                "generated_tokens_per_run": tokens,
                "note": s.note,
                "settings": s.settings,
                "threads": s.threads or usable_cpus(),
                "calls": s.calls,
                "seconds_runs": [round(x, 4) for x in seconds[s.key]],
                "seconds": round(median(seconds[s.key]), 4),
                "tokens_per_s": round(median([tokens / x for x in seconds[s.key]]), 1),
            }
        )
    return {
        "model": TRANSLATOR,
        "summarizer": SUMMARIZER,
        "threads": usable_cpus(),
        "setups": table,
    }


def _check(setup: Setup, lengths: list[int]) -> None:
    """Every row must have come back with exactly the forced number of new tokens."""
    if len(lengths) != setup.rows or any(n != setup.new_tokens for n in lengths):
        raise RuntimeError(
            f"{setup.key}: expected {setup.rows} rows of {setup.new_tokens} new tokens, "
            f"got {lengths}"
        )
