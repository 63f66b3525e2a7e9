"""The documents `newsmt translate` and `summarize` read, and where their results go.

Inputs: files, folders (every document under them, sorted: .txt, .html, .htm, .md and
.markdown text, and for `translate` the files TranslateDocument takes, .docx, .pptx, .xlsx,
.srt, .vtt, .xlf and .xliff), or stdin. Text is read as bytes and decoded by `newsmt.charsets`
(any encoding), one at a time, so that a file that cannot be read or decoded is reported and
skipped while the rest are done; the other files go to the server as they are. A folder with
no such files is reported too.

--out-dir DIR: one file per input, at the input's path relative to the folder it was found in
(a file given by name: its name), with the language before the extension: `page.html` ->
`DIR/page.ru.html`. Files are written whole (a temporary file renamed), never half.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from newsmt import charsets

#: Markup by file extension; anything else (stdin included) is plain unless --markup says.
MARKUP_BY_SUFFIX = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}
FOLDER_SUFFIXES = (".txt", *MARKUP_BY_SUFFIX)
#: Files `translate` sends whole to TranslateDocument, which writes them back in their format.
FILE_SUFFIXES = (".docx", ".pptx", ".xlsx", ".srt", ".vtt", ".xlf", ".xliff")
#: The extension of stdin's output under --out-dir, by markup.
_SUFFIX_BY_MARKUP = {"plain": ".txt", "html": ".html", "markdown": ".md"}


@dataclass(frozen=True)
class Input:
    """One document to read."""

    name: str  # as messages show it: the path, or "<stdin>"
    path: Path | None  # None: stdin
    relative: Path  # its place under --out-dir


def find_inputs(
    paths: list[Path], markup: str | None, *, files: bool = False
) -> tuple[list[Input], list[tuple[str, str]]]:
    """The inputs `paths` name, in order, and the problems found, (name, what): a folder with
    no documents. `files`: folders give the TranslateDocument files too (`is_file`).
    No paths, or "-": stdin. FileNotFoundError for a path that does not exist."""
    suffixes = (*FOLDER_SUFFIXES, *FILE_SUFFIXES) if files else FOLDER_SUFFIXES
    if not paths or paths == [Path("-")]:
        stdin = Path("stdin" + _SUFFIX_BY_MARKUP[markup or "plain"])
        return [Input("<stdin>", None, stdin)], []
    inputs: list[Input] = []
    problems: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            found = [
                Input(str(file), file, file.relative_to(path))
                for file in sorted(path.rglob("*"))
                if file.suffix.lower() in suffixes and file.is_file()
            ]
            if not found:
                problems.append((str(path), f"no {', '.join(suffixes)} files in it"))
            inputs += found
        elif path.exists():
            inputs.append(Input(str(path), path, Path(path.name)))
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return inputs, problems


def is_file(item: Input) -> bool:
    """Whether the input is a file TranslateDocument translates whole (by its extension)."""
    return item.path is not None and item.path.suffix.lower() in FILE_SUFFIXES


def markup_of(name: str, override: str | None) -> str:
    """The input's format: --markup if given, else by the file's extension."""
    if override:
        return override
    return MARKUP_BY_SUFFIX.get(Path(name).suffix.lower(), "plain")


def read_input(item: Input, markup: str, encoding: str | None) -> charsets.Decoded:
    """The input's text. OSError when it cannot be read, charsets.UndecodableError when it is
    not text (LookupError for an unknown --encoding is caught when options are checked)."""
    data = sys.stdin.buffer.read() if item.path is None else item.path.read_bytes()
    return charsets.decode(data, html=markup == "html", encoding=encoding)


def collisions(inputs: list[Input]) -> list[str]:
    """Inputs that would write the same file under --out-dir."""
    seen: dict[Path, str] = {}
    found = []
    for item in inputs:
        first = seen.setdefault(item.relative, item.name)
        if first != item.name:
            found.append(f"{first} and {item.name} would both be written as {item.relative}")
    return found


def output_path(out_dir: Path, item: Input, tag: str, suffix: str | None = None) -> Path:
    """`out_dir`/the input's relative path with `.tag` before its extension (`suffix`
    replaces the extension where given)."""
    relative = item.relative
    return out_dir / relative.with_name(f"{relative.stem}.{tag}{suffix or relative.suffix}")


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole: a temporary file beside it, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # the umask's permissions
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_stdout(data: bytes) -> None:
    """Bytes to stdout exactly (after whatever text was printed before them)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
