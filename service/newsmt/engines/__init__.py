"""Inference engines behind one small interface: transformers, CTranslate2, identity."""

from newsmt.engines.base import Engine, GenerationSettings

__all__ = ["Engine", "GenerationSettings"]
