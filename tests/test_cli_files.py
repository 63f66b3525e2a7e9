"""`newsmt translate` on files: Word, PowerPoint, Excel, subtitles and XLIFF come back in their
format beside the input (or under --out-dir); a folder of mixed files works; flagged places are
named on stderr."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from newsmt.cli.main import main
from newsmt.server.app import NewsmtServer

from . import files_samples

DATA = Path(__file__).parent / "data" / "files"
#: One file of each kind TranslateDocument takes, and the text kinds beside them.
MIXED = {
    "report.docx": files_samples.docx_file(),
    "deck.pptx": (DATA / "python-pptx_test.pptx").read_bytes(),
    "figures.xlsx": files_samples.xlsx_file(),
    "clip.srt": (DATA / "newsmt_features.srt").read_bytes(),
    "clip.vtt": (DATA / "newsmt_features.vtt").read_bytes(),
    "story.xlf": (DATA / "newsmt_states12.xlf").read_bytes(),
    "notes.txt": "The council met on Tuesday.\n".encode("cp1252"),
    "page.html": b"<p>The <b>mayor</b> spoke.</p>",
    "story.md": b"# Budget\n\nThe **council** approved it.\n",
}


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def test_a_docx_is_written_beside_it_as_report_ru_docx(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "report.docx"
    source.write_bytes(MIXED["report.docx"])
    args = ["translate", "--address", identity_server[1], "--to", "ru", str(source)]
    assert main(args) == 0
    out = tmp_path / "report.ru.docx"
    assert entries(out.read_bytes()) == entries(source.read_bytes())
    err = capsys.readouterr().err
    assert f"{source} -> {out}" in err and "identity engine" in err


def test_a_folder_of_every_kind_goes_under_out_dir(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    for name, data in MIXED.items():
        (folder / name).write_bytes(data)
    out = tmp_path / "out"
    args = ["translate", "--address", identity_server[1], "--to", "es", "--from", "en"]
    assert main([*args, "--out-dir", str(out), "--format", "jsonl", str(tmp_path / "in")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == len(MIXED) and all(r["ok"] for r in records)
    for name, data in MIXED.items():
        stem, suffix = name.rsplit(".", 1)
        written = (out / "sub" / f"{stem}.es.{suffix}").read_bytes()
        if suffix in ("docx", "pptx", "xlsx"):
            assert entries(written) == entries(data), name
        elif suffix != "xlf":  # XLIFF gains its targets
            assert written == data, name
    xliff = (out / "sub" / "story.es.xlf").read_bytes()
    assert b'target-language="es"' in xliff


def test_flagged_places_are_named_on_stderr(
    tiny_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.srt"
    shutil.copy(DATA / "newsmt_features.srt", clip)
    args = ["translate", "--address", tiny_server[1], "--to", "ru", "--from", "en", str(clip)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "demo model" in err
    # Random weights fill every cue to its bound: the places to check are named, by cue.
    assert "clip.srt: check" in err and "cue " in err
    assert (tmp_path / "clip.ru.srt").exists()


def test_summarize_refuses_a_word_file_by_name(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "report.docx"
    source.write_bytes(MIXED["report.docx"])
    assert main(["summarize", "--address", identity_server[1], str(source)]) == 1
    assert "report.docx: only translate takes this kind of file" in capsys.readouterr().err
