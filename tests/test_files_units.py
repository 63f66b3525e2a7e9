"""The rules of each format, one at a time: subtitle line breaking and flags, XLIFF states,
file kinds and names."""

from __future__ import annotations

import pytest

from newsmt.pipeline.documents import TokenLink, diagonal
from newsmt.pipeline.documents.files import SUPPORTED, open_file
from newsmt.pipeline.documents.files.kinds import BY_KIND, file_name_for, resolve
from newsmt.pipeline.documents.files.subtitles import GLUE, glue_names
from newsmt.pipeline.documents.model import UnitOutput
from newsmt.pipeline.quality import Flag

from .documents_fakes import upper

SRT = (
    "1\n00:00:01,000 --> 00:00:04,000\nThe minister said\n\n"
    "2\n00:00:04,100 --> 00:00:08,000\nthat the talks would resume.\n"
)


def translate_all(content: bytes, name: str, fn, target: str = "ru", flags=None):  # type: ignore[no-untyped-def]
    doc = open_file(content, file_name=name)
    outs: list[list[UnitOutput | None]] = [[fn(u.text) for u in p.units] for p in doc.parts]
    return doc, doc.write(outs, target, flags)


def word_for_word(words: dict[str, str]):  # type: ignore[no-untyped-def]
    """A translator that replaces each word and aligns it to its source word."""

    def fn(text: str) -> tuple[str, tuple[TokenLink, ...]]:
        out: list[str] = []
        links: list[TokenLink] = []
        at = 0
        src = 0
        for word in text.split(" "):
            s = text.index(word, src)
            src = s + len(word)
            new = words.get(word, word)
            if out:
                at += 1
            links.append(TokenLink(at, at + len(new), s, s + len(word)))
            out.append(new)
            at += len(new)
        return " ".join(out), tuple(links)

    return fn


# -- subtitles --------------------------------------------------------------------------------


def test_a_sentence_across_cues_is_one_unit_and_each_cue_gets_its_share() -> None:
    doc, written = translate_all(SRT.encode(), "a.srt", upper)
    [part] = doc.parts
    assert [u.text for u in part.units] == ["The minister said that the talks would resume."]
    assert doc.location(0, 0) == "cues 1–2"
    text = written.content.decode()
    assert "00:00:01,000 --> 00:00:04,000\nTHE MINISTER SAID\n\n2\n" in text
    assert text.endswith("THAT THE TALKS WOULD RESUME.\n")


def test_long_translations_are_wrapped_in_two_lines_within_the_limit() -> None:
    long = word_for_word({"minister": "minister-of-foreign-affairs-and-trade"})
    _, written = translate_all(SRT.encode(), "a.srt", long, target="en")
    cue = written.content.decode().split("\n\n")[0].split("\n")[2:]
    assert len(cue) == 2 and all(len(line) <= 42 for line in cue)
    assert not written.flags_by_location.get("cue 1")


def test_russian_lines_are_held_to_39_characters() -> None:
    line = "Premier ministre Jean Dupont a dit hier soir"  # 44 characters
    srt = f"1\n00:00:01,000 --> 00:00:09,000\n{line}\n"
    _, en = translate_all(srt.encode(), "a.srt", word_for_word({"hier": "hiers"}), target="en")
    _, ru = translate_all(srt.encode(), "a.srt", word_for_word({"hier": "hiers"}), target="ru")
    en_lines = en.content.decode().strip().split("\n")[2:]
    ru_lines = ru.content.decode().strip().split("\n")[2:]
    assert len(en_lines) == 2  # 45 > 42
    assert all(len(x) <= 39 for x in ru_lines)


