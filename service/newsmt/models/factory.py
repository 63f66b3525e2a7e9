"""Build the engine a registry entry asks for.

It lives with the models, not the engines: it reads a registry entry (`ModelSpec`) and picks
the engine class, so it sits above both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from newsmt.engines.base import Engine, EngineOptions
from newsmt.engines.identity import IdentityEngine
from newsmt.models.registry import ModelSpec
from newsmt.models.store import LocalModel, ModelStore


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


def open_engine(
    store: ModelStore,
    spec: ModelSpec,
    local: LocalModel | None,
    *,
    kind: str,
    compute_type: str,
    device: str = "cpu",
    threads: int = 1,
) -> Engine:
    """The engine `kind` ("ctranslate2" or "transformers") on the model at `local` (a
    CTranslate2 conversion is made first where missing), one call at a time on `threads`
    threads: what `newsmt eval` measures. An identity spec gets the identity engine. Its
    decoding settings are the server's: the model's generation config and the registry's
    overrides."""
    options = EngineOptions(device=device, intra_threads=max(1, threads))
    if spec.engine == "identity":
        return create_engine(spec, None, demo=True, options=options)
    if local is None:
        raise ValueError(f"{spec.name}: no model files")
    if kind == "ctranslate2":
        if not store.is_converted(local, compute_type):
            store.convert(local, compute_type)
        return create_engine(
            replace(spec, engine="ctranslate2"),
            local.path,
            demo=local.demo,
            options=options,
            ct2_path=store.ct2_path(local, compute_type),
            compute_type=compute_type,
        )
    return create_engine(
        replace(spec, engine="transformers"), local.path, demo=local.demo, options=options
    )
