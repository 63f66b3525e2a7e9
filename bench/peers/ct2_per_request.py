#!/usr/bin/env python3
"""LibreTranslate's way: one CTranslate2 `translate_batch` per request, the request's segments
as the batch, calls serialised on one `ctranslate2.Translator` (the same conversion, compute
type and threads as newsmt's engine). SentencePiece pieces in and out through the model's own
tokenizer.

    python bench/peers/ct2_per_request.py --port 50100 --model models/ct2/opus-mt-en-ru-demo-int8 \
        --tokenizer models/demo/opus-mt-en-ru --compute-type int8 --threads 2 --decoding '{"num_beams": 4, ...}'
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import ctranslate2
from peer import decoding, parse, serve
from transformers import AutoTokenizer


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(__doc__.split("\n\n")[0], argv, compute_type=True)
    settings = decoding(args)
    translator = ctranslate2.Translator(
        args.model,
        device="cpu",
        compute_type=args.compute_type,
        intra_threads=args.threads,
        inter_threads=1,
    )
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    special = set(tokenizer.all_special_tokens)

    def translate(texts: Sequence[str]) -> list[str]:
        rows = [tokenizer.convert_ids_to_tokens(tokenizer(t).input_ids) for t in texts]
        # opus-mt forces </s> last; CTranslate2's length does not count it (as newsmt's engine).
        bound = max(settings.bound(len(r)) for r in rows) - 1
        results = translator.translate_batch(
            rows,
            beam_size=settings.num_beams,
            length_penalty=settings.length_penalty,
            repetition_penalty=settings.repetition_penalty,
            no_repeat_ngram_size=settings.no_repeat_ngram_size,
            max_decoding_length=max(1, bound),
            max_input_length=0,
        )
        return [
            tokenizer.convert_tokens_to_string([t for t in r.hypotheses[0] if t not in special])
            for r in results
        ]

    translate(["Hello."])  # warm-up, before the port opens
    serve(translate, args.port, args.workers)


if __name__ == "__main__":
    sys.exit(main())
