"""`newsmt translate` and `summarize` on files as users have them: any encoding, folders with a
bad file in them, stdout that must carry exactly the translation, --out-dir, glossary files,
option values, and what the identity engine is called. Real `newsmt` processes against the
session's identity server (output = input, so every byte can be checked)."""

from __future__ import annotations

import argparse
import codecs
import json
import os
import subprocess
from pathlib import Path

import pytest

from newsmt.cli import _glossary, _options
from newsmt.cli.main import build_parser
from newsmt.server.app import NewsmtServer

from .conftest import ROOT
from .support import NEWSMT

ES = "El niño comió una piña en Málaga. ¿Qué pasó? El señor García lo explicó.\n"
RU = "Премьер-министр подал в отставку в понедельник. Об этом сообщили в Кремле.\n"
LATIN_PAGE = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
    "<title>El ministro</title></head><body><p>The minister met Señor García.</p></body></html>"
)


def newsmt(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(
        [*NEWSMT, *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    return result


@pytest.fixture
def address(identity_server: tuple[NewsmtServer, str]) -> str:
    return identity_server[1]


def err(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode()


# -- encodings and stdout -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("news.txt", ES.encode("cp1252"), id="windows-1252"),
        pytest.param("news.txt", RU.encode("cp1251"), id="windows-1251"),
        pytest.param("news.txt", RU.encode("koi8-r"), id="koi8-r"),
        pytest.param("news.txt", codecs.BOM_UTF16_LE + RU.encode("utf-16-le"), id="utf-16"),
        pytest.param("news.md", codecs.BOM_UTF8 + b"# Title\n\n" + ES.encode(), id="utf-8-bom"),
        pytest.param("page.html", LATIN_PAGE.encode("latin-1"), id="latin-1-html"),
        pytest.param("page.html", b"<p>No newline at the end.</p>", id="no-final-newline"),
    ],
)
def test_one_file_on_stdout_is_that_file_byte_for_byte(
    address: str, tmp_path: Path, name: str, data: bytes
) -> None:
    """Files not in UTF-8 ended in a traceback; stdout gained a newline."""
    path = tmp_path / name
    path.write_bytes(data)
    result = newsmt("translate", "--to", "ru", "--from", "en", "--address", address, str(path))
    assert result.returncode == 0, err(result)
    assert result.stdout == data


def test_the_detected_encoding_is_named_and_encoding_overrides_it(
    address: str, tmp_path: Path
) -> None:
    path = tmp_path / "news.txt"
    path.write_bytes(RU.encode("koi8-r"))
    detected = newsmt(
        "translate", "--to", "en", "--format", "jsonl", "--address", address, str(path)
    )
    assert "not UTF-8: read as koi8-r (detected" in err(detected)
    record = json.loads(detected.stdout)
    assert record["text"] == RU and record["encoding"] == "koi8-r"
    forced = newsmt(
        "translate", "--to", "en", "--from", "ru", "--encoding", "cp1251", "--format", "jsonl",
        "--address", address, str(path),
    )  # fmt: skip
    assert json.loads(forced.stdout)["text"] == RU.encode("koi8-r").decode("cp1251")
    bad = newsmt("translate", "--to", "en", "--encoding", "martian", "--address", address, "-")
    assert bad.returncode == 2 and "unknown encoding: 'martian'" in err(bad)


def test_a_translation_that_does_not_fit_the_page_turns_it_utf8_and_says_so(
    address: str, tmp_path: Path
) -> None:
    """The glossary puts Cyrillic into a latin-1 page (the identity engine adds nothing):
    the output is UTF-8 and its <meta> says so; a sign that latin-1 lacks becomes a numeric
    character reference while the letters fit."""
    page = tmp_path / "page.html"
    page.write_bytes(LATIN_PAGE.encode("latin-1"))
    terms = tmp_path / "terms.tsv"
    terms.write_text("minister\tминистр\n", encoding="utf-8")
    args = ("translate", "--to", "ru", "--from", "en", "--address", address)
    russian = newsmt(*args, "--glossary", str(terms), str(page))
    assert russian.returncode == 0, err(russian)
    expected = LATIN_PAGE.replace("charset=ISO-8859-1", "charset=utf-8")
    assert russian.stdout == expected.replace("minister", "министр").encode()
    assert "written as UTF-8" in err(russian) and "now says utf-8" in err(russian)
    terms.write_text("minister\tminister ★\n", encoding="utf-8")
    star = newsmt(*args, "--glossary", str(terms), str(page))
    assert star.stdout == LATIN_PAGE.replace("minister", "minister &#9733;").encode("latin-1")
    assert "1 character(s) that cp1252 cannot hold" in err(star)


def test_several_inputs_on_stdout_are_utf8_each_ending_with_a_newline(
    address: str, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_bytes(ES.encode("cp1252").rstrip(b"\n"))
    (tmp_path / "b.txt").write_bytes(RU.encode())
    result = newsmt("translate", "--to", "en", "--address", address, str(tmp_path))
    assert result.returncode == 0, err(result)
    assert result.stdout == (ES + RU).encode()


def test_stream_adds_nothing_after_the_translation(address: str, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"<p>First sentence. Second one.</p><p>Third.</p>")
    result = newsmt("translate", "--to", "ru", "--from", "en", "--stream", "--address", address, str(page))  # fmt: skip
    assert result.returncode == 0 and result.stdout == page.read_bytes()


# -- folders, --out-dir, failures ---------------------------------------------------------------


def test_out_dir_writes_one_file_per_input_keeping_the_folder_layout(
    address: str, tmp_path: Path
) -> None:
    news = tmp_path / "news"
    (news / "world").mkdir(parents=True)
    (news / "a.txt").write_bytes(ES.encode("cp1252"))
    (news / "world" / "page.html").write_bytes(LATIN_PAGE.encode("latin-1"))
    (news / "notes.json").write_text("{}")  # not a document: left alone
    single = tmp_path / "single.md"
    single.write_bytes(b"# Hello\n")
    out = tmp_path / "out"
    result = newsmt(
        "translate", "--to", "es", "--from", "en", "--out-dir", str(out), "--address", address,
        str(news), str(single),
    )  # fmt: skip
    assert result.returncode == 0, err(result)
    assert result.stdout == b""
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a.es.txt", "single.es.md", "world/page.es.html"]
    assert (out / "a.es.txt").read_bytes() == ES.encode("cp1252")
    assert (out / "world/page.es.html").read_bytes() == LATIN_PAGE.encode("latin-1")
    assert f"{news / 'a.txt'} -> {out / 'a.es.txt'}" in err(result)


def test_out_dir_refuses_two_inputs_with_one_name(address: str, tmp_path: Path) -> None:
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.txt").write_text("Hello.")
    result = newsmt(
        "translate", "--to", "es", "--out-dir", str(tmp_path / "out"), "--address", address,
        str(tmp_path / "x" / "a.txt"), str(tmp_path / "y" / "a.txt"),
    )  # fmt: skip
    assert result.returncode == 2 and "would both be written as a.txt" in err(result)
    assert not (tmp_path / "out").exists()


def test_a_file_that_cannot_be_decoded_is_named_and_skipped(address: str, tmp_path: Path) -> None:
    """One such file stopped a whole folder before anything was translated."""
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "a.txt").write_bytes(ES.encode())
    (folder / "b.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (folder / "c.txt").write_bytes(RU.encode("cp1251"))
    out = tmp_path / "out"
    result = newsmt("translate", "--to", "en", "--out-dir", str(out), "--address", address, str(folder))  # fmt: skip
    assert result.returncode == 1
    assert f"{folder / 'b.txt'}: cannot be decoded: " in err(result) and "skipped" in err(result)
    assert sorted(p.name for p in out.iterdir()) == ["a.en.txt", "c.en.txt"]
    jsonl = newsmt("translate", "--to", "en", "--format", "jsonl", "--address", address, str(folder))  # fmt: skip
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [(r["input"].rsplit("/", 1)[1], r["ok"]) for r in records] == [
        ("a.txt", True),
        ("b.txt", False),
        ("c.txt", True),
    ]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xff\xfe\x00", id="torn-utf-16"),
        pytest.param(b"\x00\x01\x02\x03" * 64, id="binary"),
    ],
)
def test_bad_bytes_on_stdin_are_one_clear_message(address: str, data: bytes) -> None:
    for command in (("translate", "--to", "ru"), ("summarize",)):
        result = newsmt(*command, "--address", address, stdin=data)
        assert result.returncode == 1
        [line] = err(result).splitlines()
        assert line.startswith(f"newsmt {command[0]}: <stdin>: cannot be decoded: ")


def test_an_empty_folder_is_reported(address: str, tmp_path: Path) -> None:
    """It exited 0 silently."""
    (tmp_path / "empty").mkdir()
    result = newsmt("translate", "--to", "ru", "--address", address, str(tmp_path / "empty"))
    assert result.returncode == 1 and "no .txt, .html" in err(result)
    missing = newsmt("translate", "--to", "ru", "--address", address, str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such file or folder" in err(missing)


def test_summaries_go_to_out_dir_as_utf8_text(address: str, tmp_path: Path) -> None:
    article = tmp_path / "article.txt"
    article.write_bytes("Uno. Dos. Tres. Cuatro señores.".encode("cp1252"))
    out = tmp_path / "out"
    result = newsmt(
        "summarize", "--from", "en", "--to", "en", "--max-sentences", "1", "--out-dir", str(out),
        "--address", address, str(article),
    )  # fmt: skip
    assert result.returncode == 0, err(result)
    [written] = out.iterdir()
    assert written.name == "article.summary.en.txt"
    assert written.read_text(encoding="utf-8") == "Uno.\n"


# -- labels -------------------------------------------------------------------------------------


def test_the_identity_engine_is_called_identity_once_per_run(address: str, tmp_path: Path) -> None:
    """It was labelled a demo model (random weights) on every input."""
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("Hello there.")
    result = newsmt("translate", "--to", "ru", "--from", "en", "--address", address, str(tmp_path))
    assert err(result).count("[identity engine: the output is the input") == 1
    assert "demo" not in err(result) and "random" not in err(result)


def test_smoke_calls_the_identity_engine_identity(address: str) -> None:
    result = newsmt("smoke", "--address", address, "--seeds", str(ROOT / "seeds"))
    assert result.returncode == 0, result.stdout.decode()
    out = result.stdout.decode()
    assert "IDENTITY (output = input)" in out and "!! IDENTITY ENGINE:" in out
    assert "DEMO" not in out and "RANDOM WEIGHTS" not in out and "[demo]" not in out
    assert "[identity]" in out


def test_the_readme_recipe_serves_every_model_on_the_identity_engine(tmp_path: Path) -> None:
    from newsmt.models.registry import Registry

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [line] = [line for line in readme.splitlines() if line.startswith("sed 's/^task = /engine")]
    target = tmp_path / "identity.toml"
    command = line.replace("> identity.toml", f"> {target}")
    subprocess.run(["bash", "-c", command], cwd=ROOT, check=True, timeout=30)
    registry = Registry.load(target)
    assert set(registry.models) == set(Registry.load().models)
    assert {spec.engine for spec in registry.models.values()} == {"identity"}


# -- glossary files -----------------------------------------------------------------------------


def test_a_glossary_with_a_byte_order_mark_applies_its_first_term(
    address: str, tmp_path: Path
) -> None:
    """The mark made the first term '\\ufeffminister', which never matched."""
    terms = tmp_path / "terms.tsv"
    terms.write_bytes(codecs.BOM_UTF8 + "minister\tминистр\n".encode())
    page = tmp_path / "page.html"
    page.write_text("<p>The minister spoke.</p>")
    result = newsmt(
        "translate", "--to", "ru", "--from", "en", "--format", "jsonl", "--glossary", str(terms),
        "--address", address, str(page),
    )  # fmt: skip
    record = json.loads(result.stdout)
    assert record["applied_terms"] == ["minister"] and "министр" in record["text"]


def test_a_glossary_line_with_three_columns_is_an_error_naming_it(
    address: str, tmp_path: Path
) -> None:
    """It put a literal tab into the translation."""
    terms = tmp_path / "terms.tsv"
    terms.write_text("# header comment\nminister\tминистр\textra\n", encoding="utf-8")
    result = newsmt("translate", "--to", "ru", "--glossary", str(terms), "--address", address, "-")  # fmt: skip
    assert result.returncode == 2
    assert f"{terms}:2: 3 columns" in err(result) and result.stdout == b""


def read(path: Path, keep: tuple[str, ...] = ()) -> tuple[dict[str, str], list[str]]:
    warnings: list[str] = []
    return _glossary.read_glossary(path, list(keep), warnings.append), warnings


def test_glossary_files_tsv_csv_header_and_duplicates(tmp_path: Path) -> None:
    tsv = tmp_path / "terms.tsv"
    tsv.write_text("source\ttarget\n# names\nReuters\nKremlin\tКремль\r\n\nKremlin\tКремль\n")
    terms, warnings = read(tsv, keep=("Kremlin",))
    assert terms == {"Reuters": "", "Kremlin": ""}
    assert warnings == [
        f"{tsv}:6: 'Kremlin' repeats line 4: ignored",
        f"--keep 'Kremlin' overrides its target in {tsv}:4",
    ]
    csv = tmp_path / "terms.csv"
    csv.write_bytes(
        codecs.BOM_UTF8 + 'Source,Target\n"Smith, John",Смит\nsolo\n"a ""b""",c\n'.encode()
    )
    assert read(csv) == ({"Smith, John": "Смит", "solo": "", 'a "b"': "c"}, [])
    assert read(None, keep=("Moscow",)) == ({"Moscow": ""}, [])


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        (
            "terms.csv",
            "x,y\nKremlin,Кремль\nKremlin,Kremlin\n",
            "terms.csv:3: 'Kremlin' is on line 2",
        ),
        ("terms.csv", 'a,"b\n', "terms.csv:1: not a CSV line"),
        ("terms.csv", "a,b,c\n", "terms.csv:1: 3 columns;.*comma"),
        ("terms.tsv", "# c\na\tb\tc\n", "terms.tsv:2: 3 columns;.*tab"),
        ("terms.tsv", "\tорфан\n", "terms.tsv:1: empty source term"),
    ],
)
def test_a_bad_glossary_line_is_an_error_naming_it(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(_glossary.GlossaryError, match=error):
        read(path)


# -- options ------------------------------------------------------------------------------------

VALIDATORS = {_options.positive_int, _options.non_negative_int, _options.seconds}
NUMBERS = {*VALIDATORS, _options.finite_float}


def numeric_options(*, serve: bool = False) -> list[tuple[str, str, object]]:
    """(command, flag, type) for every numeric option of every command but `serve` (only
    `serve` with serve=True), whose ranges the server's settings check
    (test_serve_refuses_bad_settings)."""
    found = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}".strip())
            elif action.option_strings and action.type in (int, float, *NUMBERS):
                found.append((path, action.option_strings[0], action.type))

    walk(build_parser(), "")
    return [f for f in found if (f[0] == "serve") == serve]


