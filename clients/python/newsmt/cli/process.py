"""`newsmt process`: a JSON Lines file of articles through ProcessArticle, resumable.

Input: one JSON object per line, {"id", "title", "body"} and optional "source" (a language
code; default --from) and "format" ("plain", "html" or "markdown"; default plain). "id" is a
non-empty string or an integer, written back as given (1 and "1" are two ids). A UTF-8
byte-order mark is ignored; blank lines are skipped. A bad line (not UTF-8 or JSON, not an
object, no id, a repeated id, a field of the wrong type) is reported on stderr with its line
number and skipped; the run goes on.

Results (--out): JSON Lines, appended to, one line per attempt, in completion order. Each line
is the ProcessArticle result with the article's "id", "ok" (the call and every stage
succeeded), "status" (the call's status: {"code": "OK" or a gRPC code name, "message"}) and
"key": a digest of what shapes the result, the article (title, body, source, format) and the
options (--to, --summaries, --from, --max-tokens, --max-sentences, --long-input, the glossary).
Reading the file: split on "\\n" only; the LAST line for an id wins. --out must be a results
file (its first line a result record) or empty or new: any other file is refused, never cut.

Resuming: a rerun skips every article whose last line has the same key (--retry-failed: also
redoes those whose last line is not ok). An article whose key differs (a rerun with other
options, or the article edited) is redone and its new line appended. A last line cut short by a
crash (no final newline, or not a result record) is truncated away and redone.

A server that cannot be reached (UNAVAILABLE after the client's retries) or that refuses the
credentials stops the run: nothing is recorded for the articles it did not do, and a plain
rerun does them.

Exit codes: 0 every article of the input is ok in the results; 1 some article failed, the run
was stopped, or the input holds no article (bad input lines alone do not fail a run that has
good ones: they are reported and counted); 2 bad usage; 130 interrupted.
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from newsmt.cli._glossary import GlossaryError, read_glossary
from newsmt.cli._options import add_address, positive_int, seconds
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

#: gRPC codes that say the run cannot go on, whatever the article: it stops, records nothing
#: for the articles not done, and a plain rerun does them.
STOPPING_CODES = frozenset({"UNAVAILABLE", "UNAUTHENTICATED", "PERMISSION_DENIED"})
#: The version of the result key: a change to what it covers changes it.
KEY_VERSION = 1

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
        "interruption: articles whose last line in --out was made from the same article with "
        "the same options are skipped; one changed, or run with other options, is redone; the "
        "last line per id wins. A server that is down stops the run (rerun to go on). Exit 1 if "
        "any article failed, the run stopped, or there was no article.",
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
    length.add_argument(
        "--max-tokens", type=positive_int, default=None, help="summary length cap in tokens"
    )
    length.add_argument(
        "--max-sentences", type=positive_int, default=None, help="summary length cap in sentences"
    )
    parser.add_argument(
        "--long-input",
        choices=("chunk", "truncate", "reject"),
        default="chunk",
        help="body longer than the summarizer's window",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        help="requests in flight, over every --address",
    )
    parser.add_argument(
        "--glossary",
        type=Path,
        default=None,
        help="terms file for every article, as for `newsmt translate --glossary` (TSV, or CSV "
        "named .csv)",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="TERM",
        help="keep TERM as written in every article; repeatable",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="also redo the articles whose last result in --out failed",
    )
    add_address(parser)
    parser.add_argument("--timeout", type=seconds, default=120.0, help="deadline per article, s")
    parser.add_argument("--token", default=None, help="bearer token, if the server requires one")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tls_flags(parser)
    parser.set_defaults(run=run)


# -- input ---------------------------------------------------------------------------------------


#: An article's id as the input gives it: a string or an integer.
ArticleId = str | int


@dataclass(frozen=True)
class Article:
    line: int
    id: ArticleId
    title: str
    body: str
    source: str
    format: str


def parse_line(raw: bytes, line: int) -> Article | str:
    """The article on one input line, or what is wrong with it (never quoting its text)."""
    if line == 1:
        raw = raw.removeprefix(codecs.BOM_UTF8)
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
    if not _is_id(record["id"]):
        return '"id" must be a non-empty string or an integer'
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


def _is_id(value: Any) -> bool:
    """A string with something in it, or an integer (not a boolean)."""
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, int) and not isinstance(value, bool)


def id_key(article_id: ArticleId) -> str:
    """One string per id, telling 1 from "1": its JSON text."""
    return json.dumps(article_id, ensure_ascii=False)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


@dataclass
class Scan:
    """The valid articles of the input, in order: their ids (by `id_key`), line numbers and
    result keys."""

    ids: list[str]
    lines: dict[str, int]
    keys: dict[str, str]
    bad: int = 0


def scan(path: Path, report: Any, options: dict[str, Any]) -> Scan:
    """Check every line once; report bad ones (line number and reason) through `report`."""
    found = Scan([], {}, {})
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            article = parse_line(raw, number)
            if isinstance(article, str):
                found.bad += 1
                report(f"{path}:{number}: {article}: skipped")
                continue
            key = id_key(article.id)
            first = found.lines.get(key)
            if first is not None:
                found.bad += 1
                report(
                    f"{path}:{number}: duplicate id {_shown(article.id)} (first on line "
                    f"{first}): skipped"
                )
                continue
            found.ids.append(key)
            found.lines[key] = number
            found.keys[key] = result_key(article, options)
    return found


def articles_on(path: Path, lines: set[int]) -> Iterator[Article]:
    """The articles on `lines` of `path`, read lazily: memory stays bounded by --concurrency."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            if number in lines:
                article = parse_line(raw, number)
                if isinstance(article, Article):
                    yield article


