"""`newsmt process`: a JSON Lines file of articles through ProcessArticle, resumable.

Input: one JSON object per line, {"id", "title", "body"} and optional "source" (a language
code; default --from) and "format" ("plain", "html" or "markdown"; default plain). Blank lines are
skipped. A bad line (not UTF-8 or JSON, not an object, no id, a repeated id, a field of the
wrong type) is reported on stderr with its line number and skipped; the run goes on.

Results (--out): JSON Lines, appended to, one line per attempt, in completion order. Each line
is the ProcessArticle result with the article's "id", "ok" (the call and every stage
succeeded) and "status" (the call's status: {"code": "OK" or a gRPC code name, "message"}).
Reading the file: split on "\\n" only; the LAST line for an id wins. A rerun skips every id
already in the file (--retry-failed: redoes those whose last line is not ok). A last line cut
short by a crash (no final newline, or not a JSON record) is truncated away and redone.

Exit codes: 0 every article of the input is ok in the results; 1 some article failed (bad
input lines alone do not fail a run: they are reported and counted); 2 bad usage; 130
interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from newsmt.cli._tls import add_tls_flags, tls_from
from newsmt.cli.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

#: Results are fsynced at least this often (seconds) and every this many lines, and at the end.
#: A crash of the process loses nothing written (each line goes to the OS in one write);
#: fsync bounds what a crash of the machine can lose.
FSYNC_EVERY_S = 2.0
FSYNC_EVERY_LINES = 200

#: An overloaded server (RESOURCE_EXHAUSTED) is retried this many times, after the delay it
#: asks for (capped), before the article is recorded as failed.
OVERLOAD_RETRIES = 3
_MAX_RETRY_WAIT_S = 30.0

_STRING_FIELDS = ("title", "body")
_OPTIONAL_STRING_FIELDS = ("source", "format")
_FORMATS = ("plain", "html", "markdown")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "process",
        help="process a JSON Lines file of articles, resumably",
        description="Translate and summarize every article of ARTICLES (JSON Lines: id, title, "
        "body, optional source and format) with a running newsmt server, appending one result "
        "line per article to --out. Rerun the same command to resume after a crash or an "
        "interruption: ids already in --out are skipped, and the last line per id wins. "
        "Exit 1 if any article failed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("articles", type=Path, metavar="ARTICLES", help="input .jsonl file")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="RESULTS", help="results .jsonl (appended)"
    )
    parser.add_argument(
        "--to", dest="targets", default="", help="translation languages, comma-separated"
    )
    parser.add_argument("--summaries", default="", help="summary languages, comma-separated")
    parser.add_argument(
        "--from",
        dest="source",
        default="",
        help="source language for articles without one (default: detect)",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--max-tokens", type=int, default=None, help="summary length cap in tokens")
    length.add_argument(
        "--max-sentences", type=int, default=None, help="summary length cap in sentences"
    )
    parser.add_argument(
        "--long-input",
        choices=("chunk", "truncate", "reject"),
        default="chunk",
        help="body longer than the summarizer's window",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="requests in flight, over every --address"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="also redo the articles whose last result in --out failed",
    )
    parser.add_argument(
        "--address", default="127.0.0.1:50051", help="server host:port (several: comma-separated)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="deadline per article, s")
    parser.add_argument("--token", default=None, help="bearer token, if the server requires one")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tls_flags(parser)
    parser.set_defaults(run=run)


# -- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    line: int
    id: str
    title: str
    body: str
    source: str
    format: str


def parse_line(raw: bytes, line: int) -> Article | str:
    """The article on one input line, or what is wrong with it (never quoting its text)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {exc.start + 1})"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON (column {exc.colno})"
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    if "id" not in record:
        return 'no "id"'
    if not isinstance(record["id"], str) or not record["id"]:
        return '"id" must be a non-empty string'
    for name in _STRING_FIELDS:
        if name not in record:
            return f'no "{name}"'
    for name in (*_STRING_FIELDS, *_OPTIONAL_STRING_FIELDS):
        if name in record and not isinstance(record[name], str):
            return f'"{name}" must be a string, not {_json_type(record[name])}'
    if record.get("format", "plain") not in _FORMATS:
        return f'"format" must be one of {", ".join(_FORMATS)}'
    return Article(
        line,
        record["id"],
        record["title"],
        record["body"],
        record.get("source", ""),
        record.get("format", ""),
    )


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


@dataclass
class Scan:
    """The valid articles of the input, in order: line numbers and ids."""

    ids: list[str]
    lines: dict[str, int]
    bad: int = 0


