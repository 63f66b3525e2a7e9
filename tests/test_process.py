"""`newsmt process`: bulk runs against a real server, resumed after a kill, a torn line, bad
input lines and failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from newsmt.cli import process
from newsmt.cli.main import main
from newsmt.client import (
    ArticleResult,
    DetectedLanguage,
    OverloadedError,
)
from newsmt.models.registry import Registry
from newsmt.server.app import NewsmtServer

from .conftest import ROOT, running_server
from .support import NEWSMT, free_port, wait_for

SECRET = "Zanzibar"  # in every article body: must never reach stderr


class Control:
    """Wraps a served model's engine: can hold every call (a gate) or fail the calls whose
    input holds a marker."""

    def __init__(self, server: NewsmtServer, model: str) -> None:
        engine = server.pool.info(model).engine
        assert engine is not None
        self.inner = engine.generate
        self.open = threading.Event()
        self.held = threading.Event()
        self.fail_marker = ""
        self.reset()
        engine.generate = self  # type: ignore[method-assign]

    def reset(self) -> None:
        self.fail_marker = ""
        self.held.clear()
        self.open.set()

    def __call__(self, batch: Any, **kw: Any) -> Any:
        if self.fail_marker and any(self.fail_marker in "".join(row) for row in batch):
            raise RuntimeError("injected failure")
        if not self.open.is_set():
            self.held.set()
            self.open.wait(30)
        return self.inner(batch, **kw)


@pytest.fixture(scope="module")
def controlled_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Control, str]]:
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path_factory.mktemp("empty")) as (server, address):
        control = Control(server, "opus-mt-en-ru")
        try:
            yield control, address
        finally:
            control.reset()


@pytest.fixture
def controlled(controlled_server: tuple[Control, str]) -> Iterator[tuple[Control, str]]:
    control, _ = controlled_server
    control.reset()
    yield controlled_server
    control.reset()


def article(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"a{n:03d}",
        "title": f"Headline number {n}",
        "body": f"Story {n} from {SECRET}. The council met on Monday. It voted.",
        "source": "en",
        **extra,
    }


def write_articles(path: Path, articles: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles))
    return path


def results(path: Path) -> list[dict[str, Any]]:
    """Every line of a results file; each must be a complete JSON record."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "torn last line"
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def run(
    capsys: pytest.CaptureFixture[str], inputs: Path, out: Path, address: str, *extra: str
) -> tuple[int, str]:
    """`newsmt process` in this process; (exit code, stderr)."""
    argv = ["process", str(inputs), "--out", str(out), "--address", address, "--timeout", "30"]
    code = main([*argv, *extra])
    return code, capsys.readouterr().err


