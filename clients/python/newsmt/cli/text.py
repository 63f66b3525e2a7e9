"""`newsmt translate` and `newsmt summarize`: files, folders or stdin through a running server.

Inputs are read in any encoding (`newsmt.charsets`); one that cannot be read or decoded is
reported with its name and skipped, and the rest are done (`newsmt.cli._inputs`).

Where a translation goes (text format):
- `--out-dir DIR`: one file per input, `page.html` -> `DIR/page.ru.html`, in the input's
  encoding where the translation fits (`newsmt.charsets.encode`).
- One input, no --out-dir: stdout carries exactly that file's bytes, nothing added, so
  `newsmt translate --to ru page.html > page.ru.html` is the same file --out-dir writes.
- Several inputs, no --out-dir: stdout carries each translation in turn, as UTF-8 text, each
  ending with a newline (one is added where it does not end with one); use --out-dir for
  files, or --format jsonl for one JSON object per input.
- `--stream` prints the units as they arrive, as UTF-8 text, nothing added after the last.
A summary is a line of text: it is printed with a newline, or written as
`DIR/page.summary.en.txt` (UTF-8).

Files (`translate` only): .docx, .pptx, .xlsx, .srt, .vtt, .xlf and .xliff inputs go to the
server whole (TranslateDocument) and come back in their format, written beside the input as
`report.ru.docx` (or under --out-dir); where the server flagged sentences, stderr names their
places ("paragraph 12", "cue 3") and why.

Exit codes: 0 every input done; 1 some input failed (a server error, a file that could not be
read or decoded, a folder with no documents); 2 bad usage (a path that does not exist, a bad
--glossary, two inputs that would write the same --out-dir file).
"""

from __future__ import annotations

import argparse
import codecs
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsmt import charsets
from newsmt.cli._glossary import GlossaryError, read_glossary
from newsmt.cli._inputs import (
    Input,
    collisions,
    find_inputs,
    is_file,
    markup_of,
    output_path,
    read_input,
    write_file,
    write_stdout,
)
from newsmt.cli._options import add_address, positive_int, seconds
from newsmt.cli._tls import add_tls_flags, tls_from
from newsmt.cli.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

_INPUTS_HELP = (
    "files, or folders of .txt, .html, .htm, .md and .markdown files (translate: also .docx, "
    ".pptx, .xlsx, .srt, .vtt, .xlf, .xliff); '-' or nothing reads stdin"
)
DEMO_LABEL = "[demo model: random weights, meaningless output]"
IDENTITY_LABEL = "[identity engine: the output is the input, not a translation]"


def register(commands: Any) -> None:
    common = _common_flags()
    _register_translate(commands, common)
    _register_summarize(commands, common)


