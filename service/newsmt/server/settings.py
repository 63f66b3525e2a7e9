"""Server settings: parsed once, from flags > environment (NEWSMT_*) > config file > defaults,
into one typed object that is passed down. Nothing reads the environment at import time."""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "NEWSMT_"


def _setting(default: Any, help: str) -> Any:
    """A settings field with its help text, which `newsmt serve --help` shows."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: default, metadata={"help": help})
    return field(default=default, metadata={"help": help})


class SettingsError(ValueError):
    """A setting has a bad value; the message names the setting and where it came from."""


@dataclass(frozen=True)
class Settings:
    # -- network ---------------------------------------------------------------------------
    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(50051, "Port to listen on; 0 picks a free one (tests).")
    grpc_workers: int = _setting(
        0,
        "gRPC worker threads. 0 = --max-inflight-requests + 8, so that requests over the limit "
        "are refused at once rather than queued inside gRPC.",
    )
    metrics_port: int = _setting(
        9464, "Port of the Prometheus /metrics endpoint (same --host); -1 turns it off."
    )
    max_connection_age_s: float = _setting(
        300.0,
        "Close client connections after this many seconds (they reconnect at once), so that "
        "clients re-resolve DNS and spread onto new replicas; calls in flight get "
        "--default-timeout + 5 s to finish first; 0 = never.",
    )
    max_message_bytes: int = _setting(
        11 * 1024 * 1024,
        "Largest request the server accepts, in bytes: more than --max-document-bytes (1 MiB "
        "more is ample), so that a document at its limit fits with the rest of its request.",
    )

    # -- HTTP (REST/JSON, DeepL- and LibreTranslate-compatible APIs) ------------------------
    http_port: int = _setting(
        8080,
        "Port of the HTTP listener (same --host, same TLS and tokens as gRPC): the REST API "
        "from the protos, /openapi.json, the DeepL (/v2) and LibreTranslate APIs, /healthz and "
        "/readyz. 0 picks a free one; -1 turns it off.",
    )
    http_cors_origins: str = _setting(
        "",
        "Comma-separated origins that browsers may call the HTTP API from (CORS); empty = "
        "CORS off (no Access-Control headers at all). `*` allows any origin.",
    )
    job_store: str = _setting(
        "memory",
        "Where document jobs (DeepL /v2/document, LibreTranslate /translate_file) and DeepL "
        "usage are kept: `memory` (this process: one replica) or `redis://host:port/db` (shared "
        "by every replica behind a load balancer).",
    )
    job_ttl_s: float = _setting(
        3600.0,
        "Seconds a document job and its result are kept; a result is also deleted once downloaded.",
    )
    job_store_max_bytes: int = _setting(
        256 * 1024 * 1024,
        "Bytes of translated documents the job store holds at once (all replicas together for "
        "Redis); an upload past it gets 429 (DeepL: 503) until results are downloaded or expire.",
    )
    document_workers: int = _setting(
        2, "Document jobs this process translates at once; later uploads wait, queued."
    )
    max_queued_documents: int = _setting(
        32, "Document jobs queued in this process before uploads are refused (429)."
    )
    deepl_character_quota: int = _setting(
        0,
        "Characters each token may translate through the DeepL API per calendar month (UTC), "
        "after which it gets DeepL's 456; 0 = no quota (/v2/usage reports a limit of 10^12, "
        "which clients read as not reached).",
    )

    # -- models ----------------------------------------------------------------------------
    model_dir: Path = _setting(Path("models"), "Where models live (see `newsmt models --help`).")
    registry: Path | None = _setting(None, "The registry TOML; empty = the built-in one.")
    calibration: Path | None = _setting(
        None,
        "Seq-Logprob percentiles per model from `newsmt eval` (calibration.json), for the "
        "LOW_CONFIDENCE flag; empty = --model-dir/calibration.json when present, else none.",
    )
    device: str = _setting("cpu", '"cpu" or "cuda".')
    intra_threads: int = _setting(
        0,
        "Threads one engine call may use. 0 = the usable CPUs divided among the "
        "--inter-threads calls (at least 1); with one call, all CPUs but one, which runs gRPC "
        "and the pipeline while the call decodes.",
    )
    inter_threads: int = _setting(
        0,
        "CTranslate2 engine calls one model runs at once; the batcher keeps that many going, "
        "on one copy of the weights, each with its own decoding memory (--max-batch-tokens). "
        "0 = 2 where 2 or more CPUs are usable, else 1 (on 2 CPUs, two calls of one thread "
        "each: docs/PERFORMANCE.md, (a) and (b)).",
    )

    # -- scheduler -------------------------------------------------------------------------
    max_batch_tokens: int = _setting(
        1536,
        "Tokens per engine call: rows x (longest input + output bound), what decoding holds in "
        "memory (120-170 KiB each for opus-mt, beam 4: bench/decode_memory.py); each of the "
        "--inter-threads calls holds its own.",
    )
    max_batch_size: int = _setting(64, "Rows per engine call.")
    max_queue_delay_ms: float = _setting(
        50.0,
        "Longest time, in ms, the oldest queued sentence waits for more to batch with (never "
        "more than half a recent engine call). It waits that long only while more keeps "
        "arriving: see --queue-quiet-ms.",
    )
    queue_quiet_ms: float = _setting(
        10.0,
        "A batch stops waiting for more once none has arrived for this many ms: a lone "
        "request waits just this, while a burst still arriving is gathered into shared engine "
        "calls, up to --max-queue-delay-ms. Set it to --max-queue-delay-ms to always wait that.",
    )
    max_queue: int = _setting(
        2048, "Sentences or chunks queued per model before new work gets RESOURCE_EXHAUSTED."
    )

    # -- pipeline and limits ---------------------------------------------------------------
    cache_bytes: int = _setting(
        64 * 1024 * 1024,
        "Bytes of translated units kept in this process's LRU cache (per replica); 0 turns it off.",
    )
    max_sentence_tokens: int = _setting(
        256, "Sentences longer than this many tokens are split before translation."
    )
    max_segments: int = _setting(
        128, "Segments per Translate request, and texts per DetectLanguage request."
    )
    max_segment_chars: int = _setting(
        20_000, "Characters per article title, and per text to DetectLanguage."
    )
    max_request_chars: int = _setting(
        100_000,
        "Characters per request that reach a model: the text of every segment, body, title or "
        "summarizer text (markup, attributes and code do not count; nor does a glossary, which "
        "has limits of its own). One document may use all of it: a web page is one segment.",
    )
    max_document_bytes: int = _setting(
        10 * 1024 * 1024,
        "Bytes per document as sent (a segment, an article body, a text to summarize, a file), "
        "markup included (DeepL's Free cap for Office files is 10 MB).",
    )
    max_summary_tokens: int = _setting(512, "Largest summary a caller may ask for, in tokens.")
    max_summary_sentences: int = _setting(20, "Largest summary a caller may ask for, in sentences.")
    default_timeout: float = _setting(
        120.0, "Deadline applied when a caller sets none, in seconds."
    )

    max_inflight_requests: int = _setting(
        64,
        "Requests running or queued at once; more are refused at once with RESOURCE_EXHAUSTED.",
    )

    # -- security ----------------------------------------------------------------------------
    tls_cert: Path | None = _setting(
        None, "PEM server certificate: serve TLS instead of plaintext."
    )
    tls_key: Path | None = _setting(None, "PEM private key for --tls-cert.")
    tls_client_ca: Path | None = _setting(
        None, "PEM CA bundle: require client certificates signed by it (mutual TLS)."
    )
    auth_tokens_file: Path | None = _setting(
        None,
        "File of bearer tokens, one per line: every newsmt call must send "
        "`authorization: Bearer <token>` (health checks excepted).",
    )
    rate_limit_rps: float = _setting(
        0.0, "Requests per second per client (token identity, else peer address); 0 = off."
    )
    rate_limit_burst: int = _setting(20, "Requests a client may burst above --rate-limit-rps.")

    # -- lifecycle ---------------------------------------------------------------------------
    shutdown_grace: float = _setting(
        20.0, "Seconds in-flight requests get to finish after SIGTERM."
    )

    # -- logging -----------------------------------------------------------------------------
    log_format: str = _setting("text", '"text" or "json".')
    log_level: str = _setting("INFO", "DEBUG, INFO, WARNING or ERROR.")
    otel_tracing: bool = _setting(
        False,
        "OpenTelemetry tracing with the standard gRPC instrumentation (needs newsmt[otel]; "
        "configure the exporter with the usual OTEL_* variables).",
    )

    @classmethod
    def fields_help(cls) -> list[tuple[str, Any, Any, str]]:
        """(name, type, default, help) for each setting, for the CLI and the docs."""
        hints = get_type_hints(cls)
        return [(f.name, hints[f.name], f.default, f.metadata.get("help", "")) for f in fields(cls)]

    @classmethod
    def load(
        cls,
        overrides: dict[str, Any] | None = None,
        *,
        config_file: Path | None = None,
        environ: dict[str, str] | None = None,
    ) -> Settings:
        """Layer defaults < config file < environment < `overrides` (the CLI flags)."""
        environ = dict(os.environ) if environ is None else environ
        hints = get_type_hints(cls)
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        config_file = config_file or _path_or_none(environ.get(f"{ENV_PREFIX}CONFIG"))
        if config_file is not None:
            try:
                data = tomllib.loads(config_file.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise SettingsError(f"config file {config_file}: {exc}") from None
            section = data.get("server", data)
            for key, raw in section.items():
                if key not in names:
                    raise SettingsError(f"config file {config_file}: unknown setting {key!r}")
                values[key] = _coerce(key, raw, hints[key], f"config file {config_file}")
        for name in names:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = _coerce(name, raw, hints[name], f"${ENV_PREFIX}{name.upper()}")
        for name, raw in (overrides or {}).items():
            if raw is not None:
                values[name] = _coerce(name, raw, hints[name], f"--{name.replace('_', '-')}")
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        # Messages name settings as written below; the user set them as flags (or the
        # NEWSMT_ variables the flags name in --help), so they read back as flags.
        names = sorted((f.name for f in fields(self)), key=len, reverse=True)
        as_flag = re.compile(r"\b(" + "|".join(names) + r")\b")

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise SettingsError(
                    as_flag.sub(lambda m: "--" + m.group(1).replace("_", "-"), message)
                )

        need(0 <= self.port <= 65535, "port must be 0..65535")
        need(-1 <= self.metrics_port <= 65535, "metrics_port must be -1 (off) or 0..65535")
        need(-1 <= self.http_port <= 65535, "http_port must be -1 (off) or 0..65535")
        need(
            self.job_store == "memory" or self.job_store.startswith(("redis://", "rediss://")),
            "job_store must be `memory` or a redis:// (rediss://) URL",
        )
        need(self.job_ttl_s > 0, "job_ttl_s must be > 0")
        need(self.job_store_max_bytes >= 1, "job_store_max_bytes must be >= 1")
        need(self.document_workers >= 1, "document_workers must be >= 1")
        need(self.max_queued_documents >= 1, "max_queued_documents must be >= 1")
        need(self.deepl_character_quota >= 0, "deepl_character_quota must be >= 0 (0 = none)")
        need(self.device in {"cpu", "cuda"}, "device must be cpu or cuda")
        need(self.log_format in {"text", "json"}, "log_format must be text or json")
        need(
            self.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
            "log_level must be DEBUG, INFO, WARNING or ERROR",
        )
        need(self.max_batch_tokens >= 64, "max_batch_tokens must be >= 64")
        need(self.max_batch_size >= 1, "max_batch_size must be >= 1")
        need(self.max_queue >= 1, "max_queue must be >= 1")
        need(0 <= self.max_queue_delay_ms <= 1000, "max_queue_delay_ms must be 0..1000")
        need(0 <= self.queue_quiet_ms <= 1000, "queue_quiet_ms must be 0..1000")
        need(self.cache_bytes >= 0, "cache_bytes must be >= 0 (0 turns the cache off)")
        need(self.max_sentence_tokens >= 8, "max_sentence_tokens must be >= 8")
        need(self.max_segments >= 1, "max_segments must be >= 1")
        need(self.max_segment_chars >= 1, "max_segment_chars must be >= 1")
        need(
            self.max_request_chars >= self.max_segment_chars,
            "max_request_chars must be >= max_segment_chars",
        )
        need(self.max_document_bytes >= 1, "max_document_bytes must be >= 1")
        need(
            self.max_message_bytes > self.max_document_bytes,
            "max_message_bytes must exceed max_document_bytes (by 1 MiB is ample), "
            "or a document at its limit cannot arrive",
        )

        need(self.default_timeout > 0, "default_timeout must be > 0")
        need(self.max_connection_age_s >= 0, "max_connection_age_s must be >= 0")
        need(self.shutdown_grace >= 0, "shutdown_grace must be >= 0")
        need(
            self.intra_threads >= 0 and self.inter_threads >= 0, "thread counts cannot be negative"
        )
        need(self.max_inflight_requests >= 1, "max_inflight_requests must be >= 1")
        need(
            (self.tls_cert is None) == (self.tls_key is None),
            "tls_cert and tls_key go together",
        )
        need(
            self.tls_client_ca is None or self.tls_cert is not None, "tls_client_ca needs tls_cert"
        )
        need(
            self.rate_limit_rps >= 0 and self.rate_limit_burst >= 1, "rate limits must be positive"
        )
        need(
            self.grpc_workers == 0 or self.grpc_workers > self.max_inflight_requests,
            "grpc_workers must exceed max_inflight_requests, or requests over the limit queue "
            "inside gRPC instead of being refused",
        )


def _path_or_none(value: str | None) -> Path | None:
    return Path(value) if value else None


def _coerce(name: str, raw: Any, hint: Any, where: str) -> Any:
    text = str(raw)
    try:
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            if text.lower() in {"1", "true", "yes", "on"}:
                return True
            if text.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if hint is int:
            return int(raw)
        if hint is float:
            value = float(raw)
            if not math.isfinite(value):  # inf overflowed deadlines and graces: a traceback
                raise ValueError(text)
            return value
        if hint is Path or hint == (Path | None):
            return Path(text) if text else None
        return text
    except ValueError:
        raise SettingsError(
            f"{where}: {name} = {text!r} is not a valid {getattr(hint, '__name__', hint)}"
        ) from None
