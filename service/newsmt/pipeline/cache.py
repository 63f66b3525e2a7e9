"""The per-unit translation cache, in process: keys, values, and a byte-bounded LRU.

A unit (a sentence, or a block of markup) is cached under the SHA-256 of a canonical record of
everything that decides its translation:

- the cache schema version (`SCHEMA_VERSION`);
- per model of the route, in order (`Hop`): its registry name, its identity (hub repo and
  resolved commit, or `model_files_digest` of its folder for local and demo models), the engine
  kind, compute type and engine version, and the decoding settings;
- the source and target languages actually used (the detected source, not "");
- the unit's input after NFC normalization (`normalize_unit`; NFC is the one normalization
  newsmt applies everywhere: "Caf\\u00e9" and "Cafe\\u0301" are one entry);
- the glossary entries that match the unit, as a set (order and repeats do not matter).

The record is length-prefixed and typed (`canonical`), so no choice of text can make two
different records encode alike: `["a|b"]` and `["a", "b"]` are different keys. A key is the
32-byte digest alone: no plaintext is stored in a key, and nothing here logs a unit's text.
A changed model, setting or glossary changes the key, so nothing ever needs purging.

Values (`CachedUnit`) are successful outputs only: the API has no way to store an error.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

#: Bump when anything that shapes a cached value changes meaning (key fields, value fields,
#: the post-processing of outputs), so that entries from before can never be read back.
SCHEMA_VERSION = 1

#: Unicode normalization applied to every unit before keying (and, by the pipeline, before the
#: model), so that composed and decomposed forms of one text share an entry.
NORMALIZATION: Final = "NFC"

#: Bytes counted per entry on top of its payload: the Python objects that hold it (the LRU's
#: slot and link, the (value, size) pair, the value dataclass, the bytes and str headers).
#: Measured with tracemalloc on CPython 3.11 (20,000 short entries with a bytes alignment):
#: about 372 bytes per entry beyond the payload; rounded up.
ENTRY_OVERHEAD_BYTES = 384

#: Bytes counted per number in an alignment or score given as a Python sequence (as if packed).
_NUMBER_BYTES = 8

_DIGEST_BYTES = hashlib.sha256().digest_size

_NO_SCORES: Mapping[str, float] = MappingProxyType({})


def normalize_unit(text: str) -> str:
    """`text` in the one normalization newsmt keys by (NFC)."""
    return unicodedata.normalize(NORMALIZATION, text)


# -- canonical records -------------------------------------------------------------------------


def canonical(value: Any) -> bytes:
    """An unambiguous byte encoding of `value`: every item carries a one-byte type tag and a
    length (or count), so no two different values encode alike.

    Supports None, bool, int, float, str, bytes, sequences (lists and tuples are one type),
    mappings (keys sorted by their own encoding), and dataclass instances (as mappings).
    Strings are encoded as given: normalize first where that matters.
    """
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out += b"N"
    elif isinstance(value, bool):
        out += b"T" if value else b"F"
    elif isinstance(value, int):
        raw = str(value).encode("ascii")
        out += b"i" + struct.pack(">Q", len(raw)) + raw
    elif isinstance(value, float):
        raw = value.hex().encode("ascii")
        out += b"f" + struct.pack(">Q", len(raw)) + raw
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        out += b"s" + struct.pack(">Q", len(raw)) + raw
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out += b"b" + struct.pack(">Q", len(raw)) + raw
    elif is_dataclass(value) and not isinstance(value, type):
        _encode(asdict(value), out)
    elif isinstance(value, Mapping):
        items = sorted((canonical(k), canonical(v)) for k, v in value.items())
        out += b"m" + struct.pack(">Q", len(items))
        for k, v in items:
            out += k + v
    elif isinstance(value, list | tuple):
        out += b"l" + struct.pack(">Q", len(value))
        for item in value:
            _encode(item, out)
    else:
        raise TypeError(f"cannot encode a {type(value).__name__} in a cache key")


# -- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hop:
    """One model of a route, as the cache key sees it."""

    #: Registry name ("opus-mt-en-ru"); the route is the tuple of these.
    model: str
    #: `hub_identity(repo, commit)` or `files_identity(model_files_digest(folder))`.
    identity: str
    #: "transformers", "ctranslate2" or "identity".
    engine: str
    #: "int8", "float32", ...; "" where the engine has none.
    compute_type: str
    #: `engine_version(engine)`.
    engine_version: str
    #: Every setting that shapes the output: the engine's GenerationSettings and the pipeline's
    #: output bound and sentence limit. Serialised canonically (key order does not matter).
    decoding: Mapping[str, Any] = field(default_factory=dict)


def hub_identity(repo: str, commit: str) -> str:
    """A hub model's identity: its repo and RESOLVED commit (the snapshot folder's name),
    never a branch such as "main", which can move."""
    return f"hub:{repo}@{commit}"


def files_identity(digest: str) -> str:
    """A local or demo model's identity: the digest of its files (`model_files_digest`)."""
    return f"files:{digest}"


def engine_version(engine: str) -> str:
    """The installed version of the engine's library ("" for the identity engine)."""
    from importlib.metadata import PackageNotFoundError, version

    package = {"transformers": "transformers", "ctranslate2": "ctranslate2"}.get(engine)
    if package is None:
        return ""
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def served_identity(spec: Any, path: Path | None, demo: bool) -> str:
    """A loaded model's identity for keys (the pool's `identify` hook; `spec` is its
    ModelSpec): a pulled snapshot by its repo and resolved commit (the snapshot folder's
    name), a demo or local model by the digest of its files, the identity engine (no folder)
    by a fixed name."""
    if path is None:
        return f"builtin:identity:{spec.name}"
    if demo:
        return files_identity(model_files_digest(path))
    return hub_identity(spec.repo, path.name)