def _common_flags() -> argparse.ArgumentParser:
    """The flags `translate` and `summarize` share (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help=_INPUTS_HELP)
    add_address(common)
    common.add_argument(
        "--from", dest="source", default="", help="source language (default: detect)"
    )
    common.add_argument("--timeout", type=seconds, default=120.0, help="deadline per input, s")
    common.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="text, or one JSON object per input",
    )
    common.add_argument("--token", default=None, help="bearer token, if the server requires one")
    common.add_argument(
        "--markup",
        choices=("plain", "html", "markdown"),
        default=None,
        help="how the input is written (default: by extension: .html/.htm html, .md markdown, "
        "else plain); markup is kept exactly and never translated",
    )
    common.add_argument(
        "--encoding",
        type=_encoding,
        default=None,
        help="the inputs' encoding (default: a byte-order mark, an HTML page's <meta charset>, "
        "UTF-8, else detected); the output keeps it where the translation fits",
    )
    common.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write one file per input into DIR (page.html -> DIR/page.ru.html; folders keep "
        "their layout) instead of printing",
    )
    add_tls_flags(common)
    return common


def _register_translate(commands: Any, common: argparse.ArgumentParser) -> None:
    translate = commands.add_parser(
        "translate",
        parents=[common],
        help="translate files or stdin",
        description="Translate each input with a running newsmt server (see `newsmt serve`). "
        "Paragraphs, line breaks and markup are kept. With one text input, stdout is exactly "
        "the translated file (same encoding where it fits, nothing added); with several, their "
        "translations in turn as UTF-8 text, each ending with a newline: use --out-dir for one "
        "file per input. Word, PowerPoint, Excel, SRT, WebVTT and XLIFF files come back in "
        "their format, written beside the input (report.docx -> report.ru.docx) or under "
        "--out-dir; flagged places are listed on stderr. Inputs that cannot be read or "
        "decoded are reported and skipped. Exit 1 if any input failed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    translate.add_argument(
        "--to", dest="target", required=True, help="target language: en, ru or es"
    )
    translate.add_argument(
        "--glossary",
        type=Path,
        default=None,
        help="terms file: TSV (source<TAB>target) or, named .csv, CSV (source,target); a "
        "source alone is kept as written; an optional header line 'source, target'; # "
        "comments; at most 1000 terms of at most 200 characters (the server's limits)",
    )
    translate.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="TERM",
        help="keep TERM as written (a name, a brand); repeatable",
    )
    translate.add_argument(
        "--stream",
        action="store_true",
        help="print each sentence (with the markup before it) as soon as it is translated, as "
        "UTF-8 text; with --format jsonl, one object per unit, then the input's usual object",
    )
    translate.set_defaults(run=run_translate)


def _register_summarize(commands: Any, common: argparse.ArgumentParser) -> None:
    summarize = commands.add_parser(
        "summarize",
        parents=[common],
        help="summarize files or stdin",
        description="Summarize each input with a running newsmt server. The summary may be in "
        "another language than the input (--to). Each summary is printed as a line of text, or "
        "written as DIR/NAME.summary.LANG.txt with --out-dir. Exit 1 if any input failed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    summarize.add_argument(
        "--to", dest="target", default="", help="summary language (default: the input's)"
    )
    length = summarize.add_mutually_exclusive_group()
    length.add_argument(
        "--max-tokens", type=positive_int, default=None, help="summary length cap in tokens"
    )
    length.add_argument(
        "--max-sentences", type=positive_int, default=None, help="summary length cap in sentences"
    )
    summarize.add_argument(
        "--long-input",
        choices=("chunk", "truncate", "reject"),
        default="chunk",
        help="input longer than the summarizer's window: map-reduce over chunks, keep the first "
        "window only, or fail",
    )
    summarize.set_defaults(run=run_summarize)


def _encoding(label: str) -> str:
    try:
        return codecs.lookup(label).name
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding: {label!r}") from None


# -- one run -------------------------------------------------------------------------------------


@dataclass
class Done:
    """What `work` made of one input: its JSON record (with "text"), and how to write it."""

    record: dict[str, Any]
    #: The output file's name under --out-dir.
    out_name: Callable[[Path], Path]
    #: A translated document (written back in the input's encoding, nothing added), rather
    #: than a summary (a line of UTF-8 text).
    document: bool = True
    #: Already printed on stdout as it arrived (--stream).
    streamed: bool = False


@dataclass
class _Run:
    """The state of one `translate` or `summarize` run."""

    args: argparse.Namespace
    several: bool
    failed: int = 0
    labels: set[str] = field(default_factory=set)
    engines: dict[str, str] | None = None

    def say(self, message: str) -> None:
        print(f"newsmt {self.args.command}: {message}", file=sys.stderr, flush=True)

    def fail(self, name: str, message: str) -> None:
        self.failed += 1
        self.say(f"{name}: {message}")
        if self.args.format == "jsonl":
            print(json.dumps({"input": name, "ok": False, "error": message}, ensure_ascii=False))

    def label(self, client: Any, models: list[str], demo: bool) -> None:
        """Say once per run that the output came from demo weights or the identity engine."""
        if not demo or self.args.format != "text":
            return
        if self.engines is None:
            try:
                self.engines = {m.name: m.engine for m in client.list_models()}
            except Exception:  # the label is a courtesy: never fail a run over it
                self.engines = {}
        identity = bool(models) and all(self.engines.get(m) == "identity" for m in models)
        label = IDENTITY_LABEL if identity else DEMO_LABEL
        if label not in self.labels:
            self.labels.add(label)
            print(label, file=sys.stderr)


#: Translates one TranslateDocument file whole (`translate` only).
FileWork = Callable[[Any, _Run, Input], None]


def _run(
    args: argparse.Namespace,
    work: Callable[[Any, _Run, str, str, Input], Done],
    files: FileWork | None = None,
) -> int:
    from newsmt.client import Client, NewsmtError

    try:
        inputs, problems = find_inputs(args.inputs, args.markup, files=files is not None)
    except OSError as exc:
        print(f"newsmt {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out_dir is not None and (clashes := collisions(inputs)):
        for clash in clashes:
            print(f"newsmt {args.command}: --out-dir: {clash}", file=sys.stderr)
        return EXIT_USAGE
    run = _Run(args, several=len(inputs) > 1)
    for name, problem in problems:
        run.fail(name, problem)
    if not inputs:
        run.say("no input to work on")
        return EXIT_FAILED
    with Client(
        args.address, timeout=args.timeout, token=args.token, credentials=tls_from(args)
    ) as client:
        for item in _progress(inputs):
            if is_file(item) and args.markup is None:
                if files is None:
                    run.fail(item.name, "only translate takes this kind of file; skipped")
                    continue
                try:
                    files(client, run, item)
                except OSError as exc:
                    run.fail(item.name, f"cannot be read or written ({exc.strerror or exc})")
                except NewsmtError as exc:
                    run.fail(item.name, str(exc))
                continue
            markup = markup_of(item.name, args.markup)
            skipped = "; skipped" if item.path is not None else ""
            try:
                decoded = read_input(item, markup, args.encoding)
            except OSError as exc:
                run.fail(item.name, f"cannot be read ({exc.strerror or exc}){skipped}")
                continue
            except charsets.UndecodableError as exc:
                run.fail(item.name, f"cannot be decoded: {exc}{skipped}")
                continue
            if decoded.note:
                run.say(f"{item.name}: {decoded.note}")
            try:
                done = work(client, run, decoded.text, markup, item)
            except NewsmtError as exc:
                run.fail(item.name, str(exc))
                continue
            _emit(run, item, decoded, markup, done)
    return EXIT_OK if not run.failed else EXIT_FAILED


def _emit(run: _Run, item: Input, decoded: charsets.Decoded, markup: str, done: Done) -> None:
    """Write one result where the options say (see the module's docstring)."""
    args, record = run.args, done.record
    text: str = record["text"]
    if done.document:
        encoded = charsets.encode(text, decoded, html=markup == "html")
        data = encoded.data
        if encoded.note:
            run.say(f"{item.name}: {encoded.note}")
        elif encoded.references:
            run.say(
                f"{item.name}: {encoded.references} character(s) that {encoded.encoding} cannot "
                "hold written as numeric character references"
            )
        record["encoding"] = decoded.encoding
    else:
        data = text.encode("utf-8")
    if args.out_dir is not None:
        path = done.out_name(args.out_dir)
        try:
            write_file(path, data if done.document else data + b"\n")
        except OSError as exc:
            run.fail(item.name, f"cannot write {path} ({exc.strerror or exc})")
            return
        record["output"] = str(path)
        if args.format == "text":
            run.say(f"{item.name} -> {path}")
    if args.format == "jsonl":
        print(
            json.dumps({"input": item.name, "ok": True, **record}, ensure_ascii=False), flush=True
        )
    elif args.out_dir is not None:
        return
    elif done.document and not run.several:
        if not done.streamed:
            write_stdout(data)
    elif done.streamed:
        if run.several and not text.endswith("\n"):
            write_stdout(b"\n")
    else:
        utf8 = text.encode("utf-8")
        write_stdout(utf8 if utf8.endswith(b"\n") else utf8 + b"\n")


def _progress(items: list[Input]) -> Iterator[Input]:
    if len(items) > 1 and sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, unit="doc", file=sys.stderr)
    else:
        yield from items


