"""`newsmt.charsets`: documents in any encoding read, and written back byte for byte.

Pure functions: no server. Real pages from Debian's documentation (tests/data/pages, with their
licences in its README) and hand-made text in the encodings news is written in.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsmt import charsets
from newsmt.charsets import UndecodableError, decode, encode

PAGES = Path(__file__).resolve().parent / "data" / "pages"

ES = "El niño comió una piña en Málaga. ¿Qué pasó? El señor García lo explicó.\n"
RU = "Премьер-министр подал в отставку в понедельник. Об этом сообщили в Кремле.\n"


def round_trip(data: bytes, *, html: bool = False, encoding: str | None = None) -> bytes:
    decoded = decode(data, html=html, encoding=encoding)
    return encode(decoded.text, decoded, html=html).data


# -- reading -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "encoding"),
    [
        ("libxml2-tutorial-index.html", "cp1252"),  # declares ISO-8859-1: WHATWG's windows-1252
        ("libxml2-tutorial-ar01s09.html", "cp1252"),
        ("apache-ko-programs-htpasswd.html", "cp949"),  # declares EUC-KR: WHATWG's superset
        ("apache-ru-getting-started.html", "utf-8"),
        ("sqlite-windowfunctions.html", "utf-8"),
    ],
)
def test_real_pages_are_read_as_declared_and_written_back_byte_for_byte(
    page: str, encoding: str
) -> None:
    data = (PAGES / page).read_bytes()
    decoded = decode(data, html=True)
    assert (decoded.encoding, decoded.note) == (encoding, "")
    assert encode(decoded.text, decoded, html=True).data == data


def test_the_latin1_page_holds_the_characters_it_means() -> None:
    decoded = decode((PAGES / "libxml2-tutorial-index.html").read_bytes(), html=True)
    assert "Copyright © 2002" in decoded.text
    korean = decode((PAGES / "apache-ko-programs-htpasswd.html").read_bytes(), html=True)
    assert "사용자" in korean.text or "파일" in korean.text


@pytest.mark.parametrize(
    ("mark", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_a_byte_order_mark_decides_and_comes_back(mark: bytes, codec: str) -> None:
    data = mark + RU.encode(codec)
    decoded = decode(data)
    assert (decoded.text, decoded.encoding, decoded.bom, decoded.how) == (RU, codec, mark, "bom")
    assert encode("Другой текст.", decoded).data == mark + "Другой текст.".encode(codec)
    assert round_trip(data) == data


def test_a_byte_order_mark_wins_over_a_declaration() -> None:
    page = '<meta charset="iso-8859-1"><p>Señor</p>'
    decoded = decode(codecs.BOM_UTF8 + page.encode(), html=True)
    assert (decoded.encoding, decoded.how, decoded.text) == ("utf-8", "bom", page)


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (ES, "cp1252"),
        ("The “minister” said — nothing; it cost €5 in the end, they said.\n", "cp1252"),
        (RU, "cp1251"),
        (RU, "koi8-r"),
        (RU, "cp866"),
        ("Hello, world: " + RU, "utf-16-le"),
        ("Hello, world: " + RU, "utf-16-be"),
    ],
)
def test_legacy_encodings_of_news_are_detected(text: str, codec: str) -> None:
    data = text.encode(codec)
    decoded = decode(data)
    assert decoded.text == text and decoded.how == "detected"
    assert decoded.encoding == charsets.normalize(codec)
    assert "detected" in decoded.note and "--encoding" in decoded.note
    assert encode(decoded.text, decoded).data == data


def test_utf8_comes_first_and_says_nothing() -> None:
    decoded = decode(RU.encode())
    assert (decoded.text, decoded.encoding, decoded.how, decoded.note) == (RU, "utf-8", "utf-8", "")


@pytest.mark.parametrize(
    "head",
    [
        '<meta charset="windows-1251">',
        "<meta charset=windows-1251>",
        "<META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=windows-1251'>",
        '<?xml version="1.0" encoding="windows-1251"?>',
        '<!-- <meta charset="utf-8"> --><meta charset="windows-1251">',
    ],
)
def test_an_html_declaration_is_honoured(head: str) -> None:
    data = f"<html><head>{head}<title>x</title></head><body><p>{RU}</p></body></html>".encode(
        "cp1251"
    )
    decoded = decode(data, html=True)
    assert (decoded.encoding, decoded.how) == ("cp1251", "declared")
    assert RU in decoded.text
    assert decode(data).how == "detected"  # as plain text the declaration means nothing


def test_an_encoding_is_taken_only_where_the_text_encodes_back_to_the_same_bytes() -> None:
    """ISO-2022-JP reads a redundant escape sequence, and writes the text back without it."""
    data = b'<meta charset="iso-2022-jp"><p>\x1b(BHello.</p>'
    decoded = decode(data, html=True)
    assert decoded.encoding == "utf-8"
    assert encode(decoded.text, decoded, html=True).data == data


def test_a_declaration_after_the_head_is_no_declaration() -> None:
    data = f"<head></head><body><meta charset='koi8-r'>{RU}</body>".encode("cp1251")
    assert decode(data, html=True).how == "detected"


def test_a_page_declared_latin1_that_is_utf8_is_read_as_utf8_and_said() -> None:
    data = f'<meta charset="iso-8859-1"><p>{ES}</p>'.encode()
    decoded = decode(data, html=True)
    assert decoded.encoding == "utf-8" and ES in decoded.text
    assert "declares iso-8859-1 but is UTF-8" in decoded.note
    assert round_trip(data, html=True) == data  # the page is left as it was


def test_a_page_declared_utf8_that_is_not_is_detected_and_said() -> None:
    data = f'<meta charset="utf-8"><p>{RU}</p>'.encode("cp1251")
    decoded = decode(data, html=True)
    assert decoded.encoding == "cp1251" and "declares utf-8 but is not" in decoded.note


def test_encoding_given_wins() -> None:
    data = RU.encode("koi8-r")
    decoded = decode(data, encoding="KOI8-R")
    assert (decoded.text, decoded.encoding, decoded.how) == (RU, "koi8-r", "given")
    wrong = decode(data, encoding="cp1251")  # a wrong guess is taken at its word
    assert wrong.text != RU and round_trip(data, encoding="cp1251") == data
    with pytest.raises(UndecodableError, match="not valid utf-8"):
        decode(data, encoding="utf-8")
    big_endian = codecs.BOM_UTF16_BE + RU.encode("utf-16-be")
    assert decode(big_endian, encoding="utf-16").text == RU
    with pytest.raises(LookupError):
        decode(data, encoding="no-such-codec")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, id="png"),
        pytest.param(b"hello\x00world\x00" * 20, id="nul-in-utf8"),
        pytest.param(codecs.BOM_UTF16_LE + b"\x00", id="torn-utf16"),
    ],
)
def test_binary_is_refused_with_a_reason_that_quotes_nothing(data: bytes) -> None:
    with pytest.raises(UndecodableError) as info:
        decode(data)
    assert "hello" not in str(info.value) and str(info.value)


# -- writing -------------------------------------------------------------------------------------


def test_a_translation_that_fits_keeps_the_encoding() -> None:
    decoded = decode(ES.encode("cp1252"))
    assert decoded.encoding == "cp1252"
    other = "Señora Núñez, ¿dónde está el café?\n"
    out = encode(other, decoded)
    assert (out.data, out.encoding, out.note) == (other.encode("cp1252"), "cp1252", "")


def test_plain_text_that_does_not_fit_becomes_utf8_and_says_why() -> None:
    decoded = decode(ES.encode("cp1252"))
    out = encode(RU, decoded)
    assert (out.data, out.encoding) == (RU.encode(), "utf-8")
    assert "does not fit cp1252" in out.note and "U+041F" in out.note


LATIN_PAGE = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
    "<title>Señor</title></head><body><p>Señor García.</p></body></html>"
)


def test_html_keeps_its_encoding_with_character_references_where_letters_fit() -> None:
    decoded = decode(LATIN_PAGE.encode("latin-1"), html=True)
    spanish = LATIN_PAGE.replace("García.", "García → “Málaga” ☃.")
    out = encode(spanish, decoded, html=True)
    assert out.encoding == "cp1252" and out.note == "" and out.references == 2
    assert b"&#8594;" in out.data and b"&#9731;" in out.data and b"\x93M\xe1laga\x94" in out.data
    assert out.data.decode("cp1252").replace("&#8594;", "→").replace("&#9731;", "☃") == spanish


def test_html_whose_letters_do_not_fit_becomes_utf8_and_declares_it() -> None:
    decoded = decode(LATIN_PAGE.encode("latin-1"), html=True)
    russian = LATIN_PAGE.replace("Señor García.", "Господин Гарсиа.")
    out = encode(russian, decoded, html=True)
    assert out.encoding == "utf-8" and "declaration now says utf-8" in out.note
    assert out.data == russian.replace("charset=ISO-8859-1", "charset=utf-8").encode()
    assert decode(out.data, html=True).encoding == "utf-8"


def test_html_without_a_declaration_gets_one_when_it_turns_utf8() -> None:
    page = f"<html><head><title>x</title></head><body><p>{ES}</p></body></html>"
    decoded = decode(page.encode("cp1252"), html=True)
    assert decoded.how == "detected"
    out = encode(page.replace(ES, RU), decoded, html=True)
    assert out.data.startswith(b'<html><head><meta charset="utf-8"><title>')
    assert "added" in out.note


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_whatever_bytes_are_read_come_back_exactly(data: bytes) -> None:
    """Any bytes `decode` accepts, in any way, `encode` gives back unchanged."""
    for html in (False, True):
        try:
            decoded = decode(data, html=html)
        except UndecodableError:
            continue
        assert "\0" not in decoded.text
        assert encode(decoded.text, decoded, html=html).data == data


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=200),
    st.sampled_from(["utf-8", "cp1252", "cp1251", "koi8-r", "utf-16-le", "iso8859-15"]),
)
def test_text_in_an_encoding_it_fits_comes_back_exactly(text: str, codec: str) -> None:
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        return
    try:
        decoded = decode(data)
    except UndecodableError:
        # NUL is never text; short text in another encoding may be too little to detect.
        assert "\0" in text or codec != "utf-8"
        return
    assert encode(decoded.text, decoded).data == data
    if codec == "utf-8" and "\0" not in text:
        assert decoded.text == text
