"""Which kind of file a request holds: from its MIME type, else its file name's extension, else
its content; and the files refused before any parsing (macros, encryption, legacy binaries)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from newsmt.core.errors import InvalidArgument


@dataclass(frozen=True)
class FileKind:
    kind: str
    #: The MIME type responses carry.
    mime_type: str
    #: File name extensions, the first the one written.
    extensions: tuple[str, ...]
    #: Other MIME types accepted for it.
    aliases: tuple[str, ...] = ()


SUPPORTED: tuple[FileKind, ...] = (
    FileKind(
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (".docx",),
    ),
    FileKind(
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        (".pptx",),
    ),
    FileKind(
        "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)
    ),
    FileKind(
        "srt", "application/x-subrip", (".srt",), ("text/srt", "application/srt", "text/x-srt")
    ),
    FileKind("vtt", "text/vtt", (".vtt",)),
    FileKind(
        "xliff",
        "application/xliff+xml",
        (".xlf", ".xliff"),
        ("application/x-xliff+xml", "application/x-xliff"),
    ),
    # Text files: any encoding (`files.text`).
    FileKind("html", "text/html", (".html", ".htm", ".xhtml"), ("application/xhtml+xml",)),
    FileKind("markdown", "text/markdown", (".md", ".markdown"), ("text/x-markdown",)),
    FileKind("txt", "text/plain", (".txt", ".text")),
)
BY_KIND = {k.kind: k for k in SUPPORTED}
_BY_MIME = {mime: k for k in SUPPORTED for mime in (k.mime_type, *k.aliases)}
_BY_EXTENSION = {ext: k for k in SUPPORTED for ext in k.extensions}

MACRO_EXTENSIONS = frozenset(
    {".docm", ".dotm", ".xlsm", ".xltm", ".xlam", ".xlsb", ".pptm", ".potm", ".ppsm", ".ppam"}
)
_MACRO_MIME = re.compile(r"macroenabled|vnd\.ms-excel\.sheet\.binary", re.IGNORECASE)
#: Office's own OLE "compound file" signature: legacy .doc/.xls/.ppt, or an encrypted OOXML file.
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
ZIP_MAGIC = b"PK\x03\x04"
_MACRO_MESSAGE = (
    "macro-enabled Office files are refused (they carry VBA code); save it without macros "
    "(.docx, .xlsx, .pptx) and send that"
)
_SRT_TIMING = re.compile(rb"\d+:\d{1,2}:\d{1,2}[,.]\d{1,3}\s*-{1,2}>")


def supported_list() -> str:
    return ", ".join(k.kind for k in SUPPORTED)


def resolve(content: bytes, mime_type: str, file_name: str) -> FileKind:
    """The kind of the file. InvalidArgument for an unsupported type, a macro-enabled file, an
    encrypted or legacy binary Office file."""
    refuse_binary(content)
    mime = mime_type.split(";", 1)[0].strip().lower()
    if mime:
        if _MACRO_MIME.search(mime):
            raise InvalidArgument.field("mime_type", _MACRO_MESSAGE)
        kind = _BY_MIME.get(mime)
        if kind is None:
            raise InvalidArgument.field(
                "mime_type", f"unsupported type {_printable(mime)}; supported: {supported_list()}"
            )
        return kind
    extension = posixpath.splitext(file_name.replace("\\", "/"))[1].lower()
    if extension in MACRO_EXTENSIONS:
        raise InvalidArgument.field("file_name", _MACRO_MESSAGE)
    if extension in _BY_EXTENSION:
        return _BY_EXTENSION[extension]
    sniffed = sniff(content)
    if sniffed is None:
        said = f"extension {_printable(extension)}" if extension else "no extension"
        raise InvalidArgument.field(
            "content",
            f"unrecognised file ({said}, no MIME type); supported: {supported_list()}",
        )
    return sniffed


def refuse_binary(content: bytes) -> None:
    """Refuse OLE compound files: an encrypted OOXML file or a legacy binary Office file."""
    if content.startswith(OLE_MAGIC):
        if _ENCRYPTED_STREAM in content:
            raise InvalidArgument.field(
                "content",
                "the file is encrypted (password-protected); remove the password and send it again",
            )
        raise InvalidArgument.field(
            "content",
            "legacy binary Office files (.doc, .xls, .ppt) are not supported; save it as "
            ".docx, .xlsx or .pptx",
        )


def sniff(content: bytes) -> FileKind | None:
    """The kind the content itself shows, or None."""
    if content.startswith(ZIP_MAGIC):
        if b"vbaProject" in content or b"macroEnabled" in content:
            raise InvalidArgument.field("content", _MACRO_MESSAGE)
        for marker, kind in (
            (b"word/", "docx"),
            (b"ppt/", "pptx"),
            (b"xl/", "xlsx"),
        ):
            if marker in content:
                return BY_KIND[kind]
        return None
    head = _text_head(content)
    if head is None:
        return None
    stripped = head.lstrip()
    if stripped.startswith(b"WEBVTT"):
        return BY_KIND["vtt"]
    if stripped.startswith(b"<") and b"<xliff" in head:
        return BY_KIND["xliff"]
    if _SRT_TIMING.search(head):
        return BY_KIND["srt"]
    lower = stripped[:1024].lower()
    if lower.startswith((b"<!doctype html", b"<html")) or b"<body" in lower:
        return BY_KIND["html"]
    return None


def _text_head(content: bytes) -> bytes | None:
    """The first 4 KiB as UTF-8 bytes (UTF-16 with a BOM re-encoded), without a BOM."""
    head = content[:4096]
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:]
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(codec, errors="ignore").encode()
    return head


def _printable(value: str) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in value)
    return repr(clean[:60])


def file_name_for(original: str, kind: FileKind, target: str) -> str:
    """``report.docx`` -> ``report.ru.docx``: the target language before the extension (the
    kind's own extension when the name has none or another)."""
    base = posixpath.basename(original.replace("\\", "/"))
    stem, extension = posixpath.splitext(base)
    if extension.lower() not in kind.extensions:
        stem, extension = base or "document", kind.extensions[0]
    return f"{stem or 'document'}.{target}{extension}"