def scan(path: Path, report: Any) -> Scan:
    """Check every line once; report bad ones (line number and reason) through `report`."""
    found = Scan([], {})
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            article = parse_line(raw, number)
            if isinstance(article, str):
                found.bad += 1
                report(f"{path}:{number}: {article}: skipped")
                continue
            first = found.lines.get(article.id)
            if first is not None:
                found.bad += 1
                report(
                    f"{path}:{number}: duplicate id {_shown(article.id)} (first on line "
                    f"{first}): skipped"
                )
                continue
            found.ids.append(article.id)
            found.lines[article.id] = number
    return found


def articles_on(path: Path, lines: set[int]) -> Iterator[Article]:
    """The articles on `lines` of `path`, read lazily: memory stays bounded by --concurrency."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            if number in lines:
                article = parse_line(raw, number)
                if isinstance(article, Article):
                    yield article


def _shown(article_id: str) -> str:
    return repr(article_id if len(article_id) <= 80 else article_id[:77] + "...")


# -- results -------------------------------------------------------------------------------------


def read_results(path: Path, report: Any) -> dict[str, bool]:
    """The last result per id in `path` (True: ok). A torn last line (a crash mid-write: no
    final newline, or not a result record) is truncated away; a bad line elsewhere is
    reported and ignored."""
    results: dict[str, bool] = {}
    if not path.exists():
        return results
    with path.open("r+b") as stream:
        offset = 0
        previous: tuple[int, int, bytes] | None = None
        for number, raw in enumerate(stream, 1):
            if previous is not None:
                _take(previous, results, report, path, last=False)
            previous = (number, offset, raw)
            offset += len(raw)
        if previous is not None and not _take(previous, results, report, path, last=True):
            number, start, raw = previous
            stream.truncate(start)
            stream.flush()
            os.fsync(stream.fileno())
            report(
                f"{path}:{number}: the last line is incomplete ({len(raw)} bytes, left by an "
                "interrupted run): removed; its article will be redone"
            )
    return results


def _take(
    entry: tuple[int, int, bytes], results: dict[str, bool], report: Any, path: Path, *, last: bool
) -> bool:
    number, _, raw = entry
    record: Any = None
    if raw.endswith(b"\n"):
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
    if (
        isinstance(record, dict)
        and isinstance(record.get("id"), str)
        and isinstance(record.get("ok"), bool)
    ):
        results[record["id"]] = record["ok"]
        return True
    if not last:
        report(f"{path}:{number}: not a result record: ignored")
    return False


class ResultsWriter:
    """Appends one complete line per result, each in one write to the OS (an unbuffered file),
    and fsyncs every FSYNC_EVERY_S seconds or FSYNC_EVERY_LINES lines. One writer only."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] = path.open("ab", buffering=0)
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:  # one write unless the OS takes less (rare: the loop finishes the line)
            written = self._file.write(view)
            view = view[written or 0 :]
        self._unsynced += 1
        now = time.monotonic()
        if self._unsynced >= FSYNC_EVERY_LINES or now - self._synced_at >= FSYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._file.fileno())
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def close(self) -> None:
        self.sync()
        self._file.close()


# -- one article ---------------------------------------------------------------------------------


def result_record(article_id: str, result: Any) -> dict[str, Any]:
    """A ProcessArticle result (newsmt.client.ArticleResult) as one JSON-ready record."""

    def status(stage: Any) -> dict[str, Any]:
        return {"code": stage.code_name, "message": stage.message}

    return {
        "id": article_id,
        "ok": result.ok,
        "status": {"code": "OK", "message": ""},
        "detected_language": asdict(result.detected_language),
        "demo": result.demo,
        "translations": [{**asdict(t), "status": status(t.status)} for t in result.translations],
        "summaries": [{**asdict(s), "status": status(s.status)} for s in result.summaries],
    }


def error_record(article_id: str, error: Any) -> dict[str, Any]:
    """A failed call (newsmt.client.NewsmtError) as one record."""
    return {
        "id": article_id,
        "ok": False,
        "status": {
            "code": error.code.name,
            "message": error.message,
            "request_id": error.request_id,
        },
    }


def process_one(client: Any, article: Article, options: dict[str, Any]) -> dict[str, Any]:
    """One article through ProcessArticle: its record, success or failure."""
    from newsmt.client import NewsmtError, OverloadedError

    kwargs = dict(options)
    if article.source:
        kwargs["source"] = article.source
    if article.format:
        kwargs["format"] = article.format
    for attempt in range(OVERLOAD_RETRIES + 1):
        try:
            result = client.process_article(article.title, article.body, id=article.id, **kwargs)
        except OverloadedError as exc:
            if attempt == OVERLOAD_RETRIES:
                return error_record(article.id, exc)
            wait_s = 1.0 if exc.retry_after is None else exc.retry_after
            time.sleep(min(wait_s, _MAX_RETRY_WAIT_S))
        except NewsmtError as exc:
            return error_record(article.id, exc)
        else:
            return result_record(article.id, result)
    raise AssertionError("unreachable")  # pragma: no cover