def test_a_line_never_breaks_inside_a_name_the_alignment_shows() -> None:
    text = "Yesterday in Brussels the spokesman Jean-Claude Van Damme answered"
    srt = f"1\n00:00:01,000 --> 00:00:09,000\n{text}\n"
    _, written = translate_all(srt.encode(), "a.srt", word_for_word({"answered": "replied"}))
    lines = written.content.decode().strip().split("\n")[2:]
    assert len(lines) == 2
    assert any("Jean-Claude Van Damme" in line for line in lines)
    # Without an alignment, runs of capitalised words in the output itself are names.
    glued = glue_names("Ask John Smith now", "спросите John Smith сейчас", None)
    assert glued == f"спросите John{GLUE}Smith сейчас"
    aligned = glue_names("Ask John Smith now", "Ask John Smith now", diagonal("Ask John Smith now"))
    assert aligned.count(GLUE) == 2  # "Ask John Smith": capitalised from the sentence start


def test_a_cue_that_cannot_fit_is_flagged_and_a_fast_one_too() -> None:
    words = " ".join(["word"] * 30)
    srt = f"1\n00:00:01,000 --> 00:00:02,000\n{words}\n"
    _, written = translate_all(srt.encode(), "a.srt", upper)
    assert written.flags_by_location["cue 1"] == {Flag.SUBTITLE_TOO_LONG, Flag.READING_SPEED}
    assert written.flags[(0, 0)] == {Flag.SUBTITLE_TOO_LONG, Flag.READING_SPEED}
    slow = "1\n00:00:01,000 --> 00:00:09,000\nA short line.\n"
    _, calm = translate_all(slow.encode(), "a.srt", upper)
    assert not calm.flags


def test_a_translation_that_fits_keeps_the_source_layout() -> None:
    srt = "1\n00:00:01,000 --> 00:00:06,000\n- Are you coming?\n- Yes.\n"
    _, written = translate_all(srt.encode(), "a.srt", upper)
    assert written.content.decode().endswith("- ARE YOU COMING?\n- YES.\n")
    two = "1\n00:00:01,000 --> 00:00:06,000\nThe storm hit the coast\nlate on Sunday night.\n"
    _, written = translate_all(two.encode(), "a.srt", upper)
    assert written.content.decode().endswith("THE STORM HIT THE COAST\nLATE ON SUNDAY NIGHT.\n")


def test_subtitle_encodings_are_kept() -> None:
    for data in (b"\xef\xbb\xbf" + SRT.encode(), b"\xff\xfe" + SRT.encode("utf-16-le")):
        _, written = translate_all(data, "a.srt", upper)
        assert written.content[:3] == data[:3]
        text = written.content.decode("utf-8-sig" if data[0] == 0xEF else "utf-16")
        assert "THE MINISTER SAID" in text


def test_subtitles_in_legacy_encodings_are_read_and_kept_where_the_translation_fits() -> None:
    """Many subtitle tools still write windows-1251 (Russian) and windows-1252 (Spanish)."""
    russian = (
        "1\n00:00:01,000 --> 00:00:04,000\nМинистр заявил,\n\n"
        "2\n00:00:04,100 --> 00:00:08,000\nчто переговоры возобновятся.\n"
    )
    spanish = "1\n00:00:01,000 --> 00:00:04,000\nEl ministro dijo que sí, señor.\n"
    for text, codec in ((russian, "cp1251"), (spanish, "cp1252")):
        data = text.encode(codec)
        _, same = translate_all(data, "a.srt", lambda t: (t, None))
        assert same.content == data
        _, written = translate_all(data, "a.srt", upper)
        assert written.content.decode(codec) == text.upper()
    # A translation the file's encoding cannot hold is written as UTF-8.
    _, cyrillic = translate_all(spanish.encode("cp1252"), "a.srt", lambda t: ("Да, сэр.", None))
    assert "Да, сэр." in cyrillic.content.decode("utf-8")


# -- XLIFF --------------------------------------------------------------------------------------

