"""Model hops: texts through one model, and through a route's models in order.

A hop plans its rows (`plan_rows`: a text over the sentence limit is split by `fit`, each part
encoded and given its output bound), submits them to the model's batcher in one call, and reads
each row back (`read_row`: the content limit, a runaway loop cut unless the source loops too,
the decoded text, its alignment to the input, its quality signals); the parts of a split text
are joined again. A pivot route runs its hops in turn, composing alignments and qualities.

`output_bound`, `plan_rows` and `read_rows` are public: `newsmt eval` decodes with them, so that it
scores exactly what the server sends.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsmt.core.context import RequestContext
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.documents import (
    Alignment,
    TokenLink,
    attention_to_alignment,
    compose,
    merge_pieces,
    token_spans,
)
from newsmt.pipeline.quality import Flag, SentenceQuality, assess, compose_pivot
from newsmt.pipeline.runaway import cut_loop
from newsmt.pipeline.segment import Piece, fit

if TYPE_CHECKING:
    # Types only: rows are read back from what the model's batcher hands over.
    from newsmt.engines.base import Generated
    from newsmt.models.codec import Codec
    from newsmt.models.pool import ServedModel

#: Detects a text's language: (code, confidence).
Detect = Callable[[str], tuple[str, float]]


@dataclass
class UnitWork:
    """One unit on its way through the hops: its current text, its alignment to the unit's
    own text (None when unknown), and what happened on the way."""

    text: str
    alignment: Sequence[TokenLink] | None
    truncated: bool = False
    quality: SentenceQuality | None = None
    #: Answered from the translation cache (or another request's flight of the same unit).
    cached: bool = False
    #: The next best translations, best first, when asked for (`Hops.run`'s `hypotheses`).
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rows:
    """A hop's plan: each text cut into pieces, and the model rows of those to translate."""

    #: Per text, its pieces (one, unless `fit` split it at the sentence limit).
    pieces: list[list[Piece]]
    #: (text, piece) of each row.
    where: list[tuple[int, int]]
    rows: list[list[str]]
    #: Each row's output bound (`output_bound`).
    bounds: list[int]


@dataclass(frozen=True)
class Row:
    """One row read back from the model."""

    text: str
    #: The content tokens kept (after the content limit and any loop cut).
    tokens: list[str]
    #: Reached its output bound, so it was cut there.
    at_bound: bool
    #: A runaway loop was cut off its end.
    looped: bool


def output_bound(input_tokens: int, model_max: int, config: PipelineConfig) -> int:
    """The most tokens a row of `input_tokens` may generate."""
    bound = int(config.output_ratio * input_tokens) + config.output_extra
    return max(1, min(bound, model_max))


def plan_rows(texts: Sequence[str], model: Codec, config: PipelineConfig) -> Rows:
    """Cut each text to the model's sentence limit and encode the pieces to translate."""
    limit = min(config.max_sentence_tokens, model.max_input_tokens)
    encoded: dict[str, list[str]] = {}

    def count(text: str) -> int:
        if text not in encoded:
            encoded[text] = model.encode(text)
        return len(encoded[text])

    pieces = [fit([Piece(text, translate=True)], count, limit) for text in texts]
    where = [
        (u, p) for u, unit in enumerate(pieces) for p, piece in enumerate(unit) if piece.translate
    ]
    rows = [encoded.get(pieces[u][p].text) or model.encode(pieces[u][p].text) for u, p in where]
    bounds = [output_bound(len(row), model.settings.max_length, config) for row in rows]
    return Rows(pieces, where, rows, bounds)


def read_row(model: Codec, row: Sequence[str], output: Sequence[str], bound: int) -> Row:
    """`output` (the model's tokens for `row`, decoded within `bound`) as text: cut to the
    content limit a call of its own would have given it, and a runaway loop cut off its end,
    unless the source loops too ("ha ha ha ha" is content)."""
    limit = model.content_limit(bound)
    tokens = list(output[:limit])
    kept, looped = cut_loop(tokens)
    if looped and cut_loop([t for t in row if t not in model.special_tokens])[1]:
        kept, looped = list(tokens), False
    return Row(model.decode(kept), kept, len(tokens) >= limit, looped)