def model_files_digest(folder: str | Path) -> str:
    """SHA-256 over every file under `folder`: its relative path, size and contents, in path
    order. Reads every byte, so call it once, when the model loads. Symlinked files (the hub
    cache's snapshots) are followed; symlinked folders are not."""
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"model folder {root} is not a directory")
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file():
                files.append((path.relative_to(root).as_posix(), path))
    files.sort()
    digest = hashlib.sha256(canonical(("newsmt-model-files", SCHEMA_VERSION, len(files))))
    for relative, path in files:
        size = path.stat().st_size
        digest.update(canonical((relative, size)))
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


class KeyMaker:
    """Keys for the units of one (route, source, target): the shared part of the record is
    hashed once, and each unit only adds its own text and glossary entries."""

    def __init__(self, hops: Sequence[Hop], source: str, target: str) -> None:
        if not source or not target:
            raise ValueError("a cache key needs the source and target actually used")
        self.hops = tuple(hops)
        self.route = tuple(h.model for h in self.hops)
        record = (
            "newsmt-unit",
            SCHEMA_VERSION,
            NORMALIZATION,
            self.route,
            [
                (h.model, h.identity, h.engine, h.compute_type, h.engine_version, h.decoding)
                for h in self.hops
            ],
            source,
            target,
        )
        self._prefix = hashlib.sha256(canonical(record))

    def key(self, unit: str, glossary: Iterable[Sequence[str]] = ()) -> bytes:
        """The key of `unit` with the glossary entries that match it (each entry a sequence
        of strings, such as (source term, target term)); 32 bytes."""
        entries = sorted({canonical([normalize_unit(s) for s in entry]) for entry in glossary})
        digest = self._prefix.copy()
        digest.update(canonical(normalize_unit(unit)))
        digest.update(b"g" + struct.pack(">Q", len(entries)))
        for entry in entries:
            digest.update(entry)
        return digest.digest()


# -- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachedUnit:
    """A successful translation of one unit."""

    text: str
    #: Opaque to the cache: whatever the caller stores (token alignment, source spans). Its size
    #: must be countable: a buffer (bytes, array.array, numpy), or nested sequences/mappings of
    #: numbers and strings.
    alignment: Any = ()
    #: The output was cut at the length bound or at a runaway loop.
    truncated: bool = False
    #: Room for per-unit quality scores (name -> value).
    scores: Mapping[str, float] = field(default_factory=lambda: _NO_SCORES)


def payload_bytes(value: Any) -> int:
    """The payload size of `value`: buffers by their bytes, strings by their UTF-8 length,
    numbers as 8 bytes, containers as the sum of their items. Raises TypeError for anything
    else, so that no entry is ever counted as smaller than it is by guesswork."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bool | int | float):
        return _NUMBER_BYTES
    try:
        with memoryview(value) as view:
            return view.nbytes
    except TypeError:
        pass
    if isinstance(value, Mapping):
        return sum(payload_bytes(k) + payload_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(payload_bytes(item) for item in value)
    raise TypeError(f"cannot size a {type(value).__name__}: pass a buffer or nested sequences")


def entry_bytes(key: bytes, value: CachedUnit) -> int:
    """What one entry counts against the bound: key, text, alignment, scores, flag, overhead."""
    return (
        len(key)
        + payload_bytes(value.text)
        + payload_bytes(value.alignment)
        + payload_bytes(value.scores)
        + 1
        + ENTRY_OVERHEAD_BYTES
    )


# -- the cache ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheStats:
    """A consistent snapshot: hits + misses = lookups, bytes = the sum of entry sizes."""

    max_bytes: int
    hits: int
    misses: int
    #: Entries dropped to make room (least recently used first).
    evictions: int
    #: Puts refused because the entry alone is larger than `max_bytes` (or the cache is off).
    rejected: int
    bytes: int
    entries: int

    @property
    def lookups(self) -> int:
        return self.hits + self.misses


class TranslationCache:
    """A thread-safe LRU of `CachedUnit`s bounded by bytes (`entry_bytes`); get and put are
    O(1) under one lock. `max_bytes=0` turns it off: every get is a miss, nothing is stored."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0 (0 turns the cache off)")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[CachedUnit, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._rejected = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: bytes) -> CachedUnit | None:
        """The value under `key`, now the most recently used, or None (a miss)."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return found[0]

    def put(self, key: bytes, value: CachedUnit) -> bool:
        """Store `value` under `key` as the most recently used, evicting the least recently
        used entries until the bound holds. Returns False (and stores nothing) when the entry
        alone is larger than the bound."""
        if not isinstance(key, bytes) or len(key) != _DIGEST_BYTES:
            raise ValueError("a cache key is a 32-byte digest (KeyMaker.key)")
        if not isinstance(value, CachedUnit):
            raise TypeError("only CachedUnit values (successful outputs) are cached")
        size = entry_bytes(key, value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                self._rejected += 1
                return False
            while self._bytes + size > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
                self._evictions += 1
            self._entries[key] = (value, size)
            self._bytes += size
            return True

    def clear(self) -> None:
        """Drop every entry (the counters stay; dropped entries are not evictions)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        """Whether `key` is stored; not a lookup (no counter moves, no LRU update)."""
        with self._lock:
            return key in self._entries

    def ordered_keys(self) -> list[bytes]:
        """The stored keys, least recently used first (for tests and diagnostics)."""
        with self._lock:
            return list(self._entries)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                max_bytes=self.max_bytes,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                rejected=self._rejected,
                bytes=self._bytes,
                entries=len(self._entries),
            )
