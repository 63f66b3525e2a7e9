"""HTML into a `Document`, with the standard library's tokenizer and no tree.

`html.parser` finds the tags; each one's source offset comes from `getpos()`, and its markup is
the source slice up to the next construct, so every byte of the input belongs to exactly one
construct and nothing is ever re-serialized. Elements are classified:

- inline (``b, i, em, a, span, sup, ...``): marks, carried across by alignment;
- ``img``, ``wbr``: voids that keep their place in the sentence; ``br``: a line break, which
  ends a sentence as a line break does in plain text;
- opaque (``script, style, code, pre, kbd, samp, var, textarea, noscript, math, svg``, anything
  under ``translate="no"`` or ``class="notranslate"``, comments): copied byte for byte. Inside a
  sentence, ``code``/``kbd``/``samp``/``var`` and inline ``translate="no"`` elements show their
  text to the model as a protected span (so the sentence stays whole); the rest are voids;
- everything else (``p, div, li, td, h1, ...``, unknown elements): block breaks.

``alt``, ``title``, ``placeholder`` and ``aria-label`` values become units of their own.
Malformed input never raises: a stray end tag is a void, echoed where it was; an unclosed inline
element ends with its block, and nothing is added for its missing end tag.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from newsmt.pipeline.documents import protect
from newsmt.pipeline.documents.blocks import Block, Scanned, needs_model
from newsmt.pipeline.documents.model import Protected, Unit

INLINE = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "b",
        "bdi",
        "bdo",
        "big",
        "cite",
        "data",
        "del",
        "dfn",
        "em",
        "font",
        "i",
        "ins",
        "label",
        "mark",
        "nobr",
        "q",
        "rb",
        "rp",
        "rt",
        "rtc",
        "ruby",
        "s",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "time",
        "tt",
        "u",
    ]
)
INLINE_VOID = frozenset({"img", "wbr"})
#: Opaque by name. Those in OPAQUE_TEXT show their text to the model inside a sentence.
OPAQUE = frozenset(
    [
        "script",
        "style",
        "code",
        "pre",
        "kbd",
        "samp",
        "var",
        "textarea",
        "noscript",
        "math",
        "svg",
        "template",
        "iframe",
        "object",
    ]
)
OPAQUE_TEXT = frozenset({"code", "kbd", "samp", "var"})
#: Inside these, text is never shown to the model, even inside an opaque element that is.
_RAW_TEXT = frozenset({"script", "style", "noscript", "template", "textarea", "svg", "math"})
#: Opaque elements that are blocks of their own (break the sentence around them).
OPAQUE_BLOCK = frozenset({"pre", "template"})
VOID_ELEMENTS = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
TRANSLATED_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label")

_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
#: Whitespace that HTML shows otherwise than written: runs, and any tab or line break.
_COLLAPSE = re.compile(r"[ \t\n\r\f]{2,}|[\t\n\r\f]")
# As html.parser's own (Python 3.11) patterns, to find where each attribute value is.
_TAG_NAME = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ATTRIBUTE = re.compile(
    r"((?<=[\'\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*(\'[^\']*\'|\"[^\"]*\"|(?![\'\"])[^>\s]*))?(?:\s|/(?!>))*"
)


@dataclass(slots=True)
class _Token:
    kind: str  # start, startend, end, data, ref, other
    start: int
    tag: str = ""
    attrs: list[tuple[str, str | None]] | None = None
    starttag: str = ""
    data: str = ""


class _Tokenizer(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.tokens: list[_Token] = []
        self._lines = [0] + [m.end() for m in re.finditer("\n", source)]

    def _at(self) -> int:
        line, column = self.getpos()
        return self._lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append(_Token("start", self._at(), tag, attrs, self.get_starttag_text() or ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append(
            _Token("startend", self._at(), tag, attrs, self.get_starttag_text() or "")
        )

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append(_Token("end", self._at(), tag))

    def handle_data(self, data: str) -> None:
        self.tokens.append(_Token("data", self._at(), data=data))

    def handle_entityref(self, name: str) -> None:
        self.tokens.append(_Token("ref", self._at()))

    def handle_charref(self, name: str) -> None:
        self.tokens.append(_Token("ref", self._at()))

    def handle_comment(self, data: str) -> None:
        self.tokens.append(_Token("other", self._at()))

    def handle_decl(self, decl: str) -> None:
        self.tokens.append(_Token("other", self._at()))

    def handle_pi(self, data: str) -> None:
        self.tokens.append(_Token("other", self._at()))

    def unknown_decl(self, data: str) -> None:
        self.tokens.append(_Token("other", self._at()))


def tokenize(source: str) -> list[tuple[_Token, int]]:
    """Every construct of `source` with its end offset; together they cover the source."""
    tokenizer = _Tokenizer(source)
    tokenizer.feed(source)
    tokenizer.close()
    tokens = [t for t in tokenizer.tokens if 0 <= t.start <= len(source)]
    out: list[tuple[_Token, int]] = []
    if not tokens or tokens[0].start != 0:
        # Never expected; keep the bytes anyway.
        first = tokens[0].start if tokens else len(source)
        if first:
            out.append((_Token("other", 0), first))
    for i, token in enumerate(tokens):
        end = tokens[i + 1].start if i + 1 < len(tokens) else len(source)
        if end < token.start:
            continue
        out.append((token, end))
    return out


@dataclass(slots=True)
class _Opaque:
    name: str
    start: int
    mode: str  # "text" (an atom the model sees), "void", or "block"
    #: Elements open inside it.
    inner: list[str]
    #: The text the model sees (mode "text").
    parts: list[str] | None


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.scanned = Scanned(source)
        self.block = Block()
        self.names: list[str] = []  # names of the block's open inline elements
        self.opaque: _Opaque | None = None

    def run(self) -> Scanned:
        for token, end in tokenize(self.source):
            if self.opaque is not None and self._in_opaque(token, end):
                continue
            self._token(token, end)
        if self.opaque is not None:
            self._end_opaque(len(self.source))
        self._flush(len(self.source))
        return self.scanned

    # -- opaque elements ---------------------------------------------------------------------

    def _in_opaque(self, token: _Token, end: int) -> bool:
        """Feed `token` to the open opaque element; False when it ends that element first."""
        op = self.opaque
        assert op is not None
        if token.kind == "start":
            if token.tag not in VOID_ELEMENTS:
                op.inner.append(token.tag)
        elif token.kind == "end":
            if token.tag in op.inner:
                del op.inner[len(op.inner) - 1 - op.inner[::-1].index(token.tag) :]
            elif token.tag == op.name:
                self._end_opaque(end)
            elif op.mode != "block" and (token.tag not in INLINE or token.tag in self.names):
                # An element open around it ends: so does the opaque one, before this tag.
                self._end_opaque(token.start)
                return False
        elif op.parts is not None and not _RAW_TEXT.intersection(op.inner):
            if token.kind == "data":
                op.parts.append(token.data)
            elif token.kind == "ref":
                op.parts.append(html.unescape(self.source[token.start : end]))
        return True

    def _start_opaque(self, token: _Token, end: int, mode: str) -> None:
        if mode == "block":
            self._flush(token.start)
        self.opaque = _Opaque(token.tag, token.start, mode, [], [] if mode == "text" else None)
        if token.kind == "startend" or token.tag in VOID_ELEMENTS:
            self._end_opaque(end)

    def _end_opaque(self, end: int) -> None:
        op = self.opaque
        assert op is not None
        self.opaque = None
        raw = self.source[op.start : end]
        if op.mode == "text":
            text = _HTML_SPACE.sub(" ", "".join(op.parts or ())).strip()
            self.block.atom(text, raw, op.start)
        elif op.mode == "void":
            self.block.void(raw, op.start)

    # -- everything else ---------------------------------------------------------------------

    def _token(self, token: _Token, end: int) -> None:
        kind, tag, raw_start = token.kind, token.tag, token.start
        if kind == "data":
            self._data(token, end)
        elif kind == "ref":
            self._reference(raw_start, end)
        elif kind == "other":
            self.block.void(self.source[raw_start:end], raw_start)
        elif kind in ("start", "startend"):
            self._start(token, end)
        elif tag in INLINE:
            if tag in self.names:
                depth = len(self.names) - 1 - self.names[::-1].index(tag)
                self.block.close(depth, self.source[raw_start:end], raw_start)
                del self.names[depth:]
            else:
                self.block.void(self.source[raw_start:end], raw_start)  # a stray end tag
        elif tag == "br":  # "</br>" is a line break to browsers
            self.block.atomic("\n", raw_start, end)
        elif tag in INLINE_VOID:
            self.block.void(self.source[raw_start:end], raw_start)
        else:
            self._flush(raw_start)

    def _start(self, token: _Token, end: int) -> None:
        tag, attrs = token.tag, token.attrs or []
        opaque_by_attribute = _translate_no(attrs)
        if tag in OPAQUE or opaque_by_attribute:
            if tag in OPAQUE_BLOCK:
                mode = "block"
            elif tag in OPAQUE_TEXT or tag in INLINE:
                mode = "text"
            elif tag in OPAQUE or tag in INLINE_VOID:
                mode = "void"
            else:  # a block element under translate="no"
                mode = "block"
            self._start_opaque(token, end, mode)
            return
        self._attribute_units(token)
        raw = self.source[token.start : end]
        if tag == "br":
            self.block.atomic("\n", token.start, end)
        elif tag in INLINE_VOID:
            self.block.void(raw, token.start)
        elif tag in INLINE:
            if token.kind == "startend":
                self.block.void(raw, token.start)
            else:
                self.block.open(raw, token.start)
                self.names.append(tag)
        else:
            self._flush(token.start)

    def _data(self, token: _Token, end: int) -> None:
        data, at = token.data, token.start
        if self.source.startswith(data, at):
            pos = 0
            for m in _COLLAPSE.finditer(data):
                self._words(data[pos : m.start()], at + pos)
                self.block.space(at + m.start(), at + m.end())
                pos = m.end()
            self._words(data[pos:], at + pos)
            at += len(data)
        if at < end:  # bytes the tokenizer passed over: keep them, untranslated
            self.block.void(self.source[at:end], at)

    def _words(self, chunk: str, at: int) -> None:
        """Text whose only whitespace is single spaces: copied as it is, but for a space at
        its start where one is already (or nothing is yet)."""
        if chunk[:1] == " ":
            self.block.space(at, at + 1)
            chunk, at = chunk[1:], at + 1
        self.block.text(chunk, at)

    def _reference(self, start: int, end: int) -> None:
        raw = self.source[start:end]
        decoded = html.unescape(raw)
        if decoded == raw:
            self.block.text(raw, start)
        elif not decoded.strip(" \t\n\r\f"):
            self.block.space(start, end)
        else:
            self.block.atomic(decoded, start, end)

    def _flush(self, at: int) -> None:
        self.block.close_all(at)
        self.scanned.block(self.block)
        self.block = Block()
        self.names = []

    def _attribute_units(self, token: _Token) -> None:
        for name, (start, end, quote) in _attribute_values(token).items():
            value = html.unescape(self.source[start:end])
            text = _HTML_SPACE.sub(" ", value).strip()
            if not text:
                continue
            spans = protect.find_spans(text)
            protected = tuple(Protected(s.start, s.end, s.kind, None, -1) for s in spans)
            self.scanned.attribute(
                Unit(
                    index=-1,
                    kind="attribute",
                    text=text,
                    source_start=start,
                    source_end=end,
                    marks=(),
                    voids=(),
                    protected=protected,
                    needs_model=needs_model(text, [(s.start, s.end) for s in spans]),
                    block=-1,  # set when the sentences are cut (`Scanned.units`)
                    attribute=name,
                    quote=quote,
                )
            )


def _translate_no(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if name == "translate" and (value or "").strip().lower() == "no":
            return True
        if name == "class" and "notranslate" in (value or "").split():
            return True
    return False


def _attribute_values(token: _Token) -> dict[str, tuple[int, int, str]]:
    """Where the values of the translated attributes are in the source: name -> (start, end,
    quote). Empty when our reading of the tag disagrees with html.parser's (never translate
    what we cannot place)."""
    attrs = token.attrs or []
    if not any(name in TRANSLATED_ATTRIBUTES for name, _ in attrs):
        return {}
    text = token.starttag
    m = _TAG_NAME.match(text, 1)
    if m is None:
        return {}
    k = m.end()
    found: list[tuple[str, int, int, str, str | None]] = []
    while k < len(text):
        a = _ATTRIBUTE.match(text, k)
        if not a or a.end() == k:
            break
        name, value = a.group(1).lower(), a.group(3)
        if value is None:
            found.append((name, -1, -1, "", None))
        else:
            start, end = a.span(3)
            quote = (
                value[0]
                if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) > 1
                else ""
            )
            if quote:
                start, end = start + 1, end - 1
            found.append((name, start, end, quote, html.unescape(text[start:end])))
        k = a.end()
    if [(n, v) for n, _, _, _, v in found] != attrs:
        return {}
    values: dict[str, tuple[int, int, str]] = {}
    for name, start, end, quote, value in found:
        if name in TRANSLATED_ATTRIBUTES and value is not None and name not in values:
            values[name] = (token.start + start, token.start + end, quote)
    return values


def scan(source: str) -> Scanned:
    """The blocks and attribute values of an HTML document, before sentences are cut."""
    return _Parser(source).run()
