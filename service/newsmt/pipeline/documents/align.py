"""Character alignments between a unit's text and its translation.

The format (`model.TokenLink`) is engine-agnostic: for each output token, its span in the output
text and the span in the unit's text of the source token it attends to most. This module builds
it from model tokens and an attention matrix (CTranslate2 ``return_attention=True``, or a
transformers teacher-forced pass), composes two hops of a pivot route, joins the pieces of a unit
that `segment.fit()` split, and edits an output text while keeping its alignment true.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Collection, Sequence

from newsmt.pipeline.documents.model import Alignment, TokenLink, UnitOutput
from newsmt.pipeline.segment import Piece

#: SentencePiece marks a token that starts a word with this character.
WORD_MARKER = "\u2581"
#: The identity engine's tokens: words and the whitespace between them.
_IDENTITY_TOKEN = re.compile(r"\s+|\S+")
#: Give up on a row's token mapping when fewer than this share of its tokens map onto the text.
_MIN_MAPPED = 0.75


def diagonal(text: str) -> Alignment:
    """The identity engine's alignment of `text` with itself: every word to itself."""
    return tuple(
        TokenLink(m.start(), m.end(), m.start(), m.end())
        for m in _IDENTITY_TOKEN.finditer(text)
        if not m.group().isspace()
    )


def token_spans(
    text: str,
    tokens: Sequence[str],
    *,
    special: Collection[str] = (),
    word_marker: str | None = WORD_MARKER,
) -> list[tuple[int, int] | None] | None:
    """The character span in `text` of each model token, or None for a token that maps to no
    text (special tokens, byte pieces, a token the tokenizer's normalization changed).

    SentencePiece tokens (``▁word``, ``ing``) are matched left to right after skipping the
    whitespace a word marker stands for; the identity engine's tokens (pass
    ``word_marker=None``) map exactly. Returns None when too few tokens map (the text is not
    what the tokens spell): treat that as a missing alignment.
    """
    spans: list[tuple[int, int] | None] = []
    cursor, mapped, counted = 0, 0, 0
    for token in tokens:
        if token in special:
            spans.append(None)
            continue
        piece = token
        if word_marker and piece.startswith(word_marker):
            piece = piece[len(word_marker) :]
            while cursor < len(text) and text[cursor].isspace():
                cursor += 1
        if not piece:
            spans.append(None)
            continue
        counted += 1
        if text.startswith(piece, cursor):
            found = cursor
        else:
            # Resynchronize a little ahead (normalized quotes or spaces before this token).
            found = text.find(piece, cursor, cursor + len(piece) + 8)
        if found < 0:
            spans.append(None)
            continue
        spans.append((found, found + len(piece)))
        cursor = found + len(piece)
        mapped += 1
    if counted and mapped < _MIN_MAPPED * counted:
        return None
    return spans


def attention_to_alignment(
    source_spans: Sequence[tuple[int, int] | None],
    target_spans: Sequence[tuple[int, int] | None],
    attention: Sequence[Sequence[float]],
) -> Alignment | None:
    """Hard alignment from a ``[target_len x source_len]`` attention matrix: each target token
    with a span is linked to the source token with a span that it attends to most.

    Rows and columns must correspond one to one with `target_spans` and `source_spans` (drop the
    rows of tokens the engine drops, such as a forced prefix). Returns None when the shapes
    disagree or nothing could be linked.
    """
    if len(attention) != len(target_spans):
        return None
    columns = [i for i, span in enumerate(source_spans) if span is not None and span[0] < span[1]]
    if not columns:
        return None
    links: list[TokenLink] = []
    for row, target in zip(attention, target_spans, strict=True):
        if len(row) != len(source_spans):
            return None
        if target is None or target[0] >= target[1]:
            continue
        best = max(columns, key=lambda i: row[i])
        if not math.isfinite(row[best]):
            continue
        src = source_spans[best]
        assert src is not None
        links.append(TokenLink(target[0], target[1], src[0], src[1]))
    return tuple(links) or None


def compose(first: Sequence[TokenLink], second: Sequence[TokenLink]) -> Alignment:
    """Compose the alignments of a pivot route. `first` links the intermediate text to the unit
    text, `second` links the final text to the intermediate text; the result links the final
    text to the unit text. A final token takes the source of the intermediate token its span
    overlaps most; one that overlaps none is left out."""
    ordered = sorted(first, key=lambda link: link.out_start)
    starts = [link.out_start for link in ordered]
    out: list[TokenLink] = []
    for link in second:
        lo = max(0, bisect.bisect_right(starts, link.src_start) - 1)
        best: TokenLink | None = None
        best_overlap = 0
        for middle in ordered[lo:]:
            if middle.out_start >= link.src_end:
                break
            overlap = min(link.src_end, middle.out_end) - max(link.src_start, middle.out_start)
            if overlap > best_overlap:
                best, best_overlap = middle, overlap
        if best is not None:
            out.append(TokenLink(link.out_start, link.out_end, best.src_start, best.src_end))
    return tuple(out)


