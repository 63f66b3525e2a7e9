"""The per-unit translation cache, in process: keys, values, and a byte-bounded LRU.

A unit (a sentence, or a block of markup) is cached under the SHA-256 of a canonical record of
everything that decides its translation:

- the cache schema version (`SCHEMA_VERSION`);
- per model of the route, in order (`Hop`): its registry name, its weights
  (`models.identity.ModelIdentity.weights`: hub repo and resolved commit, or a digest of the
  files of a demo or local model), the engine kind, compute type and engine version, and the
  decoding settings;
- the source and target languages actually used (the detected source, not "");
- the unit's input after NFC normalization (`nfc.normalize`; NFC is the one normalization
  newsmt applies everywhere: "Caf\\u00e9" and "Cafe\\u0301" are one entry);
- the glossary entries that match the unit, as a set (order and repeats do not matter).

The record is length-prefixed and typed (`canonical`), so no choice of text can make two
different records encode alike: `["a|b"]` and `["a", "b"]` are different keys. A key is the
32-byte digest alone: no plaintext is stored in a key, and nothing here logs a unit's text.
A changed model, setting or glossary changes the key, so nothing ever needs purging.

Values (`CachedUnit`) are successful outputs only, typed as the pipeline uses them (the output,
its alignment, whether it was cut, its quality signals): the API has no way to store an error.

Units being translated right now are shared too ("single flight"): the first `lookup` of a key
that misses makes its caller the key's leader, and a later lookup of that key, until the leader
`put`s the value or `abandon`s the key, gets the `Flight` to wait on instead of a miss. Waiters
are woken with the value, or with nothing when the leader gave up (an error, a cancelled or
late request): an error is never handed to a waiter, as it is never stored.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

from newsmt.pipeline.documents import Alignment
from newsmt.pipeline.nfc import NORMALIZATION, normalize
from newsmt.pipeline.quality import SentenceQuality

#: Bump when anything that shapes a cached value changes meaning (key fields, value fields,
#: the post-processing of outputs), so that entries from before can never be read back.
SCHEMA_VERSION = 2

#: Bytes counted per entry on top of its payload: the Python objects that hold it (the LRU's
#: slot and link, the (value, size) pair, the value dataclass, the bytes and str headers).
#: Measured with tracemalloc on CPython 3.11 (20,000 short entries with a bytes alignment):
#: about 372 bytes per entry beyond the payload; rounded up.
ENTRY_OVERHEAD_BYTES = 384

#: Bytes counted per number (or enum member, or flag) in a value, as if packed.
_NUMBER_BYTES = 8

_DIGEST_BYTES = hashlib.sha256().digest_size


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
    #: The weights (`ModelIdentity.weights`).
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
        entries = sorted({canonical([normalize(s) for s in entry]) for entry in glossary})
        digest = self._prefix.copy()
        digest.update(canonical(normalize(unit)))
        digest.update(b"g" + struct.pack(">Q", len(entries)))
        for entry in entries:
            digest.update(entry)
        return digest.digest()


# -- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachedUnit:
    """A successful translation of one unit: what a hit gives back instead of running the
    models (its markup is placed again from the alignment)."""

    text: str
    #: The output's alignment to the unit's text (NFC); None where the engine gave none.
    alignment: Alignment | None = None
    #: The output was cut at the length bound or at a runaway loop.
    truncated: bool = False
    #: Its quality signals; None where no model ran on it.
    quality: SentenceQuality | None = None
    #: The next best translations, when the request asked for alternatives (the key says so).
    alternatives: tuple[str, ...] = ()


def payload_bytes(value: Any) -> int:
    """The payload size of `value`: strings by their UTF-8 length, numbers, flags and enum
    members as 8 bytes, buffers by their bytes, containers and dataclasses as the sum of their
    items. Raises TypeError for anything else, so that no entry is ever counted as smaller than
    it is by guesswork."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bool | int | float | enum.Enum):
        return _NUMBER_BYTES
    if isinstance(value, bytes | bytearray | memoryview):
        return memoryview(value).nbytes
    if is_dataclass(value) and not isinstance(value, type):
        return sum(payload_bytes(getattr(value, f.name)) for f in fields(value))
    if isinstance(value, Mapping):
        return sum(payload_bytes(k) + payload_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple | frozenset | set):
        return sum(payload_bytes(item) for item in value)
    raise TypeError(f"cannot size a {type(value).__name__}")


def entry_bytes(key: bytes, value: CachedUnit) -> int:
    """What one entry counts against the bound: key, payload (text, alignment, flag,
    quality), overhead."""
    return len(key) + payload_bytes(value) + ENTRY_OVERHEAD_BYTES


