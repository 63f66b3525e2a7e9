"""Documents in any encoding: bytes to text for translation, and the translation back to bytes.

Pure functions with no newsmt imports, so that the `newsmt` command and the server (which
translates uploaded files) read and write documents by the same rules.

Reading (`decode`), the first rule that applies wins:

1. `encoding=` (the CLI's `--encoding`): that codec, strictly; a byte-order mark of the same
   encoding is dropped.
2. A byte-order mark (UTF-8, UTF-16 or UTF-32) decides, as in the WHATWG Encoding Standard's
   "decode" (encoding.spec.whatwg.org/#decode).
3. HTML that declares its encoding (`<meta charset>`, `<meta http-equiv="Content-Type"
   content="...; charset=...">`, or an XML declaration) is read in it when its bytes are ASCII
   or not UTF-8 (labels as WHATWG maps them: `iso-8859-1` and `us-ascii` mean windows-1252).
   Bytes that are valid UTF-8 with other characters than ASCII are UTF-8 whatever the page says
   (a page saved as UTF-8 and mislabelled; valid UTF-8 by chance is vanishingly rare), and
   `Decoded.note` says so.
4. UTF-8.
5. Detection with charset-normalizer, first among the encodings English, Russian and Spanish
   text is written in, then among every encoding it knows.

Rules 3 and 5 take an encoding only where the text encodes back to exactly the same bytes
(a stateful codec such as ISO-2022-JP may not), so that what is read is what is written.

A decoding with a NUL character is refused (binary, or UTF-16 without a mark read as UTF-8):
`UndecodableError`, whose message names what was tried and never quotes the bytes.

Writing (`encode`) keeps the input's encoding where the translation fits in it. In HTML a
character that does not fit becomes a numeric character reference (`&#8364;`) as long as every
letter and digit fits (a Spanish page in windows-1252 keeps its encoding when the model writes
a euro sign); when letters do not fit (Russian into windows-1252), and in plain text and
Markdown when any character does not fit, the output is UTF-8, and an HTML page's declaration
is rewritten to say `utf-8` (or one is added after `<head>`). A byte-order mark is written back
as it came. So text that comes back unchanged is the input, byte for byte.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Decoded", "Encoded", "UndecodableError", "decode", "encode", "normalize"]

#: Byte-order marks, longest first (UTF-32 LE starts with UTF-16 LE's mark).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

#: Labels the WHATWG Encoding Standard maps to another encoding than Python does
#: (encoding.spec.whatwg.org/#names-and-labels), by Python's codec name: the codecs tried in
#: order. Latin-1 last: it maps every byte, so a windows-1252 page with an unassigned byte
#: (0x81, 0x8D, 0x8F, 0x90, 0x9D) still round-trips.
_WHATWG = {
    "iso8859-1": ("cp1252", "iso8859-1"),
    "ascii": ("cp1252", "iso8859-1"),
    "iso8859-9": ("cp1254", "iso8859-9"),
    "tis-620": ("cp874", "tis-620"),
    "euc_kr": ("cp949",),
    "gb2312": ("gbk", "gb18030"),
    "gbk": ("gbk", "gb18030"),
    "shift_jis": ("cp932", "shift_jis"),
}

#: Tried first by detection: the legacy encodings of English, Russian and Spanish text, and
#: UTF-16/32 without a byte-order mark. Detection over every encoding picks cp437 for
#: windows-1252 with curly quotes and mac_cyrillic for windows-1251 news (measured with
#: charset-normalizer 3.5 on one-sentence samples); this list gets both right.
_LIKELY = (
    "cp1252",
    "iso8859_15",
    "cp1251",
    "koi8_r",
    "koi8_u",
    "iso8859_5",
    "cp866",
    "utf_16_le",
    "utf_16_be",
    "utf_32_le",
    "utf_32_be",
)

#: Only this much of an HTML document is searched for its encoding declaration (the WHATWG
#: prescan reads 1024 bytes; real pages put long comments and scripts first).
_HEAD_BYTES = 64 * 1024

_DECLARATION = re.compile(
    r"<!--.*?-->"  # skipped: a declaration inside a comment is no declaration
    r"|<\?xml\b[^>]*?\bencoding\s*=\s*[\"']?(?P<xml>[^\s\"'?>]+)"
    r"|<meta\b(?P<meta>[^>]*)>"
    r"|<(?:body|/head)\b",
    re.IGNORECASE | re.DOTALL,
)
_ATTRIBUTE = re.compile(
    r"""(?P<name>[^\s=/>"']+)(?:\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s>]+)))?"""
)
_CONTENT_CHARSET = re.compile(r"charset\s*=\s*[\"']?(?P<label>[^\s;\"']+)", re.IGNORECASE)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


class UndecodableError(ValueError):
    """The bytes are not text in any encoding tried; the message says what was tried."""


@dataclass(frozen=True)
class Decoded:
    """A document's text and how it was read."""

    text: str
    #: Python's codec name ("utf-8", "cp1252", "utf-16-le", ...): the output's, where it fits.
    encoding: str
    #: The byte-order mark the input began with (b"" when none); written back as it came.
    bom: bytes = b""
    #: "given" (--encoding), "bom", "declared" (HTML), "utf-8" or "detected".
    how: str = "utf-8"
    #: Something the reader should know ("" when nothing): a mislabelled page, a guess.
    note: str = ""


@dataclass(frozen=True)
class Encoded:
    """A translation as bytes."""

    data: bytes
    #: The codec written in: the input's, or "utf-8" when the translation did not fit in it.
    encoding: str
    #: Characters written as numeric character references (HTML only).
    references: int = 0
    #: Why the encoding changed from the input's ("" when it did not).
    note: str = ""


def normalize(label: str) -> str:
    """Python's codec name for an encoding label ("Latin-1" -> "iso8859-1"); LookupError when
    Python has no such codec."""
    return codecs.lookup(label.strip()).name


def decode(data: bytes, *, html: bool = False, encoding: str | None = None) -> Decoded:
    """The text of a document (see the module's rules). `html`: honour its declaration.
    UndecodableError when no rule gives text; LookupError for an unknown `encoding`."""
    if encoding:
        codec = normalize(encoding)
        bom = b""
        for mark, exact in _BOMS:
            if _same(exact, codec) and data.startswith(mark):
                bom, codec = mark, exact  # the mark says which byte order
                break
        else:
            if codec in {"utf-16", "utf-32"}:  # no mark: little-endian, as Windows writes
                codec += "-le"
        text = _strict(data[len(bom) :], codec, exact=False)  # as the caller says
        if text is None:
            raise UndecodableError(f"not valid {codec} (given by --encoding)")
        return _checked(Decoded(text, codec, bom, "given"))
    for mark, codec in _BOMS:
        if data.startswith(mark):
            text = _strict(data[len(mark) :], codec)
            if text is None:
                raise UndecodableError(f"begins with a {codec} byte-order mark but is not {codec}")
            return _checked(Decoded(text, codec, mark, "bom"))
    utf8 = _strict(data, "utf-8")
    declared = _declared(data) if html else None
    if declared is not None:
        label, candidates = declared
        if utf8 is not None and not data.isascii() and not _same(candidates[0], "utf-8"):
            note = f"declares {label} but is UTF-8: read as UTF-8; --encoding {label} to override"
            return _checked(Decoded(utf8, "utf-8", how="utf-8", note=note))
        for codec in candidates:
            text = _strict(data, codec)
            if text is not None and "\0" not in text:
                return _checked(Decoded(text, codec, how="declared"))
    if utf8 is not None and "\0" not in utf8:
        return Decoded(utf8, "utf-8")
    return _checked(_detect(data, declared[0] if declared else ""))


def encode(text: str, source: Decoded, *, html: bool = False) -> Encoded:
    """`text` (a translation of `source`) as bytes, by the module's rules."""
    codec = source.encoding
    try:
        return Encoded(source.bom + text.encode(codec), codec)
    except UnicodeEncodeError:
        pass
    unfit = sorted(c for c in set(text) if not _fits(c, codec))
    if html and _letters_fit(text, codec):
        data = text.encode(codec, errors="xmlcharrefreplace")
        missing = set(unfit)
        return Encoded(source.bom + data, codec, sum(1 for c in text if c in missing))
    shown = ", ".join(f"U+{ord(c):04X}" for c in unfit[:3]) + (", ..." if len(unfit) > 3 else "")
    note = f"written as UTF-8: the translation does not fit {codec} ({shown})"
    if html:
        text, said = _redeclare(text, "utf-8")
        note += "; " + said
    return Encoded(text.encode("utf-8"), "utf-8", note=note)


# -- reading -------------------------------------------------------------------------------------


def _strict(data: bytes, codec: str, *, exact: bool = True) -> str | None:
    """`data` in `codec`, or None when it is not valid there or (`exact`) would not encode back
    to the same bytes (stateful codecs such as ISO-2022-JP): text that comes back unchanged
    must be the input, byte for byte."""
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    if not exact:
        return text
    try:
        same = text.encode(codec) == data
    except UnicodeEncodeError:
        same = False
    return text if same else None


def _same(a: str, b: str) -> bool:
    """True when two codec names are one family's (utf-16-le and utf_16 are both UTF-16)."""

    def family(name: str) -> str:
        name = normalize(name)
        return name.rsplit("-", 1)[0] if name.endswith(("-le", "-be")) else name

    return family(a) == family(b)


def _checked(decoded: Decoded) -> Decoded:
    if "\0" in decoded.text:
        raise UndecodableError(
            f"holds NUL characters when read as {decoded.encoding}: not a text file"
        )
    return decoded


def _declared(data: bytes) -> tuple[str, tuple[str, ...]] | None:
    """The encoding an HTML document declares: (its label, the codecs to try), or None."""
    found = declaration(data[:_HEAD_BYTES].decode("latin-1"))
    if found is None:
        return None
    label = found[0]
    try:
        codec = normalize(label)
    except LookupError:
        return None
    if codec.startswith(("utf-16", "utf-32")):
        # A declaration readable as ASCII cannot be UTF-16 (WHATWG: it means UTF-8).
        codec = "utf-8"
    return label, _WHATWG.get(codec, (codec,))


def declaration(head: str) -> tuple[str, int, int] | None:
    """The first encoding declaration of an HTML document's head: (label, start, end) of the
    label in `head`, or None. Comments are skipped; the search ends at `<body` or `</head>`."""
    for match in _DECLARATION.finditer(head):
        if match.group("xml"):
            return match.group("xml"), match.start("xml"), match.end("xml")
        attributes = match.group("meta")
        if attributes is None:
            if match.group(0).startswith("<!--"):
                continue
            return None  # the head is over
        offset = match.start("meta")
        values: dict[str, tuple[str, int]] = {}
        for attribute in _ATTRIBUTE.finditer(attributes):
            name = attribute.group("name").lower()
            for group in ("dq", "sq", "bare"):
                if attribute.group(group) is not None:
                    values.setdefault(name, (attribute.group(group), attribute.start(group)))
                    break
        if "charset" in values:
            label, start = values["charset"]
            if label.strip():
                return label.strip(), offset + start, offset + start + len(label.strip())
        equiv = values.get("http-equiv", ("", 0))[0].strip().lower()
        if equiv == "content-type" and "content" in values:
            content, start = values["content"]
            charset = _CONTENT_CHARSET.search(content)
            if charset:
                at = offset + start + charset.start("label")
                return charset.group("label"), at, at + len(charset.group("label"))
    return None


def _detect(data: bytes, declared: str) -> Decoded:
    """The first encoding charset-normalizer ranks best that reads `data` exactly and without
    NUL characters: among _LIKELY first, then among every encoding it knows."""
    from charset_normalizer import from_bytes

    said = f"declares {declared} but is not; " if declared else ""
    for isolation in (list(_LIKELY), None):
        for match in from_bytes(data, cp_isolation=isolation):
            codec = normalize(match.encoding)
            text = _strict(data, codec)
            if text is not None and "\0" not in text:
                note = f"{said}not UTF-8: read as {codec} (detected; --encoding to override)"
                return Decoded(text, codec, how="detected", note=note)
    raise UndecodableError(
        f"{said}not UTF-8, and no encoding detected (binary?); --encoding names one"
    )


# -- writing -------------------------------------------------------------------------------------


def _fits(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _letters_fit(text: str, codec: str) -> bool:
    """True when every letter and digit of `text` can be written in `codec`."""
    return all(_fits(c, codec) for c in set(text) if unicodedata.category(c)[0] in {"L", "N", "M"})


def _redeclare(text: str, label: str) -> tuple[str, str]:
    """`text` (an HTML document) declaring `label`; and what was done, in words."""
    found = declaration(text[:_HEAD_BYTES])
    if found is not None:
        _, start, end = found
        return text[:start] + label + text[end:], f"its declaration now says {label}"
    head = _HEAD.search(text[:_HEAD_BYTES])
    if head is not None:
        at = head.end()
        return text[:at] + f'<meta charset="{label}">' + text[at:], f"<meta charset> {label} added"
    return text, "it has no <head> to declare it in"
