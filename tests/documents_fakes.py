"""Simulated engines and markup checkers for the document tests (no models involved)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token

from newsmt.pipeline.documents import (
    Document,
    Glossary,
    Rendered,
    TokenLink,
    UnitOutput,
    diagonal,
    merge_terms,
    parse,
    render,
)
from newsmt.pipeline.documents.finish import finish_unit
from newsmt.pipeline.documents.finish import terms as terms_in
from newsmt.pipeline.documents.html import TRANSLATED_ATTRIBUTES, VOID_ELEMENTS

Translator = Callable[[str], tuple[str, tuple[TokenLink, ...] | None]]

_WORD = re.compile(r"\S+")
#: The scrambler's tokens: word runs and punctuation runs, roughly what a subword model sees.
_TOKEN = re.compile(r"\w+|[^\w\s]+")


def identity(text: str) -> tuple[str, tuple[TokenLink, ...] | None]:
    return text, diagonal(text)


def upper(text: str) -> tuple[str, tuple[TokenLink, ...] | None]:
    """Upper-cased, word for word, each word aligned to itself."""
    return text.upper(), tuple(
        TokenLink(m.start(), m.end(), m.start(), m.end()) for m in _WORD.finditer(text)
    )


def scrambled(text: str) -> tuple[str, tuple[TokenLink, ...] | None]:
    """Tokens in reverse order, upper-cased, each aligned to its source token."""
    out: list[str] = []
    links: list[TokenLink] = []
    at = 0
    for m in reversed(list(_TOKEN.finditer(text))):
        word = m.group().upper()
        if out:
            at += 1
        links.append(TokenLink(at, at + len(word), m.start(), m.end()))
        out.append(word)
        at += len(word)
    return " ".join(out), tuple(links)


def scrambled_unaligned(text: str) -> tuple[str, tuple[TokenLink, ...] | None]:
    return scrambled(text)[0], None


def crossing(text: str) -> tuple[str, tuple[TokenLink, ...] | None]:
    """Upper-cased in order, but every word aligned to the first source word: an alignment
    that puts every mark on the same output word, so siblings cross."""
    words = list(_WORD.finditer(text))
    if not words:
        return text, ()
    first = words[0]
    return text.upper(), tuple(
        TokenLink(m.start(), m.end(), first.start(), first.end()) for m in words
    )


def translate(
    doc: Document, translator: Translator, terms: Glossary | None = None
) -> tuple[Rendered, tuple[str, ...], tuple[str, ...], list[tuple[str, tuple[int, ...]]]]:
    """Run every unit through `translator` the way the pipeline will: repair protected spans,
    apply the glossary, render. Also returns each unit's final text and the protected spans
    put back by position (the alignment could not place them)."""
    outputs: list[UnitOutput | None] = []
    reports = []
    finals: list[tuple[str, tuple[int, ...]]] = []
    for unit in doc.units:
        if not unit.needs_model:
            outputs.append(None)
            finals.append((unit.text, ()))
            continue
        text, alignment = translator(unit.text)
        done = finish_unit(unit, text, alignment, terms_in(unit, terms))
        outputs.append(done.output)
        reports.append((done.applied, done.missed))
        finals.append((done.output[0], done.inserted))
    applied, missed = merge_terms(reports)
    return render(doc, outputs), applied, missed, finals


def term_present(terms: Glossary, source: str, text: str) -> bool:
    """Whether the target (or, for a kept term, the term itself) of glossary entry `source`
    is in `text`."""
    for entry in terms.entries:
        if entry.source == source:
            wanted = entry.target or entry.source
            if entry.target or not entry.ignore_case:
                return wanted in text
            return wanted.lower() in text.lower()
    raise KeyError(source)


def identity_round_trip(source: str, fmt: str, terms: Glossary | None = None) -> str:
    doc = parse(source, fmt, "en")  # type: ignore[arg-type]
    return translate(doc, identity, terms)[0].text


# -- HTML checks ------------------------------------------------------------------------------


class _Tags(HTMLParser):
    """Tags (translated attribute values blanked), their nesting paths, href/src values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[tuple[str, ...]] = Counter()
        self.paths: Counter[tuple[tuple[str, ...], ...]] = Counter()
        self.links: Counter[tuple[str, str]] = Counter()
        self.stack: list[tuple[str, ...]] = []
        self.scripts = 0

    def _key(self, tag: str, attrs: list[tuple[str, str | None]]) -> tuple[str, ...]:
        kept = [f"{n}={v}" for n, v in attrs if n not in TRANSLATED_ATTRIBUTES]
        return (tag, *kept)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        key = self._key(tag, attrs)
        self.tags[("start", *key)] += 1
        self.paths[(*self.stack, key)] += 1
        self.scripts += tag == "script"
        for name, value in attrs:
            if name in ("href", "src"):
                self.links[(name, value or "")] += 1
        if tag not in VOID_ELEMENTS:
            self.stack.append(key)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        key = self._key(tag, attrs)
        self.tags[("startend", *key)] += 1
        self.paths[(*self.stack, key)] += 1
        for name, value in attrs:
            if name in ("href", "src"):
                self.links[(name, value or "")] += 1

    def handle_endtag(self, tag: str) -> None:
        self.tags[("end", tag)] += 1
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                break

    def handle_comment(self, data: str) -> None:
        self.tags[("comment", data)] += 1


def html_tags(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser


# -- Markdown checks --------------------------------------------------------------------------

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def markdown_marks(text: str) -> Counter[tuple[str, ...]]:
    """Markup that must survive translation: emphasis and links by delimiter and destination,
    images by source, code spans by content, raw HTML, block tokens."""
    found: Counter[tuple[str, ...]] = Counter()

    def walk(tokens: list[Token]) -> None:
        for t in tokens:
            if t.type in ("text", "softbreak", "text_special", "inline"):
                pass
            elif t.type == "link_open":
                found[(t.type, t.markup, str(t.attrs.get("href")), str(t.attrs.get("title")))] += 1
            elif t.type == "image":
                found[(t.type, str(t.attrs.get("src")), str(t.attrs.get("title")))] += 1
            elif t.type in ("code_inline", "html_inline", "fence", "code_block", "html_block"):
                found[(t.type, t.content)] += 1
            else:
                found[(t.type, t.markup)] += 1
            if t.children and t.type != "image":
                walk(t.children)

    walk(_MD.parse(text))
    return found