# -- translate -----------------------------------------------------------------------------------


def run_translate(args: argparse.Namespace) -> int:
    def warn(message: str) -> None:
        print(f"newsmt translate: --glossary: {message}", file=sys.stderr)

    try:
        glossary = read_glossary(args.glossary, args.keep, warn)
    except (OSError, GlossaryError) as exc:
        print(f"newsmt translate: --glossary: {exc}", file=sys.stderr)
        return EXIT_USAGE
    target = args.target.strip().lower()

    def work(client: Any, run: _Run, text: str, markup: str, item: Input) -> Done:
        if args.stream:
            result, streamed = _stream(client, args, text, markup, glossary, item.name)
        else:
            [result] = client.translate(
                [text], target=args.target, source=args.source, format=markup, glossary=glossary
            )
            streamed = None
        q = result.quality
        run.label(client, list(result.route.models), result.route.demo)
        if args.format == "text":
            if result.missed_terms:
                run.say(
                    f"{item.name}: glossary terms not applied: {', '.join(result.missed_terms)}"
                )
            if q.flagged_sentences:
                run.say(
                    f"{item.name}: quality: {q.flagged_sentences} of {q.sentences} sentence(s) "
                    f"flagged: {', '.join(q.flags)}; check them before publishing"
                )
        return Done(
            _text_record(result, markup, streamed),
            lambda out_dir: output_path(out_dir, item, target),
            streamed=streamed is not None and args.format == "text",
        )

    def translate_file(client: Any, run: _Run, item: Input) -> None:
        assert item.path is not None
        done = client.translate_document(
            item.path, target=args.target, source=args.source, glossary=glossary
        )
        run.label(client, list(done.route.models), done.route.demo)
        out_dir = args.out_dir if args.out_dir is not None else item.path.parent
        path = out_dir / item.relative.with_name(done.file_name)
        write_file(path, done.content)
        flagged = [f"{f.location} ({', '.join(f.flags)})" for f in done.flagged]
        if args.format == "jsonl":
            print(json.dumps(_file_record(item, path, done), ensure_ascii=False), flush=True)
            return
        run.say(f"{item.name} -> {path}")
        if done.missed_terms:
            run.say(f"{item.name}: glossary terms not applied: {', '.join(done.missed_terms)}")
        if flagged:
            run.say(f"{item.name}: check {len(flagged)} place(s): {'; '.join(flagged)}")

    return _run(args, work, translate_file)


