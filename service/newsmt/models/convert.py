"""Convert a Hugging Face Marian or BART model into a CTranslate2 model.

    newsmt models convert [NAME...] [--compute-type int8]

With transformers 5, BART configs may lack the legacy `normalize_before` and
`add_final_layer_norm` attributes that CTranslate2's BART loader reads; BART checkpoints
(distilbart included) are post-norm without a final layer norm, so those default to False.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Attributes CTranslate2's BART loader reads that transformers 5 no longer sets.
_BART_LEGACY = {"normalize_before": False, "add_final_layer_norm": False}

#: Quantizations the converter stores; the engine then loads with the same compute type.
QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "float16", "bfloat16", "float32")


def convert(model_dir: Path, out_dir: Path, quantization: str = "int8") -> Path:
    """Convert `model_dir` into `out_dir` (atomically: a half-written model is never left)."""
    from ctranslate2.converters import TransformersConverter
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}")

    class _Converter(TransformersConverter):  # type: ignore[misc]  # ctranslate2 is untyped
        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            if getattr(model.config, "model_type", "") == "bart":
                for key, default in _BART_LEGACY.items():
                    if not hasattr(model.config, key):
                        setattr(model.config, key, default)
            return model

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _Converter(str(model_dir)).convert(
            str(staging / "model"), quantization=quantization, force=True
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        (staging / "model").rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("converted %s -> %s (%s)", model_dir, out_dir, quantization)
    return out_dir
