"""NFC, the one Unicode normalization newsmt applies.

A unit goes to its model, and into its cache key, in NFC, so that composed and decomposed forms
of one text ("Caf\\u00e9", "Cafe\\u0301") get one translation and share one cache entry. What
comes back is made relative to the text as written (`to_original`): alignment offsets are mapped
back, and an output that is the normalized input itself (the identity engine, a copied sentence)
is given back as the original.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Final

from newsmt.pipeline.documents import TokenLink

NORMALIZATION: Final = "NFC"


def normalize(text: str) -> str:
    """`text` in NFC."""
    return unicodedata.normalize(NORMALIZATION, text)


def to_original(
    original: str, normalized: str, text: str, alignment: Sequence[TokenLink] | None
) -> tuple[str, Sequence[TokenLink] | None]:
    """`text` (the translation of `normalized`, the NFC form of `original`) and its alignment,
    made relative to `original`: source offsets mapped back, and an output that is
    `normalized` itself given back as `original`."""
    if original == normalized:
        return text, alignment
    where = offset_map(original, normalized)
    same = text == normalized
    if same:
        text = original
    if alignment is not None:
        if where is None:
            alignment = None
        else:
            alignment = tuple(
                TokenLink(
                    where[link.out_start] if same else link.out_start,
                    where[link.out_end] if same else link.out_end,
                    where[link.src_start],
                    where[link.src_end],
                )
                for link in alignment
            )
    return text, alignment


def offset_map(original: str, normalized: str) -> list[int] | None:
    """For each offset into `normalized` (NFC of `original`, end included), the offset of the
    same place in `original`: exact at every starter, the nearest place inside a composed
    sequence. None when NFC composed across starters (Hangul jamo) and no such map exists."""
    chunks: list[str] = []
    for char in original:
        if chunks and unicodedata.combining(char):
            chunks[-1] += char
        else:
            chunks.append(char)
    where: list[int] = []
    at = 0
    parts: list[str] = []
    for chunk in chunks:
        part = normalize(chunk)
        parts.append(part)
        where.extend(at + min(k, len(chunk)) for k in range(len(part)))
        at += len(chunk)
    if "".join(parts) != normalized:
        return None
    where.append(len(original))
    return where
