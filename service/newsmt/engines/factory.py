"""Build the engine a registry entry asks for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsmt.engines.base import Engine
from newsmt.engines.identity import IdentityEngine
from newsmt.models.registry import ModelSpec


@dataclass(frozen=True)
class EngineOptions:
    device: str = "cpu"
    #: Threads one engine call may use (torch intra-op threads, CTranslate2 intra_threads).
    intra_threads: int = 1
    #: Engine calls one model may run at once (CTranslate2 inter_threads).
    inter_threads: int = 1


def create_engine(
    spec: ModelSpec,
    path: Path | None,
    *,
    demo: bool,
    options: EngineOptions,
    ct2_path: Path | None = None,
) -> Engine:
    """`path` is the Hugging Face model folder (None only for the identity engine);
    `ct2_path` a CTranslate2 conversion of it, used when the spec says so or says "auto"."""
    common = {"name": spec.name, "max_input_tokens": spec.max_input_tokens}
    if spec.engine == "identity":
        return IdentityEngine(demo=True, **common)  # type: ignore[arg-type]
    if path is None:
        raise ValueError(f"{spec.name}: no model files")
    use_ct2 = spec.engine == "ctranslate2" or (
        spec.engine == "auto" and ct2_path is not None and (ct2_path / "model.bin").exists()
    )
    if use_ct2:
        if ct2_path is None or not (ct2_path / "model.bin").exists():
            raise FileNotFoundError(
                f"{spec.name}: engine = ctranslate2 but no converted model; run "
                "`newsmt models convert`"
            )
        from newsmt.engines.ctranslate2_engine import CTranslate2Engine

        return CTranslate2Engine(
            ct2_path,
            tokenizer_path=path,
            demo=demo,
            overrides=spec.generation,
            options=options,
            **common,
        )
    import torch

    from newsmt.engines.transformers_engine import TransformersEngine

    torch.set_num_threads(max(1, options.intra_threads))
    return TransformersEngine(
        path,
        demo=demo,
        overrides=spec.generation,
        device=options.device,
        **common,  # type: ignore[arg-type]
    )
