"""Build the engine a registry entry asks for.

It lives with the models, not the engines: it reads a registry entry (`ModelSpec`) and picks
the engine class, so it sits above both.
"""

from __future__ import annotations

from pathlib import Path

from newsmt.engines.base import Engine, EngineOptions
from newsmt.engines.identity import IdentityEngine
from newsmt.models.registry import ModelSpec


def create_engine(
    spec: ModelSpec,
    path: Path | None,
    *,
    demo: bool,
    options: EngineOptions,
    ct2_path: Path | None = None,
    compute_type: str = "int8",
) -> Engine:
    """`path` is the Hugging Face model folder (None only for the identity engine);
    `ct2_path` a CTranslate2 conversion of it, used when the spec says so, or says "auto"
    and the conversion exists."""
    if spec.engine == "identity":
        return IdentityEngine(name=spec.name, demo=True, max_input_tokens=spec.max_input_tokens)
    if path is None:
        raise ValueError(f"{spec.name}: no model files")
    converted = ct2_path is not None and (ct2_path / "model.bin").exists()
    if spec.engine == "ctranslate2" and not converted:
        raise FileNotFoundError(
            f"{spec.name}: engine = ctranslate2 but no {compute_type} conversion; run "
            "`newsmt models convert`"
        )
    if converted and spec.engine in {"auto", "ctranslate2"}:
        from newsmt.engines.ctranslate2_engine import CTranslate2Engine

        assert ct2_path is not None
        return CTranslate2Engine(
            ct2_path,
            tokenizer_path=path,
            name=spec.name,
            demo=demo,
            max_input_tokens=spec.max_input_tokens,
            compute_type=compute_type,
            options=options,
            overrides=spec.generation,
        )
    import torch

    from newsmt.engines.transformers_engine import TransformersEngine

    torch.set_num_threads(max(1, options.intra_threads))
    return TransformersEngine(
        path,
        name=spec.name,
        demo=demo,
        max_input_tokens=spec.max_input_tokens,
        overrides=spec.generation,
        device=options.device,
    )