def _text_record(result: Any, markup: str, streamed: str | None) -> dict[str, Any]:
    """The JSON record of one translated text input."""
    return {
        "text": result.text if streamed is None else streamed,
        "format": markup,
        "source_language": result.detected_language.language,
        "confidence": result.detected_language.confidence,
        "models": list(result.route.models),
        "demo": result.route.demo,
        "output_truncated": result.output_truncated,
        "applied_terms": list(result.applied_terms),
        "missed_terms": list(result.missed_terms),
        "markup_degraded": result.markup_degraded,
        "quality": dataclasses.asdict(result.quality),
        **({"cached_units": result.cached_units, "units": result.units} if streamed else {}),
    }


def _file_record(item: Input, path: Path, done: Any) -> dict[str, Any]:
    """The JSON record of one translated file (`translate_document`), written to `path`."""
    return {
        "input": item.name,
        "ok": True,
        "output": str(path),
        "mime_type": done.mime_type,
        "source_language": done.detected_language.language,
        "models": list(done.route.models),
        "demo": done.route.demo,
        "units": done.units,
        "cached_units": done.cached_units,
        "applied_terms": list(done.applied_terms),
        "missed_terms": list(done.missed_terms),
        "markup_degraded": done.markup_degraded,
        "quality": dataclasses.asdict(done.quality),
        "flagged": [{"location": f.location, "flags": list(f.flags)} for f in done.flagged],
    }


def _stream(
    client: Any,
    args: argparse.Namespace,
    text: str,
    markup: str,
    glossary: dict[str, str],
    name: str,
) -> tuple[Any, str]:
    """Translate one input with `translate_stream`, printing units as they arrive; returns
    its Translation (from SegmentDone) and the joined text."""
    from newsmt.client import SegmentDone, TranslatedUnit

    parts: list[str] = []
    result = None
    for event in client.translate_stream(
        [text], target=args.target, source=args.source, format=markup, glossary=glossary
    ):
        if isinstance(event, TranslatedUnit):
            parts.append(event.text)
            if args.format == "jsonl":
                unit = {
                    "input": name,
                    "unit": event.unit_index,
                    "source_start": event.source_start,
                    "source_end": event.source_end,
                    "text": event.text,
                    "cached": event.cached,
                }
                print(json.dumps(unit, ensure_ascii=False), flush=True)
            else:
                write_stdout(event.text.encode("utf-8"))
        elif isinstance(event, SegmentDone):
            result = event.translation
    if result is None:  # pragma: no cover - the server always sends SegmentDone
        raise RuntimeError("the stream ended without its SegmentDone")
    return result, "".join(parts)


# -- summarize -----------------------------------------------------------------------------------


def run_summarize(args: argparse.Namespace) -> int:
    def work(client: Any, run: _Run, text: str, markup: str, item: Input) -> Done:
        result = client.summarize(
            text,
            target=args.target,
            source=args.source,
            max_tokens=args.max_tokens,
            max_sentences=args.max_sentences,
            long_input=args.long_input,
            format=markup,
        )
        run.label(client, list(result.route.models), result.route.demo)
        h = result.input_handling
        record = {
            "text": result.text,
            "language": result.language,
            "source_language": result.detected_language.language,
            "input_handling": {
                "mode": h.mode,
                "chunks": h.chunks,
                "input_tokens": h.input_tokens,
                "window_tokens": h.window_tokens,
                "dropped_tokens": h.dropped_tokens,
            },
            "models": list(result.route.models),
            "demo": result.route.demo,
            "faithfulness": dataclasses.asdict(result.faithfulness),
        }
        return Done(
            record,
            lambda out_dir: output_path(out_dir, item, f"summary.{result.language}", ".txt"),
            document=False,
        )

    return _run(args, work)