def merge_pieces(pieces: Sequence[Piece], outputs: Sequence[UnitOutput]) -> UnitOutput:
    """Join the translations of the pieces `segment.fit()` split a unit's text into, back into
    one output for the unit: translated pieces take their output, whitespace pieces are copied,
    and alignments are shifted into the unit's coordinates (None if any piece has none).
    `outputs` holds one entry per translated piece, in order."""
    texts: list[str] = []
    links: list[TokenLink] | None = []
    source_at = out_at = 0
    results = iter(outputs)
    for piece in pieces:
        if not piece.translate:
            texts.append(piece.text)
            out_at += len(piece.text)
            source_at += len(piece.text)
            continue
        text, alignment = next(results)
        texts.append(text)
        if alignment is None or links is None:
            links = None
        else:
            links.extend(
                TokenLink(a + out_at, b + out_at, c + source_at, d + source_at)
                for a, b, c, d in alignment
            )
        out_at += len(text)
        source_at += len(piece.text)
    if next(results, None) is not None:
        raise ValueError("outputs: more outputs than translated pieces")
    return "".join(texts), (tuple(links) if links is not None else None)


def is_valid(links: Sequence[TokenLink], out_len: int, src_len: int) -> bool:
    """Whether `links` can be trusted: spans non-empty and inside both texts, output tokens in
    order and not overlapping."""
    previous_end = 0
    for a, b, c, d in links:
        if not (previous_end <= a < b <= out_len and 0 <= c < d <= src_len):
            return False
        previous_end = b
    return True


def hull(
    links: Sequence[TokenLink], text: str, out: str, start: int, end: int
) -> tuple[int, int] | None:
    """The span of the output aligned into ``text[start:end]``: the union of the output tokens
    whose source token lies mostly inside it (any overlap, when no token qualifies). A token
    copied unchanged (same text on both sides) is mapped character by character, so that a
    mark on part of a copied word (``FOOBAR<sup>®</sup>``) stays on that part."""
    best: tuple[int, int] | None = None
    loose: tuple[int, int] | None = None
    for a, b, c, d in links:
        overlap = min(end, d) - max(start, c)
        if overlap <= 0:
            continue
        if b - a == d - c and out[a:b] == text[c:d]:
            span = (a + max(start, c) - c, a + min(end, d) - c)
            best = _union(best, span)
        elif 2 * overlap >= d - c:
            best = _union(best, (a, b))
        else:
            loose = _union(loose, (a, b))
    return best or loose


def _union(span: tuple[int, int] | None, other: tuple[int, int]) -> tuple[int, int]:
    return other if span is None else (min(span[0], other[0]), max(span[1], other[1]))


def replace(
    out: str,
    links: Sequence[TokenLink],
    start: int,
    end: int,
    new: str,
    source: tuple[int, int],
) -> tuple[str, Alignment]:
    """Replace ``out[start:end]`` with `new` and keep the alignment true: tokens inside the
    span become one token of `new` linked to `source`, tokens after it shift, tokens cut by
    its edges keep the part outside it."""
    delta = len(new) - (end - start)
    kept: list[TokenLink] = []
    for a, b, c, d in links:
        if b <= start:
            kept.append(TokenLink(a, b, c, d))
        elif a >= end:
            kept.append(TokenLink(a + delta, b + delta, c, d))
        else:
            if a < start:
                kept.append(TokenLink(a, start, c, d))
            if b > end:
                kept.append(TokenLink(end + delta, b + delta, c, d))
    if new:
        kept.append(TokenLink(start, start + len(new), source[0], source[1]))
    kept.sort(key=lambda link: link.out_start)
    return out[:start] + new + out[end:], tuple(kept)


def widen_to_words(out: str, start: int, end: int) -> tuple[int, int]:
    """Extend a span so that it does not cut a word: over word characters on both sides."""
    while 0 < start < len(out) and is_word(out[start - 1]) and is_word(out[start]):
        start -= 1
    while 0 < end < len(out) and is_word(out[end]) and is_word(out[end - 1]):
        end += 1
    return start, end


def is_word(ch: str) -> bool:
    """A word character, as tags and spans snap to words (letters, digits, underscore)."""
    return ch.isalnum() or ch == "_"
