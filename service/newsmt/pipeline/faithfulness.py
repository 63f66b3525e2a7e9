"""Is a summary faithful to its source? Cheap lexical checks, no model.

Extractiveness, as the Newsroom paper defines it (Grusky, Naaman and Artzi 2018, NAACL, section
4; reference code lil-lab/newsroom `newsroom/analyze/fragments.py`): the summary S and the article
A are token sequences, F(A, S) the greedy extractive fragments (each summary position takes the
longest shared token run starting there, then skips past it), and

    coverage    = sum(|f| for f in F) / |S|       share of summary tokens inside a fragment
    density     = sum(|f|**2 for f in F) / |S|    mean length of the fragment a token is in
    compression = |A| / |S|

`novel_bigram_ratio` is the share of the summary's word bigrams that the article does not have
(See et al. 2017's novel n-grams). Tokens are casefolded, NFC-normalised words (runs of letters,
marks and digits) and single punctuation marks, from one Unicode regex, so Cyrillic counts like
Latin (rouge_score's tokenizer deletes every non-ASCII letter). Fragments use words and marks, as
Newsroom's spaCy tokens do; novel bigrams use words only.

Hallucinated content (Nan et al. 2021, entity precision against the source):

- `unsupported_numbers`: numbers of the summary that the source does not contain by value
  (`numbers`: `3.5` = `3,5`, `1,000` = `1 000` = `1.000`);
- `unsupported_entities`: capitalised word runs of the summary (not the first word of a
  sentence, which is capitalised anyway) with a word the source lacks. A summary word matches a
  source word when the two are equal casefolded, or when they share a prefix of at least
  ENTITY_MIN_STEM letters that leaves at most ENTITY_MAX_SUFFIX letters of the longer word: Russian
  and Spanish inflect names ("Москва", "Москве", "Москвой"; "Путин", "Путина", "Путиным"), while
  "Иран" and "Ирак" or "Austria" and "Australia" stay apart. Known limits: a shared stem can
  hide a different name ("Niger"/"Nigeria"), and a summary that opens a sentence with an
  invented name is not caught.

`flagged` is true when any number or entity is unsupported, or when coverage falls below
MIN_COVERAGE [est]: a summary with less than half its tokens drawn from the article is mostly
new text, which an extractive-leaning news summarizer (distilbart-cnn) rarely writes.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

from newsmt.pipeline import numbers
from newsmt.pipeline.words import WORD

#: Entity matching (see the module docstring) [est].
ENTITY_MIN_STEM = 4
ENTITY_MAX_SUFFIX = 3
#: Below this coverage a summary is flagged [est].
MIN_COVERAGE = 0.5

_TOKEN = re.compile(r"[^\W_]+|[^\w\s]|_")
#: A word of letters, inner hyphens and apostrophes ("Moscow", "NATO", "Jean-Claude", "O'Brien").
_CAPITALISED = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")
#: A token that ends a sentence (or a clause after which a capital is usual): "said.", "end?»".
_SENTENCE_END = re.compile(r"[.!?…:][\"'»”’)\]]*$")
_OPENERS = "\"'«“„‘‚([{¿¡—–-"
_CLOSERS = "\"'»”’)]}.,;:!?…"


@dataclass(frozen=True)
class Faithfulness:
    novel_bigram_ratio: float
    coverage: float
    density: float
    compression: float
    unsupported_numbers: tuple[str, ...]
    unsupported_entities: tuple[str, ...]
    flagged: bool


def tokenize(text: str) -> list[str]:
    """Casefolded NFC words and single punctuation marks."""
    return _TOKEN.findall(unicodedata.normalize("NFC", text).casefold())


def fragments(article: list[str], summary: list[str]) -> list[int]:
    """The lengths of the greedy extractive fragments F(A, S) (Newsroom, section 4)."""
    lengths = []
    i = 0
    while i < len(summary):
        best = 0
        j = 0
        while j < len(article):
            if summary[i] == article[j]:
                i_end, j_end = i, j
                while (
                    i_end < len(summary)
                    and j_end < len(article)
                    and summary[i_end] == article[j_end]
                ):
                    i_end += 1
                    j_end += 1
                best = max(best, i_end - i)
                j = j_end
            else:
                j += 1
        if best:
            lengths.append(best)
            i += best
        else:
            i += 1
    return lengths


def _bigrams(words: list[str]) -> list[tuple[str, str]]:
    return list(itertools.pairwise(words))


def novel_bigram_ratio(article: str, summary: str) -> float:
    """The share of the summary's word bigrams (with repeats) that the article lacks."""
    fold = unicodedata.normalize("NFC", summary).casefold()
    summary_bigrams = _bigrams(WORD.findall(fold))
    if not summary_bigrams:
        return 0.0
    known = set(_bigrams(WORD.findall(unicodedata.normalize("NFC", article).casefold())))
    return sum(1 for b in summary_bigrams if b not in known) / len(summary_bigrams)