def test_every_numeric_option_is_checked_by_a_validator() -> None:
    options = numeric_options()
    assert len(options) >= 13
    assert [(c, f) for c, f, kind in options if kind in (int, float)] == []


@pytest.mark.parametrize(
    ("command", "flag", "kind"),
    [pytest.param(*option, id=f"{option[0]} {option[1]}") for option in numeric_options()],
)
def test_every_bad_numeric_value_is_a_usage_error(
    command: str, flag: str, kind: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """--max-tokens -5, --max-sentences -1 and --timeout 0 ended in tracebacks."""
    required = {"translate": ["--to", "ru"], "process": ["in.jsonl", "--out", "o.jsonl"]}
    bad = ["-5", "nan", "inf", "1e999", "x", "1.5"]
    if kind is not _options.non_negative_int:
        bad.append("0")
    for value in bad:
        if kind is _options.seconds and value == "1.5":
            continue
        argv = [*command.split(), *required.get(command, []), flag, value]
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args(argv)
        assert info.value.code == 2, argv
        assert f"argument {flag}" in capsys.readouterr().err


def test_serve_refuses_numbers_that_are_not_finite(capsys: pytest.CaptureFixture[str]) -> None:
    """--default-timeout inf, --shutdown-grace inf and --max-connection-age-s inf ended in an
    OverflowError traceback; so did the same values from the environment."""
    from newsmt.server.settings import Settings, SettingsError

    options = numeric_options(serve=True)
    floats = [flag for _, flag, kind in options if kind is _options.finite_float]
    assert len(floats) >= 6 and [f for _, f, kind in options if kind is float] == []
    for flag in floats:
        for value in ("inf", "-inf", "nan"):
            with pytest.raises(SystemExit) as info:
                build_parser().parse_args(["serve", f"{flag}={value}"])
            assert info.value.code == 2
            assert f"argument {flag}: must be a finite number" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="default_timeout = 'inf' is not a valid float"):
        Settings.load({}, environ={"NEWSMT_DEFAULT_TIMEOUT": "inf"})


def test_newsmt_address_sets_the_default_address(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSMT_ADDRESS", "10.1.2.3:5")
    for argv in (["translate", "--to", "ru"], ["summarize"], ["health"], ["process", "f", "--out", "o"]):  # fmt: skip
        assert build_parser().parse_args(argv).address == "10.1.2.3:5"
    assert build_parser().parse_args(["health", "--address", "h:1"]).address == "h:1"
    result = newsmt("health", env={"NEWSMT_ADDRESS": address})
    assert result.returncode == 0 and result.stdout.decode() == f"{address}: SERVING\n"
