"""XML read without a tree: every construct of a part with its offsets, so that the writers
re-emit markup exactly as written instead of re-serialising it.

The tokenizer is the standard library's expat (`pyexpat`), the parser ElementTree itself uses:
it checks well-formedness and reports the byte offset of every event, which lxml does not. It
is driven defensively, before any logic sees the content:

- a DOCTYPE is refused the moment it starts, so no DTD, no entity declaration (billion laughs)
  and no external entity (XXE) is ever read; undeclared entities are then well-formedness
  errors; parameter entities and external DTDs are switched off as well, and nothing is fetched;
- a part is decoded by us (BOM, then the declaration's encoding), and handed to expat as UTF-8
  with the encoding overridden, so offsets map back onto the decoded string;
- every failure becomes `InvalidArgument` naming the part and the position, never its text.

Tokens cover the part without gaps: joining ``source[t.start:t.end]`` over them gives the part.
An empty-element tag (``<w:tab/>``) is a START holding the whole tag and a zero-width END.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from xml.parsers import expat

from newsmt.core.errors import InvalidArgument
from newsmt.pipeline.documents.render import escape_xml

START, END, TEXT, OTHER = 0, 1, 2, 3

_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class _Refused(Exception):
    """Raised from an expat handler to stop the parse (a DOCTYPE, an entity declaration)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(slots=True)
class Token:
    kind: int
    #: Character offsets into `XmlPart.source`.
    start: int
    end: int
    #: START/END: the expanded name, ``"namespace-uri local"`` (just ``local`` without one).
    name: str = ""
    #: START: attributes by expanded name.
    attrs: dict[str, str] = field(default_factory=dict)
    #: TEXT: the characters it stands for (entities and references decoded).
    text: str = ""
    #: START/END: index of the matching END/START token.
    pair: int = -1


@dataclass(slots=True)
class XmlPart:
    source: str
    tokens: list[Token]
    #: How to encode the part back: the codec and the byte-order mark it came with.
    encoding: str
    bom: bytes

    def encode(self, text: str) -> bytes:
        """`text` (this part, rewritten) in the part's own encoding; characters the encoding
        lacks become character references, which XML reads back as the same characters."""
        return self.bom + text.encode(self.encoding, errors="xmlcharrefreplace")

    def qname(self, i: int) -> str:
        """The element name of START token `i` as written, with its prefix (``w:t``)."""
        t = self.tokens[i]
        m = _QNAME.match(self.source, t.start + 1)
        return m.group() if m else ""

    def raw(self, i: int) -> str:
        t = self.tokens[i]
        return self.source[t.start : t.end]


_QNAME = re.compile(r"[^\s/>]+")


def local(name: str) -> str:
    """The local part of an expanded name."""
    return name.rpartition(" ")[2]


