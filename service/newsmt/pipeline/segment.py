"""Sentence segmentation that loses nothing.

A text becomes a list of pieces: sentences to translate, and the whitespace between them
(line breaks and paragraph breaks included), which is kept verbatim. Joining the pieces'
texts always gives the input back, byte for byte; that is what lets the identity engine
prove the pipeline returns an article exactly and in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pysbd

_LINE_BREAK = re.compile(r"(\r\n|\n|\r)")
_EDGE_SPACE = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)
#: Where a long sentence may be split, best first: after clause punctuation, then any space.
_CLAUSE_BREAK = re.compile(r"(?<=[,;:\u2014\u2013)\]])\s+")
_SPACE = re.compile(r"\s+")
#: Text pysbd always leaves whole: words, digits, spaces, commas and the like, hyphens and
#: apostrophes inside words, and at most one terminal mark at the end. pysbd costs a quarter
#: of a millisecond even on such text, and a short request is often one such sentence.
#: Anything else (quotes, brackets, list markers like "1)", runs like "5..." that pysbd splits
#: in ways of its own) still goes to pysbd; tests/test_segment.py checks the shortcut against
#: pysbd on generated text.
_ONE_SENTENCE = re.compile(
    r"(?:[^\W_]|[ \t\u00a0,;:%$\u20ac\u00a3/&+=@#*\u2014\u2013]|(?<=\w)[-'\u2019](?=\w))*"
    r"[.!?\u2026]?"
)


@dataclass(frozen=True)
class Piece:
    text: str
    #: False for whitespace between sentences: it is copied, never sent to a model.
    translate: bool


def segment(text: str, language: str) -> list[Piece]:
    """Split `text` into sentences and the whitespace around them."""
    pieces: list[Piece] = []
    for part in _LINE_BREAK.split(text):
        if not part:
            continue
        if _LINE_BREAK.fullmatch(part) or part.isspace():
            _append_space(pieces, part)
            continue
        edges = _EDGE_SPACE.match(part)
        assert edges is not None  # the pattern matches any string
        lead, body, trail = edges.groups()
        _append_space(pieces, lead)
        for sentence in _sentences(body, language):
            s_edges = _EDGE_SPACE.match(sentence)
            assert s_edges is not None
            s_lead, s_body, s_trail = s_edges.groups()
            _append_space(pieces, s_lead)
            if s_body:
                pieces.append(Piece(s_body, translate=True))
            _append_space(pieces, s_trail)
        _append_space(pieces, trail)
    return pieces


def _append_space(pieces: list[Piece], space: str) -> None:
    if not space:
        return
    if pieces and not pieces[-1].translate:
        pieces[-1] = Piece(pieces[-1].text + space, translate=False)
    else:
        pieces.append(Piece(space, translate=False))


def _sentences(line: str, language: str) -> list[str]:
    """pysbd's sentences, or the whole line if pysbd did not give back exactly the input."""
    if _ONE_SENTENCE.fullmatch(line):
        return [line]
    return _pysbd_sentences(line, language)


def _pysbd_sentences(line: str, language: str) -> list[str]:
    lang = language if language in {"en", "ru", "es"} else "en"
    # A Segmenter keeps per-call state, so each call gets its own (they are cheap).
    found = pysbd.Segmenter(language=lang, clean=False, char_span=False).segment(line)
    return found if "".join(found) == line else [line]


def fit(pieces: list[Piece], count_tokens: Callable[[str], int], limit: int) -> list[Piece]:
    """Split every sentence longer than `limit` tokens, at clause breaks or spaces, never
    cutting anything off. A word longer than the limit on its own is split inside the word."""
    out: list[Piece] = []
    for piece in pieces:
        if not piece.translate or count_tokens(piece.text) <= limit:
            out.append(piece)
        else:
            out.extend(_split(piece.text, count_tokens, limit))
    return out


def _split(text: str, count_tokens: Callable[[str], int], limit: int) -> list[Piece]:
    if count_tokens(text) <= limit or len(text) <= 1:
        return [Piece(text, translate=True)]
    middle = len(text) // 2
    cut = _nearest(_CLAUSE_BREAK, text, middle) or _nearest(_SPACE, text, middle)
    if cut is None:
        left, space, right = text[:middle], "", text[middle:]
    else:
        left, space, right = text[: cut[0]], text[cut[0] : cut[1]], text[cut[1] :]
    pieces = _split(left, count_tokens, limit)
    if space:
        pieces.append(Piece(space, translate=False))
    return pieces + _split(right, count_tokens, limit)


def _nearest(pattern: re.Pattern[str], text: str, middle: int) -> tuple[int, int] | None:
    """The match of `pattern` nearest to `middle` that leaves text on both sides."""
    spans = [m.span() for m in pattern.finditer(text) if m.start() > 0 and m.end() < len(text)]
    if not spans:
        return None
    return min(spans, key=lambda span: abs(span[0] - middle))


def sentences(text: str, language: str) -> list[str]:
    """The sentences of `text`, without the whitespace between them."""
    return [p.text for p in segment(text, language) if p.translate]