# -- the command ---------------------------------------------------------------------------------


def _languages(value: str) -> list[str]:
    return [code.strip() for code in value.split(",") if code.strip()]


def run(args: argparse.Namespace) -> int:
    def say(message: str) -> None:
        print(f"newsmt process: {message}", file=sys.stderr)

    targets, summaries = _languages(args.targets), _languages(args.summaries)
    if not targets and not summaries:
        say("nothing to do: give --to and/or --summaries")
        return EXIT_USAGE
    if args.concurrency < 1:
        say("--concurrency must be >= 1")
        return EXIT_USAGE
    if not args.articles.is_file():
        say(f"{args.articles}: no such file")
        return EXIT_USAGE
    if args.out.exists() and args.out.resolve() == args.articles.resolve():
        say("--out must not be the input file")
        return EXIT_USAGE
    try:
        done = read_results(args.out, say)
        found = scan(args.articles, say)
        writer = ResultsWriter(args.out)
    except OSError as exc:
        say(str(exc))
        return EXIT_USAGE
    todo = [i for i in found.ids if i not in done or (args.retry_failed and not done[i])]
    options: dict[str, Any] = {
        "targets": targets,
        "summaries": summaries,
        "max_tokens": args.max_tokens,
        "max_sentences": args.max_sentences,
        "long_input": args.long_input,
    }
    if args.source:
        options["source"] = args.source
    try:
        processed, failed_now = _run_pool(args, found, todo, options, done, writer, say)
    finally:
        writer.close()
    failed = sum(1 for i in found.ids if not done.get(i, False))
    say(
        f"{processed} processed now ({failed_now} failed), {len(found.ids) - len(todo)} already "
        f"in {args.out}; {len(found.ids) - failed} of {len(found.ids)} articles ok, {failed} "
        f"failed; {found.bad} bad input line(s) skipped"
    )
    return EXIT_FAILED if failed else EXIT_OK


def _run_pool(
    args: argparse.Namespace,
    found: Scan,
    todo: list[str],
    options: dict[str, Any],
    done: dict[str, bool],
    writer: ResultsWriter,
    say: Any,
) -> tuple[int, int]:
    """Run `todo` with --concurrency calls in flight; the calling thread alone writes."""
    from tqdm import tqdm

    from newsmt.client import Client

    client = Client(
        args.address, timeout=args.timeout, token=args.token, credentials=tls_from(args)
    )
    pool = ThreadPoolExecutor(args.concurrency, thread_name_prefix="newsmt-process")
    bar = tqdm(
        total=len(todo),
        unit="article",
        file=sys.stderr,
        disable=args.quiet or not sys.stderr.isatty(),
        dynamic_ncols=True,
    )
    articles = articles_on(args.articles, {found.lines[i] for i in todo})
    pending: set[Future[dict[str, Any]]] = set()
    processed = failed = 0
    try:
        while True:
            while len(pending) < 2 * args.concurrency:
                article = next(articles, None)
                if article is None:
                    break
                pending.add(pool.submit(process_one, client, article, options))
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                pending.discard(future)
                record = future.result()
                writer.write(record)
                done[record["id"]] = record["ok"]
                processed += 1
                if not record["ok"]:
                    failed += 1
                    bar.set_postfix(failed=failed, refresh=False)
                    _report_failure(record, say if bar.disable else _above(bar))
                bar.update()
    finally:
        bar.close()
        pool.shutdown(wait=False, cancel_futures=True)
        client.close()  # ends the calls still in flight at once (an interrupt)
    return processed, failed


def _above(bar: Any) -> Any:
    """A reporter that prints above the progress bar."""
    return lambda message: bar.write(f"newsmt process: {message}", file=sys.stderr)


def _report_failure(record: dict[str, Any], say: Any) -> None:
    status = record["status"]
    if status["code"] != "OK":
        say(f"{_shown(record['id'])}: {status['code']}: {status['message']}")
        return
    stages = [*record["translations"], *record["summaries"]]
    for stage in stages:
        if stage["status"]["code"] != "OK":
            kind = "summary" if "input_handling" in stage else "translation"
            say(
                f"{_shown(record['id'])}: {kind} {stage['language']}: "
                f"{stage['status']['code']}: {stage['status']['message']}"
            )
