#!/usr/bin/env python3
"""EasyNMT's way: transformers `generate` per request on the float32 PyTorch model, the
request's segments as one padded batch, calls serialised (torch intra-op threads: every CPU,
PyTorch's own default and its faster setting here).

    python bench/peers/transformers_per_request.py --port 50101 --model models/demo/opus-mt-en-ru \
        --tokenizer models/demo/opus-mt-en-ru --threads 2 --decoding '{"num_beams": 4, ...}'
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
from peer import decoding, parse, serve
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(__doc__.split("\n\n")[0], argv)
    settings = decoding(args)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, torch_dtype=torch.float32).eval()

    def translate(texts: Sequence[str]) -> list[str]:
        batch = tokenizer(list(texts), return_tensors="pt", padding=True)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        with torch.inference_mode():
            out = model.generate(
                **batch,
                num_beams=settings.num_beams,
                length_penalty=settings.length_penalty,
                repetition_penalty=settings.repetition_penalty,
                no_repeat_ngram_size=settings.no_repeat_ngram_size,
                early_stopping=settings.num_beams > 1,
                do_sample=False,
                max_new_tokens=max(settings.bound(int(n)) for n in lengths),
            )
        return list(tokenizer.batch_decode(out, skip_special_tokens=True))

    translate(["Hello."])  # warm-up, before the port opens
    serve(translate, args.port, args.workers)


if __name__ == "__main__":
    sys.exit(main())