def test_every_article_once_with_all_fields(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    articles = [article(n) for n in range(12)]
    articles[3].pop("source")  # detected
    articles[4]["format"] = "html"
    articles[4]["body"] = "<p>Body <b>four</b> &amp; more.</p>"
    inputs = write_articles(tmp_path / "in.jsonl", articles)
    out = tmp_path / "out.jsonl"
    address = identity_server[1]
    code, err = run(
        capsys, inputs, out, address, "--to", "ru,es", "--summaries", "en", "--concurrency", "4"
    )
    assert code == 0, err
    records = results(out)
    assert Counter(r["id"] for r in records) == Counter(a["id"] for a in articles)
    by_id = {r["id"]: r for r in records}
    for a in articles:
        record = by_id[a["id"]]
        assert record["ok"] and record["status"] == {"code": "OK", "message": ""}
        assert record["detected_language"]["language"] == "en"
        assert [t["language"] for t in record["translations"]] == ["ru", "es"]
        for t in record["translations"]:  # the identity engine: exact
            assert (t["title"], t["body"]) == (a["title"], a["body"])
            assert t["status"] == {"code": "OK", "message": ""}
            assert t["route"]["models"] == [f"opus-mt-en-{t['language']}"]
        [summary] = record["summaries"]
        assert summary["language"] == "en" and summary["text"]
        assert summary["status"]["code"] == "OK" and summary["input_handling"]["mode"]
    assert "12 processed now (0 failed)" in err and "12 of 12 articles ok" in err
    assert SECRET not in err

    # The same command again: nothing to do, nothing appended.
    before = out.read_bytes()
    code, err = run(capsys, inputs, out, address, "--to", "ru,es", "--summaries", "en")
    assert code == 0 and out.read_bytes() == before
    assert "0 processed now" in err and "12 already in" in err


def test_killed_mid_run_then_rerun_gives_every_id_once(
    controlled: tuple[Control, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    control, address = controlled
    articles = [article(n) for n in range(40)]
    inputs = write_articles(tmp_path / "in.jsonl", articles)
    out = tmp_path / "out.jsonl"
    command = [*NEWSMT, "process", str(inputs), "--out", str(out), "--address", address]
    command += ["--to", "ru", "--summaries", "en", "--concurrency", "1", "--quiet"]
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: out.exists() and out.read_bytes().count(b"\n") >= 1, 60, what="a first line"
        )
        control.open.clear()  # hold the next call in the engine: the run is now mid-way
        assert control.held.wait(30), "the run made no further call"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        control.open.set()
    assert child.returncode == -signal.SIGKILL
    written = len(results(out))
    assert 1 <= written < len(articles), "the kill must land mid-run"

    code, err = run(capsys, inputs, out, address, "--to", "ru", "--summaries", "en")
    assert code == 0, err
    records = results(out)
    assert len(records) == len(articles)
    assert Counter(r["id"] for r in records) == Counter(a["id"] for a in articles)
    assert all(r["ok"] for r in records)
    assert f"{len(articles) - written} processed now" in err


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(lambda line: line[: len(line) // 2], id="no-final-newline"),
        pytest.param(lambda line: b"\x00" * 40 + b"\n", id="not-json"),
    ],
)
def test_a_torn_last_line_is_cut_and_its_article_redone(
    identity_server: tuple[NewsmtServer, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tail: Callable[[bytes], bytes],
) -> None:
    articles = [article(n) for n in range(4)]
    inputs = write_articles(tmp_path / "in.jsonl", articles)
    out = tmp_path / "out.jsonl"
    address = identity_server[1]
    assert run(capsys, inputs, out, address, "--to", "es")[0] == 0
    lines = out.read_bytes().split(b"\n")[:-1]
    lost = json.loads(lines[-1])["id"]
    out.write_bytes(b"".join(line + b"\n" for line in lines[:-1]) + tail(lines[-1] + b"\n"))

    code, err = run(capsys, inputs, out, address, "--to", "es")
    assert code == 0, err
    assert f"{out}:4: the last line is incomplete" in err
    assert "1 processed now" in err
    records = results(out)
    assert Counter(r["id"] for r in records) == Counter(a["id"] for a in articles)
    assert records[-1]["id"] == lost


def test_bad_input_lines_are_reported_by_number_and_skipped(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = article(1)
    body = good["body"]
    lines = [
        json.dumps(good),  # 1
        f"{{not json {SECRET}",  # 2
        json.dumps([1, 2]),  # 3
        json.dumps({"title": "t", "body": body}),  # 4
        json.dumps({**article(5), "id": 5.5}),  # 5
        json.dumps({**article(6), "body": body, "id": good["id"]}),  # 6: duplicate
        json.dumps({**article(7), "body": 3}),  # 7
        "   ",  # 8: blank, skipped without a report
        json.dumps({"id": "a009", "title": f"Only a title {SECRET}"}),  # 9
        json.dumps({**article(10), "format": ["html"]}),  # 10
        json.dumps(article(11)),  # 11
    ]
    inputs = tmp_path / "in.jsonl"
    inputs.write_bytes("\n".join(lines).encode() + b"\n" + b"\xff\xfe bad bytes\n")  # 12
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru")
    assert code == 0, err
    expected = {
        2: "not valid JSON",
        3: "a JSON list, not an object",
        4: 'no "id"',
        5: '"id" must be a non-empty string or an integer',
        6: f"duplicate id {good['id']!r} (first on line 1)",
        7: '"body" must be a string, not a number',
        9: 'no "body"',
        10: '"format" must be a string, not an array',
        12: "not UTF-8",
    }
    for number, reason in expected.items():
        assert f"{inputs}:{number}: {reason}" in err, (number, err)
    assert f"{inputs}:8:" not in err
    assert "9 bad input line(s) skipped" in err
    assert SECRET not in err and "Only a title" not in err
    assert sorted(r["id"] for r in results(out)) == ["a001", "a011"]


def test_a_failed_call_is_recorded_with_its_status_and_the_run_goes_on(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    articles = [article(1), article(2, source="xx"), article(3)]
    inputs = write_articles(tmp_path / "in.jsonl", articles)
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru")
    assert code == 1
    by_id = {r["id"]: r for r in results(out)}
    assert by_id["a001"]["ok"] and by_id["a003"]["ok"]
    failed = by_id["a002"]
    assert failed["ok"] is False and failed["status"]["code"] == "INVALID_ARGUMENT"
    assert failed["status"]["message"] and failed["status"]["request_id"]
    assert "'a002': INVALID_ARGUMENT" in err and "2 of 3 articles ok, 1 failed" in err


def test_retry_failed_redoes_only_the_failed_articles(
    controlled: tuple[Control, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    control, address = controlled
    articles = [article(n) for n in range(6)]
    for n in (1, 4):
        articles[n]["body"] += " FAILME."
    inputs = write_articles(tmp_path / "in.jsonl", articles)
    out = tmp_path / "out.jsonl"
    flags = ("--to", "ru,es", "--concurrency", "1")
    control.fail_marker = "FAILME"
    code, err = run(capsys, inputs, out, address, *flags)
    assert code == 1
    first = results(out)
    assert {r["id"] for r in first if not r["ok"]} == {"a001", "a004"}
    failed = next(r for r in first if r["id"] == "a001")
    ru, es = failed["translations"]
    assert ru["status"]["code"] != "OK" and es["status"]["code"] == "OK"
    assert failed["status"]["code"] == "OK"  # the call itself succeeded
    assert "'a001': translation ru:" in err

    # A plain rerun keeps them: they are in --out; the run still fails.
    code, err = run(capsys, inputs, out, address, *flags)
    assert code == 1 and len(results(out)) == 6 and "0 processed now" in err

    control.fail_marker = ""
    code, err = run(capsys, inputs, out, address, *flags, "--retry-failed")
    assert code == 0, err
    records = results(out)
    assert [r["id"] for r in records[6:]] == sorted(["a001", "a004"])
    last = {r["id"]: r["ok"] for r in records}  # the last line per id wins
    assert all(last.values()) and len(last) == 6
    assert "2 processed now (0 failed)" in err and "6 of 6 articles ok" in err


def test_an_overloaded_server_is_retried_after_the_delay_it_asks_for() -> None:
    overloaded = OverloadedError("busy", grpc.StatusCode.RESOURCE_EXHAUSTED, "r1", 0.0)

    class Flaky:
        calls = 0

        def process_article(self, title: str, body: str, **kw: Any) -> ArticleResult:
            self.calls += 1
            if self.calls <= 2:
                raise overloaded
            return ArticleResult(kw["id"], DetectedLanguage("en", 1.0))

    one = process.Article(1, "x1", "t", "b", "", "")
    flaky = Flaky()
    record = process.process_one(flaky, one, {"targets": ["ru"]})
    assert flaky.calls == 3 and record["ok"] and record["id"] == "x1"

    class Busy:
        def process_article(self, title: str, body: str, **kw: Any) -> ArticleResult:
            raise overloaded

    record = process.process_one(Busy(), one, {"targets": ["ru"]})
    assert record == {
        "id": "x1",
        "ok": False,
        "key": "",
        "status": {"code": "RESOURCE_EXHAUSTED", "message": "busy", "request_id": "r1"},
    }


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = write_articles(tmp_path / "in.jsonl", [article(1)])
    address = "127.0.0.1:1"
    assert run(capsys, inputs, tmp_path / "o.jsonl", address)[0] == 2  # no --to, no --summaries
    code, err = run(capsys, inputs, inputs, address, "--to", "ru")
    assert code == 2 and "must not be the input" in err
    code, err = run(capsys, tmp_path / "missing.jsonl", tmp_path / "o.jsonl", address, "--to", "ru")
    assert code == 2 and "no such file" in err
    with pytest.raises(SystemExit) as help_exit:
        main(["process", "--help"])
    assert help_exit.value.code == 0 and "--retry-failed" in capsys.readouterr().out


def test_an_unknown_format_is_a_bad_line() -> None:
    line = json.dumps({"id": "a", "title": "t", "body": "b", "format": "docx"}).encode()
    assert process.parse_line(line, 7) == '"format" must be one of plain, html, markdown'
    good = json.dumps({"id": "a", "title": "t", "body": "b", "format": "markdown"}).encode()
    parsed = process.parse_line(good, 8)
    assert isinstance(parsed, process.Article) and parsed.format == "markdown"


# -- issue 24: bulk runs that tell the truth --------------------------------------------------


def test_ids_may_be_integers_and_are_written_back_as_given(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It rejected numeric ids. 1 and "1" are two ids, each written back with its type."""
    articles = [article(1, id=1), article(2, id="1"), article(3, id=2**70), article(4)]
    inputs = write_articles(tmp_path / "in.jsonl", articles)
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru")
    assert code == 0, err
    assert sorted(map(repr, (r["id"] for r in results(out)))) == sorted(
        [repr(1), repr("1"), repr(2**70), repr("a004")]
    )
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru")  # all done
    assert code == 0 and "0 processed now" in err and "4 already in" in err


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param([b"{not json\n", b'{"id": 1.5, "title": "t", "body": "b"}\n'], id="all-bad"),
        pytest.param([], id="empty"),
    ],
)
def test_a_run_with_no_article_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[bytes]
) -> None:
    """A run where every line was rejected exited 0."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_bytes(b"".join(lines))
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, inputs, out, "127.0.0.1:1", "--to", "ru")
    assert code == 1 and "holds no article to process" in err
    assert not out.exists()


def test_a_rerun_with_other_options_redoes_every_article(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--to es after --to ru skipped every article as done and exited 0, with no Spanish."""
    articles = [article(n) for n in range(3)]
    inputs = write_articles(tmp_path / "in.jsonl", articles)
    out = tmp_path / "out.jsonl"
    address = identity_server[1]
    assert run(capsys, inputs, out, address, "--to", "ru")[0] == 0
    code, err = run(capsys, inputs, out, address, "--to", "es")
    assert code == 0, err
    assert "3 article(s) in" in err and "3 processed now" in err
    last = {r["id"]: r for r in results(out)}
    assert {t["language"] for r in last.values() for t in r["translations"]} == {"es"}
    # Each option that shapes a result is in the key; the same options again redo nothing.
    for extra in (
        ("--to", "es", "--summaries", "en"),
        ("--to", "es", "--summaries", "en", "--max-sentences", "2"),
        ("--to", "es", "--summaries", "en", "--max-sentences", "2", "--keep", "Monday"),
        ("--to", "es", "--summaries", "en", "--max-sentences", "2", "--keep", "Monday", "--long-input", "truncate"),
    ):  # fmt: skip
        code, err = run(capsys, inputs, out, address, *extra)
        assert code == 0 and "3 processed now" in err, (extra, err)
        code, err = run(capsys, inputs, out, address, *extra)
        assert code == 0 and "0 processed now" in err, (extra, err)
    # An article edited under the same id is redone; the others are not.
    articles[1]["body"] += " Updated."
    write_articles(inputs, articles)
    code, err = run(capsys, inputs, out, address, *extra)
    assert code == 0 and "1 processed now" in err, err
    assert results(out)[-1]["translations"][0]["body"].endswith("Updated.")


def test_a_byte_order_mark_does_not_lose_the_first_line(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_bytes(b"\xef\xbb\xbf" + json.dumps(article(1)).encode() + b"\n")
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru")
    assert code == 0, err
    assert [r["id"] for r in results(out)] == ["a001"] and "bad input" in err
    assert "0 bad input line(s)" in err
    utf16 = tmp_path / "in16.jsonl"
    utf16.write_bytes(json.dumps(article(1)).encode("utf-16"))
    code, err = run(capsys, utf16, tmp_path / "o16.jsonl", identity_server[1], "--to", "ru")
    assert code == 2 and "UTF-16" in err


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"name,score\nann,3\nbob,4\n", id="csv"),
        pytest.param(b'{"id": "x", "title": "t", "body": "b"}\n', id="an-input-file"),
        pytest.param(b"some notes without a newline", id="one-line"),
    ],
)
def test_out_must_be_a_results_file_and_is_never_cut_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    """Its last line was deleted as "torn"."""
    inputs = write_articles(tmp_path / "in.jsonl", [article(1)])
    out = tmp_path / "notes.txt"
    out.write_bytes(content)
    code, err = run(capsys, inputs, out, "127.0.0.1:1", "--to", "ru")
    assert code == 2 and "is not a results file" in err
    assert out.read_bytes() == content


def test_a_torn_first_line_is_cut_and_redone(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_articles(tmp_path / "in.jsonl", [article(1)])
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id":"a001","ok":tr')  # a crash during the very first write
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru")
    assert code == 0, err
    assert "the last line is incomplete" in err and [r["id"] for r in results(out)] == ["a001"]


def test_a_server_that_is_down_stops_the_run_and_a_rerun_does_the_articles(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every article was recorded as failed, and a plain rerun then skipped them all."""
    articles = [article(n) for n in range(20)]
    inputs = write_articles(tmp_path / "in.jsonl", articles)
    out = tmp_path / "out.jsonl"
    down = f"127.0.0.1:{free_port()}"
    code, err = run(capsys, inputs, out, down, "--to", "ru", "--concurrency", "2")
    assert code == 1
    assert "stopped: the server at" in err and "UNAVAILABLE" in err
    assert "20 article(s) not done" in err and "rerun the same command" in err
    assert results(out) == []
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru")
    assert code == 0, err
    assert "20 processed now" in err and len(results(out)) == 20


def test_the_glossary_file_applies_to_every_article(
    identity_server: tuple[NewsmtServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_articles(tmp_path / "in.jsonl", [article(1)])
    terms = tmp_path / "terms.csv"
    terms.write_text("source,target\ncouncil,совет\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru", "--glossary", str(terms))
    assert code == 0, err
    [record] = results(out)
    [translation] = record["translations"]
    assert "совет" in translation["body"] and translation["applied_terms"] == ["council"]
    terms.write_text("council\tсовет\textra\n", encoding="utf-8")
    terms.rename(bad := tmp_path / "terms.tsv")
    code, err = run(capsys, inputs, out, identity_server[1], "--to", "ru", "--glossary", str(bad))
    assert code == 2 and f"{bad}:1: 3 columns" in err