#: What a model must not hand over: C0 and C1 controls (but tab) and U+FFFD, the replacement
#: for bytes a tokenizer could not decode (random demo weights emit them).
_INVALID = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ufffd]")


def strip_invalid(source: str, text: str) -> str:
    """`text` without the invalid characters `source` does not have itself (a control
    character the source carries, as the identity engine gives it back, stays)."""
    if not _INVALID.search(text):
        return text
    allowed = set(_INVALID.findall(source))
    return _INVALID.sub(lambda m: m.group() if m.group() in allowed else "", text)


def align_row(
    model: Codec, source: str, row: Sequence[str], read: Row, attention: Sequence[Sequence[float]]
) -> Alignment | None:
    """The alignment of `read`'s text to `source` (the row's text) from the model's attention;
    None where the tokens cannot be mapped onto the texts."""
    special, marker = model.special_tokens, model.word_marker
    source_spans = token_spans(source, row, special=special, word_marker=marker)
    target_spans = token_spans(read.text, read.tokens, special=special, word_marker=marker)
    if source_spans is None or target_spans is None:
        return None
    return attention_to_alignment(
        _words_only(source, source_spans),
        _words_only(read.text, target_spans),
        attention[: len(read.tokens)],
    )


def _words_only(text: str, spans: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
    """Token spans with whitespace-only tokens (the identity engine has them) left unlinked:
    an alignment links words."""
    return [None if span is None or text[span[0] : span[1]].isspace() else span for span in spans]


@dataclass(frozen=True)
class HopOutput:
    """One text through one model."""

    text: str
    alignment: Sequence[TokenLink] | None
    truncated: bool
    quality: SentenceQuality
    #: The next best translations, best first (each piece's i-th hypothesis, joined).
    alternatives: tuple[str, ...] = ()


def read_alternatives(model: Codec, row: Sequence[str], output: Generated, bound: int) -> list[str]:
    """`output`'s next best hypotheses as texts, each read as `read_row` reads the best."""
    return [read_row(model, row, tokens, bound).text for tokens in output.alternatives]


def read_rows(
    plan: Rows,
    generated: Sequence[Generated],
    model: Codec,
    source_lang: str,
    target_lang: str,
    *,
    low_confidence_below: float | None = None,
    detect: Detect | None = None,
) -> list[HopOutput]:
    """Every row of `plan` read back (`read_row`, its alignment where the model gave
    attention, its quality), and the pieces of each text joined again."""
    per_text: list[list[tuple[str, Alignment | None]]] = [[] for _ in plan.pieces]
    signals: list[list[SentenceQuality]] = [[] for _ in plan.pieces]
    others: list[list[list[str]]] = [[] for _ in plan.pieces]
    cut = [False] * len(plan.pieces)
    for (u, p), row, output, bound in zip(
        plan.where, plan.rows, generated, plan.bounds, strict=True
    ):
        source = plan.pieces[u][p].text
        read = read_row(model, row, output.tokens, bound)
        alignment = None
        if output.attention is not None:
            alignment = align_row(model, source, row, read, output.attention)
        text = strip_invalid(source, read.text)
        if text != read.text:
            # Offsets into the output moved: the markup goes by the fallback, not the links.
            alignment = None
        per_text[u].append((text, alignment))
        others[u].append(
            [strip_invalid(source, a) for a in read_alternatives(model, row, output, bound)]
        )
        cut[u] = cut[u] or read.looped or read.at_bound
        quality = assess(
            source,
            text,
            source_lang=source_lang,
            target_lang=target_lang,
            truncated=read.at_bound,
            loop_cut=read.looped,
            mean_logprob=output.logprob,
            low_confidence_below=low_confidence_below,
            detect=detect,
        )
        if text != read.text:
            quality = dataclasses.replace(quality, flags=quality.flags | {Flag.INVALID_CHARACTERS})
        signals[u].append(quality)
    out: list[HopOutput] = []
    for u, pieces in enumerate(plan.pieces):
        joined, links = merge_pieces(pieces, per_text[u])
        quality = functools.reduce(compose_pivot, signals[u])
        out.append(
            HopOutput(joined, links, cut[u], quality, _alternatives(pieces, per_text[u], others[u]))
        )
    return out


def _alternatives(
    pieces: Sequence[Piece],
    best: Sequence[tuple[str, Alignment | None]],
    others: Sequence[Sequence[str]],
) -> tuple[str, ...]:
    """A text's i-th alternative: each piece's i-th hypothesis (its best where it has fewer),
    joined as the best are. Only those that differ from the best and from each other."""
    count = max((len(o) for o in others), default=0)
    found: list[str] = []
    best_text = merge_pieces(pieces, best)[0]
    for i in range(count):
        texts = [(o[i] if i < len(o) else b[0], None) for o, b in zip(others, best, strict=True)]
        joined = merge_pieces(pieces, texts)[0]
        if joined != best_text and joined not in found:
            found.append(joined)
    return tuple(found)


class Hops:
    """Texts through the models of a route, each hop in one scheduler submission."""

    def __init__(self, config: PipelineConfig, detect: Detect) -> None:
        self.config = config
        self.detect = detect

    def run(
        self,
        texts: list[str],
        models: Sequence[ServedModel],
        ctx: RequestContext,
        *,
        aligned: bool,
        rank: int = 0,
        on_engine: Callable[[], None] | None = None,
        hypotheses: int = 1,
    ) -> list[UnitWork]:
        """Each text through every model in turn: the last output, the alignment composed
        through the hops (when `aligned`), cut if any hop cut it, the hops' qualities
        composed. `on_engine` is called when the first hop's rows enter an engine call. With
        `hypotheses` > 1, the last hop's next best outputs are the alternatives."""
        work = [UnitWork(text, None) for text in texts]
        last = len(models) - 1
        for hop, model in enumerate(models):
            done = self.hop(
                [w.text for w in work],
                model,
                ctx,
                with_attention=aligned,
                rank=rank,
                on_engine=on_engine if hop == 0 else None,
                hypotheses=hypotheses if hop == last else 1,
            )
            for w, out in zip(work, done, strict=True):
                if hop == 0:
                    w.alignment = out.alignment
                elif w.alignment is not None and out.alignment is not None:
                    w.alignment = compose(w.alignment, out.alignment)
                else:
                    w.alignment = None
                w.text, w.truncated = out.text, w.truncated or out.truncated
                w.alternatives = out.alternatives
                # A pivot sentence: the lower Seq-Logprob of its hops, both hops' flags.
                w.quality = (
                    out.quality if w.quality is None else compose_pivot(w.quality, out.quality)
                )
        return work

    def hop(
        self,
        texts: list[str],
        model: ServedModel,
        ctx: RequestContext,
        *,
        with_attention: bool,
        rank: int = 0,
        on_engine: Callable[[], None] | None = None,
        hypotheses: int = 1,
    ) -> list[HopOutput]:
        """Every text through `model` in one scheduler submission."""
        plan = plan_rows(texts, model, self.config)
        ctx.check()
        generated = model.generate(
            plan.rows,
            ctx,
            max_new_tokens=plan.bounds,
            with_attention=with_attention,
            rank=rank,
            on_engine=on_engine,
            hypotheses=hypotheses,
        )
        return read_rows(
            plan,
            generated,
            model,
            model.spec.source,
            model.spec.target,
            low_confidence_below=model.low_confidence_below,
            detect=self.detect,
        )