def result_key(article: Article, options: dict[str, Any]) -> str:
    """A digest of everything that shapes an article's result: the article and the options
    (the glossary included). A result line with another key was made from something else."""
    shaping = {
        "version": KEY_VERSION,
        "title": article.title,
        "body": article.body,
        "source": article.source or options.get("source", ""),
        "format": article.format or "plain",
        "targets": options["targets"],
        "summaries": options["summaries"],
        "max_tokens": options["max_tokens"],
        "max_sentences": options["max_sentences"],
        "long_input": options["long_input"],
        "glossary": sorted((options.get("glossary") or {}).items()),
    }
    canonical = json.dumps(shaping, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _shown(article_id: ArticleId) -> str:
    if isinstance(article_id, int):
        return str(article_id)
    return repr(article_id if len(article_id) <= 80 else article_id[:77] + "...")


# -- results -------------------------------------------------------------------------------------


class NotResultsError(ValueError):
    """--out holds something other than results: it is left as it is."""


@dataclass(frozen=True)
class Recorded:
    """The last result line of an id: did it succeed, and from what (its key; "" for a line
    written before keys were)."""

    ok: bool
    key: str


#: How every result line starts (`ResultsWriter` writes "id" first): a torn first line of a
#: results file starts so too.
_RECORD_START = b'{"id":'


def read_results(path: Path, report: Any) -> dict[str, Recorded]:
    """The last result per id (by `id_key`) in `path`. NotResultsError when the file is not
    empty and its first line is not a result record. A torn last line (a crash mid-write: no
    final newline, or not a result record) is truncated away; a bad line elsewhere is
    reported and ignored."""
    results: dict[str, Recorded] = {}
    if not path.exists():
        return results
    with path.open("r+b") as stream:
        offset = 0
        previous: tuple[int, int, bytes] | None = None
        for number, raw in enumerate(stream, 1):
            torn = not raw.endswith(b"\n") and raw.startswith(_RECORD_START)  # so, the last
            if number == 1 and not (torn or _record(raw)):
                raise NotResultsError(
                    f"{path} is not a results file of `newsmt process` (its first line is not a "
                    "result record); it is left as it is: give another --out"
                )
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


def _record(raw: bytes) -> dict[str, Any] | None:
    """The result record on a complete line, or None."""
    if not raw.endswith(b"\n"):
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if isinstance(record, dict) and _is_id(record.get("id")) and isinstance(record.get("ok"), bool):
        return record
    return None


def _take(
    entry: tuple[int, int, bytes],
    results: dict[str, Recorded],
    report: Any,
    path: Path,
    *,
    last: bool,
) -> bool:
    number, _, raw = entry
    record = _record(raw)
    if record is not None:
        key = record.get("key")
        results[id_key(record["id"])] = Recorded(record["ok"], key if isinstance(key, str) else "")
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


def result_record(article_id: ArticleId, result: Any, key: str = "") -> dict[str, Any]:
    """A ProcessArticle result (newsmt.client.ArticleResult) as one JSON-ready record."""

    def status(stage: Any) -> dict[str, Any]:
        return {"code": stage.code_name, "message": stage.message}

    return {
        "id": article_id,
        "ok": result.ok,
        "key": key,
        "status": {"code": "OK", "message": ""},
        "detected_language": asdict(result.detected_language),
        "demo": result.demo,
        "translations": [{**asdict(t), "status": status(t.status)} for t in result.translations],
        "summaries": [{**asdict(s), "status": status(s.status)} for s in result.summaries],
    }


def error_record(article_id: ArticleId, error: Any, key: str = "") -> dict[str, Any]:
    """A failed call (newsmt.client.NewsmtError) as one record."""
    return {
        "id": article_id,
        "ok": False,
        "key": key,
        "status": {
            "code": error.code.name,
            "message": error.message,
            "request_id": error.request_id,
        },
    }


class RunStopped(Exception):
    """The server cannot do any article now (STOPPING_CODES): the run stops."""

    def __init__(self, error: Any) -> None:
        super().__init__(f"{error.code.name}: {error.message}")
        self.error = error


def process_one(
    client: Any, article: Article, options: dict[str, Any], key: str = ""
) -> dict[str, Any]:
    """One article through ProcessArticle: its record, success or failure. RunStopped when
    the server cannot be reached or refuses the credentials: that is no article's failure."""
    from newsmt.client import NewsmtError, OverloadedError

    kwargs = dict(options)
    if article.source:
        kwargs["source"] = article.source
    if article.format:
        kwargs["format"] = article.format
    for attempt in range(OVERLOAD_RETRIES + 1):
        try:
            result = client.process_article(
                article.title, article.body, id=str(article.id), **kwargs
            )
        except OverloadedError as exc:
            if attempt == OVERLOAD_RETRIES:
                return error_record(article.id, exc, key)
            wait_s = 1.0 if exc.retry_after is None else exc.retry_after
            time.sleep(min(wait_s, _MAX_RETRY_WAIT_S))
        except NewsmtError as exc:
            if exc.code.name in STOPPING_CODES:
                raise RunStopped(exc) from None
            return error_record(article.id, exc, key)
        else:
            return result_record(article.id, result, key)
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
    if not args.articles.is_file():
        say(f"{args.articles}: no such file")
        return EXIT_USAGE
    if args.out.exists() and args.out.resolve() == args.articles.resolve():
        say("--out must not be the input file")
        return EXIT_USAGE
    try:
        glossary = read_glossary(args.glossary, args.keep, lambda m: say(f"--glossary: {m}"))
    except (OSError, GlossaryError) as exc:
        say(f"--glossary: {exc}")
        return EXIT_USAGE
    options: dict[str, Any] = {
        "targets": targets,
        "summaries": summaries,
        "max_tokens": args.max_tokens,
        "max_sentences": args.max_sentences,
        "long_input": args.long_input,
    }
    if args.source:
        options["source"] = args.source
    if glossary:
        options["glossary"] = glossary
    try:
        if _utf16(args.articles):
            say(f"{args.articles} is UTF-16 or UTF-32; JSON Lines is UTF-8: convert it first")
            return EXIT_USAGE
        done = read_results(args.out, say)
        found = scan(args.articles, say, options)
        if not found.ids:
            say(f"{args.articles} holds no article to process ({found.bad} bad line(s))")
            return EXIT_FAILED
        writer = ResultsWriter(args.out)
    except (NotResultsError, OSError) as exc:
        say(str(exc))
        return EXIT_USAGE
    changed = [i for i in found.ids if i in done and done[i].key != found.keys[i]]
    todo = [
        i
        for i in found.ids
        if i not in done or done[i].key != found.keys[i] or (args.retry_failed and not done[i].ok)
    ]
    if changed:
        say(
            f"{len(changed)} article(s) in {args.out} were made from another version of the "
            "article or with other options: redone"
        )
    stopped: RunStopped | None = None
    try:
        processed, failed_now, stopped = _run_pool(args, found, todo, options, done, writer, say)
    finally:
        writer.close()
    current = {i: r for i, r in done.items() if r.key == found.keys.get(i)}
    ok = sum(1 for i in found.ids if i in current and current[i].ok)
    failed = sum(1 for i in found.ids if i in current and not current[i].ok)
    missing = len(found.ids) - ok - failed
    say(
        f"{processed} processed now ({failed_now} failed), {len(found.ids) - len(todo)} already "
        f"in {args.out}; {ok} of {len(found.ids)} articles ok, {failed} failed"
        + (f", {missing} not done" if missing else "")
        + f"; {found.bad} bad input line(s) skipped"
    )
    if stopped is not None:
        say(
            f"stopped: the server at {args.address} cannot take articles now ({stopped}); "
            f"{missing} article(s) not done and not recorded: rerun the same command to go on"
        )
    return EXIT_FAILED if failed or missing else EXIT_OK


def _utf16(path: Path) -> bool:
    with path.open("rb") as stream:
        start = stream.read(4)
    return start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE))


def _run_pool(
    args: argparse.Namespace,
    found: Scan,
    todo: list[str],
    options: dict[str, Any],
    done: dict[str, Recorded],
    writer: ResultsWriter,
    say: Any,
) -> tuple[int, int, RunStopped | None]:
    """Run `todo` with --concurrency calls in flight; the calling thread alone writes. Stops
    submitting at the first RunStopped, lets the calls in flight finish, and returns it."""
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
    stopped: RunStopped | None = None
    try:
        while True:
            while stopped is None and len(pending) < 2 * args.concurrency:
                article = next(articles, None)
                if article is None:
                    break
                key = found.keys[id_key(article.id)]
                pending.add(pool.submit(process_one, client, article, options, key))
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                pending.discard(future)
                try:
                    record = future.result()
                except RunStopped as exc:
                    stopped = stopped or exc
                    continue
                writer.write(record)
                done[id_key(record["id"])] = Recorded(record["ok"], record["key"])
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
    return processed, failed, stopped


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