def decode(data: bytes, what: str) -> tuple[str, str, bytes]:
    """The text of an XML entity, its codec and its byte-order mark."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            body, encoding = data[len(bom) :], codec
            break
    else:
        bom = b""
        body = data
        m = _DECLARED_ENCODING.match(data)
        encoding = m.group(1).decode("ascii").lower() if m else "utf-8"
        if encoding in ("utf-16", "utf-32", "utf16", "utf32"):
            raise InvalidArgument.field("content", f"{what} declares {encoding} without a BOM")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InvalidArgument.field(
            "content", f"{what} declares an unknown encoding ({encoding[:40]})"
        ) from None
    try:
        return body.decode(encoding), encoding, bom
    except UnicodeDecodeError:
        raise InvalidArgument.field("content", f"{what} is not valid {encoding}") from None


def parse(data: bytes, what: str) -> XmlPart:
    """Tokenize the XML document `data` (`what` names it in errors: "word/document.xml")."""
    source, encoding, bom = decode(data, what)
    return XmlPart(source, tokenize(source, what), encoding, bom)


def tokenize(source: str, what: str) -> list[Token]:
    """The tokens of `source`, covering it without gaps."""
    utf8 = source.encode("utf-8", errors="surrogatepass")
    events = _Events()
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.ordered_attributes = False
    parser.buffer_text = False
    events.attach(parser)
    try:
        parser.Parse(utf8, True)
    except _Refused as refused:
        raise InvalidArgument.field("content", f"{what}: {refused.why}") from None
    except expat.ExpatError as e:
        reason = expat.ErrorString(e.code) if e.code is not None else "malformed"
        raise InvalidArgument.field(
            "content", f"{what} is not well-formed XML ({reason}, line {e.lineno})"
        ) from None
    except RecursionError:
        raise InvalidArgument.field("content", f"{what} is nested too deeply") from None
    return events.tokens(utf8, source)


class _Events:
    """Collects expat's events as (kind, byte offset, name, attrs, text)."""

    def __init__(self) -> None:
        self.kinds: list[int] = []
        self.at: list[int] = []
        self.names: list[str] = []
        self.attrs: list[dict[str, str]] = []
        self.texts: list[str] = []
        self.parser: expat.XMLParserType | None = None
        self.in_cdata = False

    def attach(self, p: expat.XMLParserType) -> None:
        self.parser = p
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        p.StartCdataSectionHandler = self._cdata_start
        p.EndCdataSectionHandler = self._cdata_end
        p.CommentHandler = lambda data: self._add(OTHER)
        p.ProcessingInstructionHandler = lambda target, data: self._add(OTHER)
        p.DefaultHandler = lambda data: self._add(OTHER)
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity
        p.ExternalEntityRefHandler = self._external

    def _add(self, kind: int, name: str = "", attrs: dict[str, str] | None = None) -> None:
        assert self.parser is not None
        self.kinds.append(kind)
        self.at.append(self.parser.CurrentByteIndex)
        self.names.append(name)
        self.attrs.append(attrs or {})
        self.texts.append("")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self._add(START, name, attrs)

    def _end(self, name: str) -> None:
        self._add(END, name)

    def _text(self, data: str) -> None:
        if self.in_cdata:
            self.texts[-1] += data
            return
        self._add(TEXT)
        self.texts[-1] = data

    def _cdata_start(self) -> None:
        self._add(TEXT)
        self.in_cdata = True

    def _cdata_end(self) -> None:
        self.in_cdata = False

    def _doctype(self, *args: object) -> None:
        raise _Refused("a DOCTYPE is not allowed (no DTDs, entities or external references)")

    def _entity(self, *args: object) -> None:
        raise _Refused("entity declarations are not allowed")

    def _external(self, *args: object) -> int:
        raise _Refused("external entities are not allowed")

    def tokens(self, utf8: bytes, source: str) -> list[Token]:
        n = len(self.kinds)
        chars = _char_offsets(utf8, source, self.at)
        tokens: list[Token] = []
        stack: list[int] = []
        for k in range(n):
            start = chars[k]
            end = chars[k + 1] if k + 1 < n else len(source)
            kind = self.kinds[k]
            if kind == OTHER and tokens and tokens[-1].kind == OTHER and tokens[-1].end == start:
                tokens[-1].end = end  # one run of markup expat passed to its default handler
                continue
            token = Token(kind, start, end, self.names[k], self.attrs[k], self.texts[k])
            if kind == START:
                stack.append(len(tokens))
            elif kind == END:
                opened = stack.pop()
                token.pair, tokens[opened].pair = opened, len(tokens)
                if opened == len(tokens) - 1 and source.endswith("/>", 0, start):
                    # An empty-element tag: its START holds the whole tag; this END is empty.
                    token.end = token.start
                    tokens[opened].end = start
            tokens.append(token)
        return tokens


def _char_offsets(utf8: bytes, source: str, at: list[int]) -> list[int]:
    """Expat's byte offsets (non-decreasing) as offsets into `source`."""
    if len(utf8) == len(source):
        return list(at)
    out: list[int] = []
    byte, char = 0, 0
    for b in at:
        if b > byte:
            char += len(utf8[byte:b].decode("utf-8", errors="surrogatepass"))
            byte = b
        out.append(char)
    return out


def escape_text(text: str, first: bool = False) -> str:
    """Output text as XML character data (`render.escape_xml`)."""
    return escape_xml(text, first)


def escape_attribute(value: str) -> str:
    return escape_text(value).replace('"', "&quot;")


_ATTRIBUTE = r"""(?<=\s){name}\s*=\s*(?:"[^"]*"|'[^']*')"""


def set_attribute(tag: str, name: str, value: str | None) -> str:
    """The start tag `tag` (as written) with attribute `name` (its qualified name as written,
    ``w:val``) set to `value`, appended before the tag's end when absent; removed when `value`
    is None. Everything else in the tag stays as it was."""
    pattern = re.compile(_ATTRIBUTE.format(name=re.escape(name)))
    m = pattern.search(tag)
    if value is None:
        if m is None:
            return tag
        start = m.start()
        while start > 0 and tag[start - 1].isspace():
            start -= 1
        return tag[:start] + tag[m.end() :]
    written = f'{name}="{escape_attribute(value)}"'
    if m is not None:
        return tag[: m.start()] + written + tag[m.end() :]
    close = len(tag) - (2 if tag.endswith("/>") else 1)
    while close > 0 and tag[close - 1].isspace():
        close -= 1
    return f"{tag[:close]} {written}{tag[close:]}"


def get_attribute(tag: str, name: str) -> str | None:
    """The value of attribute `name` (qualified name as written) in start tag `tag`, as
    written (not unescaped)."""
    m = re.compile(_ATTRIBUTE.format(name=re.escape(name))).search(tag)
    if m is None:
        return None
    value = m.group().split("=", 1)[1].strip()
    return value[1:-1]