def _entity_spans(text: str) -> list[str]:
    """Runs of capitalised words, leaving out a sentence's first word; punctuation ends a run."""
    spans: list[str] = []
    current: list[str] = []
    sentence_start = True
    for raw in text.split():
        core = raw.lstrip(_OPENERS)
        opened = core != raw
        core = core.rstrip(_CLOSERS)
        closed = not raw.endswith(core) if core else True
        core = _POSSESSIVE.sub("", core)
        is_entity = (
            not sentence_start
            and len(core) >= 2
            and core[0].isupper()
            and _CAPITALISED.fullmatch(core) is not None
        )
        if current and (opened or not is_entity):
            spans.append(" ".join(current))
            current = []
        if is_entity:
            current.append(core)
            if closed:
                spans.append(" ".join(current))
                current = []
        sentence_start = _SENTENCE_END.search(raw) is not None
    if current:
        spans.append(" ".join(current))
    return spans


def _word_matches(word: str, source_words: set[str], by_stem: dict[str, list[str]]) -> bool:
    if word in source_words:
        return True
    if len(word) < ENTITY_MIN_STEM:
        return False
    for candidate in by_stem.get(word[:ENTITY_MIN_STEM], ()):
        shared = 0
        for a, b in zip(word, candidate, strict=False):
            if a != b:
                break
            shared += 1
        if shared >= max(len(word), len(candidate)) - ENTITY_MAX_SUFFIX:
            return True
    return False


def unsupported_entities(source: str, summary: str) -> list[str]:
    """Capitalised word runs of `summary` with a word `source` does not have (module docs)."""
    source_words = set(WORD.findall(unicodedata.normalize("NFC", source).casefold()))
    by_stem: dict[str, list[str]] = {}
    for w in source_words:
        if len(w) >= ENTITY_MIN_STEM:
            by_stem.setdefault(w[:ENTITY_MIN_STEM], []).append(w)
    out: list[str] = []
    for span in _entity_spans(unicodedata.normalize("NFC", summary)):
        words = [w for w in WORD.findall(span.casefold()) if len(w) >= 2]
        if not all(_word_matches(w, source_words, by_stem) for w in words) and span not in out:
            out.append(span)
    return out


def unsupported_numbers(source: str, summary: str) -> list[str]:
    """Numbers of `summary`, as written, that `source` does not contain by value."""
    out: list[str] = []
    for number in numbers.missing(summary, source):
        if number.text not in out:
            out.append(number.text)
    return out


def assess(source: str, summary: str) -> Faithfulness:
    """The faithfulness of `summary` to `source` (the text the summarizer read)."""
    article_tokens = tokenize(source)
    summary_tokens = tokenize(summary)
    n = len(summary_tokens)
    lengths = fragments(article_tokens, summary_tokens)
    coverage = sum(lengths) / n if n else 0.0
    density = sum(k * k for k in lengths) / n if n else 0.0
    compression = len(article_tokens) / n if n else 0.0
    numbers_out = tuple(unsupported_numbers(source, summary))
    entities_out = tuple(unsupported_entities(source, summary))
    flagged = bool(numbers_out or entities_out) or (n > 0 and coverage < MIN_COVERAGE)
    return Faithfulness(
        novel_bigram_ratio=novel_bigram_ratio(source, summary),
        coverage=coverage,
        density=density,
        compression=compression,
        unsupported_numbers=numbers_out,
        unsupported_entities=entities_out,
        flagged=flagged,
    )
