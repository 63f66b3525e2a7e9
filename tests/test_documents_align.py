"""Character alignments from model tokens and attention, pivot composition, and fit()."""

from __future__ import annotations

import re

from newsmt.pipeline.documents import (
    TokenLink,
    attention_to_alignment,
    compose,
    diagonal,
    merge_pieces,
    parse,
    render,
    token_spans,
)
from newsmt.pipeline.documents.align import is_valid
from newsmt.pipeline.segment import Piece, fit

EOS = "</s>"


def test_diagonal_links_every_word_to_itself() -> None:
    assert diagonal(" a  bc ") == (TokenLink(1, 2, 1, 2), TokenLink(4, 6, 4, 6))


def test_sentencepiece_tokens_map_onto_the_text() -> None:
    text = "The prime minister resigned."
    tokens = ["\u2581The", "\u2581prime", "\u2581minister", "\u2581resign", "ed", ".", EOS]
    assert token_spans(text, tokens, special={EOS}) == [
        (0, 3),
        (4, 9),
        (10, 18),
        (19, 25),
        (25, 27),
        (27, 28),
        None,
    ]


def test_identity_engine_tokens_map_exactly() -> None:
    text = "Two  words\there"
    tokens = re.findall(r"\s+|\S+", text)
    spans = token_spans(text, tokens, word_marker=None)
    assert spans is not None
    assert ["".join(text[s:e] for s, e in [span]) for span in spans if span] == tokens


def test_tokens_that_do_not_spell_the_text_give_no_spans() -> None:
    assert token_spans("Hello world.", ["\u2581Bonjour", "\u2581monde", "."]) is None
    # A normalized quote is skipped, the rest still maps.
    spans = token_spans('He said "no".', ["\u2581He", "\u2581said", "\u2581\u201c", "no", '"', "."])
    assert spans == [(0, 2), (3, 7), None, (9, 11), (11, 12), (12, 13)]


def test_attention_argmax_over_mapped_source_tokens() -> None:
    source = [(0, 3), (4, 9), None]  # "The", "prime", </s>
    target = [(0, 4), (5, 9), None]
    attention = [
        [0.1, 0.6, 0.3],
        [0.2, 0.1, 0.7],  # attends to </s> most: the best mapped token wins
        [0.0, 0.0, 1.0],
    ]
    assert attention_to_alignment(source, target, attention) == (
        TokenLink(0, 4, 4, 9),
        TokenLink(5, 9, 0, 3),
    )
    assert attention_to_alignment(source, target, attention[:2]) is None  # shape mismatch
    assert attention_to_alignment(source, target, [[0.1, 0.2]] * 3) is None


def test_pivot_alignments_compose() -> None:
    # "a b" -> "x y" (crossed) -> "P Q" (in order): P aligns to b, Q to a.
    first = (TokenLink(0, 1, 2, 3), TokenLink(2, 3, 0, 1))
    second = (TokenLink(0, 1, 0, 1), TokenLink(2, 3, 2, 3))
    assert compose(first, second) == (TokenLink(0, 1, 2, 3), TokenLink(2, 3, 0, 1))


def test_a_unit_split_by_fit_is_joined_back_with_its_alignment() -> None:
    text = "one two three four, five six seven eight, nine ten eleven twelve."
    pieces = fit([Piece(text, translate=True)], lambda s: len(s.split()), 4)
    assert sum(p.translate for p in pieces) > 2
    outputs = [(p.text.upper(), diagonal(p.text)) for p in pieces if p.translate]
    joined, alignment = merge_pieces(pieces, outputs)
    assert joined == text.upper()
    assert alignment is not None and is_valid(alignment, len(joined), len(text))
    assert alignment == diagonal(text)
    no_alignment = [(t, None) for t, _ in outputs[:-1]] + [outputs[-1]]
    assert merge_pieces(pieces, no_alignment)[1] is None


def test_from_attention_to_placed_tags() -> None:
    """What the Translator will do with CTranslate2: token spans on both sides, the attention
    matrix, then render."""
    doc = parse("<p>The <b>prime minister</b> resigned.</p>", "html", "en")
    (unit,) = doc.units
    src_tokens = ["\u2581The", "\u2581prime", "\u2581minister", "\u2581resigned", ".", EOS]
    out = "Премьер-министр подал в отставку."
    tgt_tokens = ["\u2581Премьер", "-", "министр", "\u2581подал", "\u2581в", "\u2581отставку", "."]
    source_spans = token_spans(unit.text, src_tokens, special={EOS})
    target_spans = token_spans(out, tgt_tokens)
    assert source_spans is not None and target_spans is not None
    best = [1, 1, 2, 3, 3, 3, 4]  # the source token each target token attends to
    attention = [[1.0 if j == b else 0.0 for j in range(len(src_tokens))] for b in best]
    alignment = attention_to_alignment(source_spans, target_spans, attention)
    rendered = render(doc, [(out, alignment)])
    assert rendered.text == "<p><b>Премьер-министр</b> подал в отставку.</p>"
    assert not rendered.markup_degraded