XLF12 = b"""<?xml version="1.0"?>
<xliff version="1.2" xmlns="urn:oasis:names:tc:xliff:document:1.2">
 <file source-language="en-GB" target-language="de" datatype="plaintext" original="a">
  <body>
   <trans-unit id="a"><source>Good <g id="1">news</g>.</source></trans-unit>
   <trans-unit id="b"><source>Bad news.</source><target state="final">Schlecht.</target></trans-unit>
  </body>
 </file>
</xliff>"""


def test_xliff_12_states_say_machine_translation_and_flags() -> None:
    doc, written = translate_all(XLF12, "a.xlf", upper, flags={(0, 0): {Flag.LOW_CONFIDENCE}})
    assert doc.source_language == "en"
    assert doc.location(0, 0) == "a"
    text = written.content.decode()
    assert 'target-language="ru"' in text and 'target-language="de"' not in text
    assert (
        '<target state="needs-review-translation" state-qualifier="leveraged-mt">'
        'GOOD <g id="1">NEWS</g>.</target>' in text
    )
    assert '<target state="final">Schlecht.</target>' in text
    _, unflagged = translate_all(XLF12, "a.xlf", upper)
    assert '<target state="translated">GOOD' in unflagged.content.decode()


def test_xliff_untranslated_units_keep_their_targets() -> None:
    doc = open_file(XLF12, file_name="a.xlf")
    written = doc.write([[None for _ in p.units] for p in doc.parts], "ru")
    assert b"<target" not in written.content.replace(b'<target state="final">', b"")


XLF20 = b"""<xliff xmlns="urn:oasis:names:tc:xliff:document:2.0" version="2.0" srcLang="en">
 <file id="f"><unit id="u"><segment id="s" state="initial" subState="x:y"><source>Polls <pc id="1">close</pc> at eight.</source><target>Alt.</target></segment></unit></file>
</xliff>"""


def test_xliff_20_sets_state_substate_and_trglang() -> None:
    _, written = translate_all(XLF20, "a.xlf", upper, flags={(0, 0): {Flag.NUMBER_MISMATCH}})
    text = written.content.decode()
    assert 'srcLang="en" trgLang="ru"' in text
    assert '<segment id="s" state="translated" subState="newsmt:number-mismatch">' in text
    assert '<target>POLLS <pc id="1">CLOSE</pc> AT EIGHT.</target>' in text
    _, plain = translate_all(XLF20, "a.xlf", upper)
    assert '<segment id="s" state="translated">' in plain.content.decode()


# -- kinds and names ------------------------------------------------------------------------------


def test_kind_from_mime_then_extension_then_content() -> None:
    srt = SRT.encode()
    assert resolve(srt, "application/x-subrip; charset=utf-8", "x.docx").kind == "srt"
    assert resolve(srt, "", "Clip.SRT").kind == "srt"
    assert resolve(srt, "", "").kind == "srt"
    assert resolve(b"\xef\xbb\xbfWEBVTT\n\n", "", "").kind == "vtt"
    assert resolve(XLF12, "", "").kind == "xliff"
    assert resolve(b"<!DOCTYPE html><html><body><p>Hi.</p>", "", "").kind == "html"
    assert resolve(b"Plain words.", "text/plain", "").kind == "txt"
    assert resolve(b"# Title", "", "notes.md").kind == "markdown"
    assert {k.kind for k in SUPPORTED} == {
        *("docx", "pptx", "xlsx", "srt", "vtt", "xliff"),
        *("txt", "html", "markdown"),
    }


@pytest.mark.parametrize(
    ("original", "target", "expected"),
    [
        ("report.docx", "ru", "report.ru.docx"),
        ("dir/Clip.final.srt", "es", "Clip.final.es.srt"),
        ("", "ru", "document.ru.docx"),
        ("notes", "ru", "notes.ru.docx"),
    ],
)
def test_file_names_for_the_translation(original: str, target: str, expected: str) -> None:
    assert (
        file_name_for(original, BY_KIND["srt" if "srt" in original else "docx"], target) == expected
    )
