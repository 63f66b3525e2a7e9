"""Zip containers (OOXML packages) read within limits and written back entry for entry.

Reading checks the central directory before anything is decompressed: at most `MAX_ENTRIES`
entries, at most `MAX_TOTAL_BYTES` uncompressed in all, no entry over `MAX_PART_BYTES`, and no
entry larger than 1 MiB that claims a compression ratio over `MAX_RATIO` (zip bombs: deflate
cannot do much better than 1000:1, real XML rarely passes 100:1). `zipfile` never inflates an
entry past its declared size (it fails the CRC check instead), so those checks bound memory
and time. Encrypted entries are refused.

Writing keeps every entry in its order with its name, timestamp, compression method, extra
fields, attributes and comments, and the archive comment; untouched entries keep their bytes
(recompressed by zlib, so the compressed stream may differ from the original's).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from newsmt.core.errors import InvalidArgument

#: [est] Generous for office files (DeepL's largest Office cap is 30 MB compressed).
MAX_ENTRIES = 10_000
MAX_TOTAL_BYTES = 512 * 1024 * 1024
#: [est] An XML part this large is a book of thousands of pages.
MAX_PART_BYTES = 128 * 1024 * 1024
MAX_RATIO = 200
_RATIO_FLOOR = 1024 * 1024
_ZIP64_EXTRA = 0x0001


class Package:
    """The entries of a zip archive, read on demand."""

    def __init__(self, content: bytes, what: str) -> None:
        self.what = what
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(content))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, struct.error):
            raise InvalidArgument.field(
                "content", f"not a valid {what} file: the zip container is damaged or truncated"
            ) from None
        _check(infos, what)
        self.infos = infos
        self.by_name = {info.filename: info for info in infos}

    def names(self) -> list[str]:
        return [info.filename for info in self.infos]

    def has(self, name: str) -> bool:
        return name in self.by_name

    def read(self, name: str) -> bytes:
        info = self.by_name[name]
        try:
            with self.zip.open(info) as f:
                return f.read()
        except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, struct.error, OSError):
            raise InvalidArgument.field(
                "content", f"not a valid {self.what} file: entry {_name(name)} is damaged"
            ) from None
        except NotImplementedError:
            raise InvalidArgument.field(
                "content",
                f"{self.what} entry {_name(name)} uses a compression method that is not supported",
            ) from None

    def write(self, replaced: dict[str, bytes]) -> bytes:
        """The archive with the entries named in `replaced` holding their new bytes."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.comment = self.zip.comment
            for info in self.infos:
                data = (
                    replaced[info.filename]
                    if info.filename in replaced
                    else self.read(info.filename)
                )
                z.writestr(_copy_info(info), data)
        return out.getvalue()


def _check(infos: list[zipfile.ZipInfo], what: str) -> None:
    if len(infos) > MAX_ENTRIES:
        raise InvalidArgument.field(
            "content", f"{what} has {len(infos)} zip entries; at most {MAX_ENTRIES} are allowed"
        )
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise InvalidArgument.field(
                "content", f"{what} is encrypted (password-protected); remove the password first"
            )
        if info.file_size > MAX_PART_BYTES:
            raise InvalidArgument.field(
                "content",
                f"{what} entry {_name(info.filename)} is {info.file_size} bytes uncompressed; "
                f"at most {MAX_PART_BYTES} are allowed",
            )
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > _RATIO_FLOOR and ratio > MAX_RATIO:
            raise InvalidArgument.field(
                "content",
                f"{what} entry {_name(info.filename)} claims a compression ratio of "
                f"{ratio:.0f}:1 (over {MAX_RATIO}:1): refused as a possible zip bomb",
            )
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise InvalidArgument.field(
                "content",
                f"{what} is over {MAX_TOTAL_BYTES} bytes uncompressed: refused as a possible "
                "zip bomb",
            )


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    copy = zipfile.ZipInfo(info.filename, info.date_time)
    copy.compress_type = info.compress_type
    copy.comment = info.comment
    copy.extra = _without_zip64(info.extra)
    copy.create_system = info.create_system
    copy.create_version = info.create_version
    copy.extract_version = info.extract_version
    copy.external_attr = info.external_attr
    copy.internal_attr = info.internal_attr
    copy.flag_bits = info.flag_bits & 0x800  # keep the UTF-8 name flag; the rest is recomputed
    return copy


def _without_zip64(extra: bytes) -> bytes:
    """Extra fields less the zip64 one, which zipfile writes itself where needed."""
    out = bytearray()
    at = 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack("<HH", extra[at : at + 4])
        if kind != _ZIP64_EXTRA:
            out += extra[at : at + 4 + size]
        at += 4 + size
    return bytes(out)


def _name(name: str) -> str:
    """An entry name for a message: printable, short."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in name)
    return repr(clean[:80])