# -- the cache ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheStats:
    """A consistent snapshot: hits + misses + coalesced = lookups, bytes = the sum of entry
    sizes."""

    max_bytes: int
    hits: int
    misses: int
    #: Lookups that found the unit being translated for another caller and joined its flight
    #: instead of missing (`TranslationCache.lookup`).
    coalesced: int
    #: Entries dropped to make room (least recently used first).
    evictions: int
    #: Puts refused because the entry alone is larger than `max_bytes` (or the cache is off).
    rejected: int
    bytes: int
    entries: int
    #: Keys with a leader now (looked up, missed, and not yet put or abandoned).
    in_flight: int

    @property
    def lookups(self) -> int:
        return self.hits + self.misses + self.coalesced


class Flight:
    """A unit another caller (its leader) is translating now, for followers to wait on.

    Settled once, under the cache's lock: with the value (`TranslationCache.put`) or with
    nothing (`TranslationCache.abandon`). It shares the cache's one lock, so that settling, and
    the table of flights, cannot race."""

    def __init__(self, lock: threading.Lock) -> None:
        self._ready = threading.Condition(lock)
        self._settled = False
        self._value: CachedUnit | None = None

    def wait(self, timeout: float | None, stop: Callable[[], bool] = lambda: False) -> bool:
        """Block until the flight is settled, `stop()` is true (it is checked when `wake` is
        called: pass the request's cancellation, and make its cancel call `wake`), or `timeout`
        seconds (None: no limit) pass. Returns whether it is settled."""
        with self._ready:
            self._ready.wait_for(lambda: self._settled or stop(), timeout)
            return self._settled

    def wake(self) -> None:
        """Make every waiter check its `stop` again (a cancelled follower leaves; the others
        wait on). Safe from any thread that does not hold the cache's lock."""
        with self._ready:
            self._ready.notify_all()

    @property
    def value(self) -> CachedUnit | None:
        """The leader's value; None while in flight, or when the leader abandoned the key
        (the follower then translates the unit itself)."""
        with self._ready:
            return self._value

    def _settle(self, value: CachedUnit | None) -> None:
        """Called with the cache's lock held."""
        self._settled = True
        self._value = value
        self._ready.notify_all()


class TranslationCache:
    """A thread-safe LRU of `CachedUnit`s bounded by bytes (`entry_bytes`), with a table of
    the units in flight (`lookup`); lookup, put and abandon are O(1) under one lock.
    `max_bytes=0` turns it off: every lookup is a miss (no flights either), nothing is
    stored."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0 (0 turns the cache off)")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[CachedUnit, int]] = OrderedDict()
        self._flights: dict[bytes, Flight] = {}
        self._lock = threading.Lock()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._coalesced = 0
        self._evictions = 0
        self._rejected = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def lookup(self, key: bytes) -> CachedUnit | Flight | None:
        """The value under `key` (a hit, now the most recently used); or, when another caller
        leads `key`, its `Flight` to wait on (coalesced); or None (a miss): the caller is now
        the key's leader, and must `put` its value or, on any failure, `abandon` the key (in a
        `finally`), or its followers wait until their own deadlines.

        A caller must translate every key it leads before it waits on any flight: a request
        waiting while holding a leadership could wait on one that waits on it."""
        with self._lock:
            found = self._hit_locked(key)
            if found is not None:
                return found
            flight = self._flights.get(key)
            if flight is not None:
                self._coalesced += 1
                return flight
            self._misses += 1
            if self.max_bytes > 0:
                self._flights[key] = Flight(self._lock)
            return None

    def _hit_locked(self, key: bytes) -> CachedUnit | None:
        """The value under `key`, now the most recently used and counted as a hit; None
        (nothing counted) when absent. Caller holds the lock."""
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        self._hits += 1
        return found[0]

    def put(self, key: bytes, value: CachedUnit) -> bool:
        """Store `value` under `key` as the most recently used, evicting the least recently
        used entries until the bound holds, and settle the key's flight with it (its
        followers get `value` even where it is not stored). Returns False (and stores
        nothing) when the entry alone is larger than the bound."""
        if not isinstance(key, bytes) or len(key) != _DIGEST_BYTES:
            raise ValueError("a cache key is a 32-byte digest (KeyMaker.key)")
        if not isinstance(value, CachedUnit):
            raise TypeError("only CachedUnit values (successful outputs) are cached")
        size = entry_bytes(key, value)
        with self._lock:
            flight = self._flights.pop(key, None)
            if flight is not None:
                flight._settle(value)
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

    def abandon(self, key: bytes) -> None:
        """Give up the leadership of `key` (the unit failed, or its request was cancelled or
        ran out of time): its followers wake with nothing and translate it themselves. A key
        with no flight (already put) is left alone."""
        with self._lock:
            flight = self._flights.pop(key, None)
            if flight is not None:
                flight._settle(None)

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

    def in_flight(self) -> list[bytes]:
        """The keys that have a leader now (for tests and diagnostics)."""
        with self._lock:
            return list(self._flights)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                max_bytes=self.max_bytes,
                hits=self._hits,
                misses=self._misses,
                coalesced=self._coalesced,
                evictions=self._evictions,
                rejected=self._rejected,
                bytes=self._bytes,
                entries=len(self._entries),
                in_flight=len(self._flights),
            )
