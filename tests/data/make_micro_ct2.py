"""Write tests/data/micro-ct2/: a one-layer, 8-wide CTranslate2 Transformer with random weights
(about 11 KB), for tests that need real CTranslate2 decoding without building a model (building
one imports torch, which takes seconds). The end token's output bias (1.0) makes some greedy
hypotheses stop early and others reach a 12-token bound. Regenerate with:

    .venv/bin/python tests/data/make_micro_ct2.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ctranslate2.specs import model_spec, transformer_spec

OUT = Path(__file__).with_name("micro-ct2")
VOCAB = ["<blank>", "<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(28)]
DEPTH, FFN = 8, 16


def _shape(name: str) -> tuple[int, ...]:
    parts = name.split("/")
    if parts[-2].startswith("embeddings") or parts[-2] == "projection":
        return (len(VOCAB), DEPTH)
    if "self_attention" in name and parts[-2] == "linear_0":
        return (3 * DEPTH, DEPTH)  # fused queries, keys, values
    if "/attention/" in name and parts[-2] == "linear_1":
        return (2 * DEPTH, DEPTH)  # fused keys, values over the encoder output
    if "ffn" in name and parts[-2] == "linear_0":
        return (FFN, DEPTH)
    if "ffn" in name and parts[-2] == "linear_1":
        return (DEPTH, FFN)
    return (DEPTH, DEPTH)


def main() -> None:
    rng = np.random.default_rng(0)
    spec = transformer_spec.TransformerSpec.from_config(num_layers=1, num_heads=2)

    def fill(layer: object, name: str, value: object) -> None:
        leaf = name.rsplit("/", maxsplit=1)[-1]
        if value is not None:
            return
        if leaf == "gamma":
            setattr(layer, leaf, np.ones(DEPTH, np.float32))
        elif leaf == "beta":
            setattr(layer, leaf, np.zeros(DEPTH, np.float32))
        else:
            setattr(layer, leaf, rng.normal(0, 0.3, _shape(name)).astype(np.float32))

    model_spec.visit_spec(spec, fill)
    bias = np.zeros(len(VOCAB), np.float32)
    bias[VOCAB.index("</s>")] = 1.0
    spec.decoder.projection.bias = bias
    spec.register_source_vocabulary(VOCAB)
    spec.register_target_vocabulary(VOCAB)
    spec.validate()
    spec.optimize(quantization="float32")
    OUT.mkdir(exist_ok=True)
    spec.save(str(OUT))


if __name__ == "__main__":
    main()
