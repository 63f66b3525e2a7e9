"""Sync and async clients over one base: channel set-up, deadlines, retries, conversions."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncGenerator, Generator, Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from newsmt.client import _convert as convert
from newsmt.client import _types as t
from newsmt.client._errors import UnavailableError, from_rpc_error
from newsmt.v1 import (
    article_pb2_grpc,
    summarization_pb2_grpc,
    translation_pb2,
    translation_pb2_grpc,
)

DEFAULT_ADDRESS = "127.0.0.1:50051"
#: Default deadline per call, in seconds: long enough for a long article on CPU.
DEFAULT_TIMEOUT = 120.0

_SERVICES = (
    "newsmt.v1.TranslationService",
    "newsmt.v1.SummarizationService",
    "newsmt.v1.ArticleService",
)


def service_config(*, retries: int, health_check: bool) -> str:
    """gRPC service config: round-robin over every resolved address, and retries on UNAVAILABLE
    only. Every newsmt method is idempotent (a pure function of its request), so a retry can
    never do the work twice in a way the caller could see."""
    config: dict[str, Any] = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{"service": s} for s in _SERVICES],
                "retryPolicy": {
                    "maxAttempts": max(2, retries + 1),
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
    if health_check:
        # Skip replicas whose health service says NOT_SERVING (client-side health checking).
        config["healthCheckConfig"] = {"serviceName": ""}
    if retries <= 0:
        del config["methodConfig"][0]["retryPolicy"]
    return json.dumps(config)


def target_of(address: str | Sequence[str]) -> str:
    """One gRPC target for one address, a comma-separated list, or a list of "host:port".

    Several addresses become a static list that round-robin spreads calls over; a single
    host name is resolved through DNS (every A record is a replica, as with a Kubernetes
    headless Service).
    """
    addresses = [address] if isinstance(address, str) else list(address)
    addresses = [a.strip() for part in addresses for a in part.split(",") if a.strip()]
    if not addresses:
        raise ValueError("no server address given")
    if len(addresses) == 1:
        only = addresses[0]
        return (
            only
            if "://" in only or only.startswith(("unix:", "ipv4:", "ipv6:", "dns:"))
            else f"dns:///{only}"
        )
    if any("://" in a or a.startswith(("unix:", "dns:")) for a in addresses):
        raise ValueError("a list of addresses must be plain host:port entries")
    hosts = [a.rsplit(":", 1)[0].strip("[]") for a in addresses]
    if all(h.count(":") >= 2 for h in hosts):
        return "ipv6:" + ",".join(
            f"[{h}]:{a.rsplit(':', 1)[1]}" for h, a in zip(hosts, addresses, strict=True)
        )
    if all(_is_ipv4(h) for h in hosts):
        return "ipv4:" + ",".join(addresses)
    raise ValueError("several addresses must be IP addresses; for host names, use one DNS name")


def tls_credentials(
    ca: str | Path | None = None, cert: str | Path | None = None, key: str | Path | None = None
) -> grpc.ChannelCredentials:
    """Channel credentials for a TLS server: `ca` to trust a private CA (default: the system
    roots); `cert` and `key` to present a client certificate (mutual TLS)."""
    if (cert is None) != (key is None):
        raise ValueError("a client certificate needs both cert and key")

    def read(path: str | Path | None) -> bytes | None:
        return None if path is None else Path(path).read_bytes()

    return grpc.ssl_channel_credentials(read(ca), read(key), read(cert))


def _is_ipv4(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and 0 <= int(p) <= 255 for p in parts)


class _BaseClient:
    """Channel set-up, stubs, metadata and deadlines; the subclasses only add I/O style."""

    #: grpc for the blocking client, grpc.aio for the asyncio one.
    _grpc: Any = grpc

    def __init__(
        self,
        address: str | Sequence[str] = DEFAULT_ADDRESS,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 3,
        token: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = 16 * 1024 * 1024,
        health_check: bool | None = None,
        keepalive_s: float = 30.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0: every call carries a deadline")
        self.target = target_of(address)
        self.timeout = timeout
        self._token = token
        # Skip replicas whose health says NOT_SERVING: by default with a list of addresses; for
        # a DNS name of several replicas (a headless Service) pass health_check=True. With one
        # server, calls go through so that a partly loaded server can say what is missing.
        if health_check is None:
            health_check = self.target.startswith(("ipv4:", "ipv6:")) and "," in self.target
        options = [
            ("grpc.service_config", service_config(retries=retries, health_check=health_check)),
            ("grpc.enable_retries", 1 if retries > 0 else 0),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # Notice a dead server during a long call; the server allows pings every 10 s.
            ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
        ]
        if credentials is None:
            self.channel = self._grpc.insecure_channel(self.target, options=options)
        else:
            self.channel = self._grpc.secure_channel(self.target, credentials, options=options)
        #: The generated stubs, for callers who want protobuf messages.
        self.translation = translation_pb2_grpc.TranslationServiceStub(self.channel)
        self.summarization = summarization_pb2_grpc.SummarizationServiceStub(self.channel)
        self.articles = article_pb2_grpc.ArticleServiceStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)

    def _metadata(self, request_id: str) -> list[tuple[str, str]]:
        metadata = [("x-request-id", request_id)]
        if self._token:
            metadata.append(("authorization", f"Bearer {self._token}"))
        return metadata

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def _not_serving(self, timeout: float, last: str) -> UnavailableError:
        return UnavailableError(
            f"{self.target} not SERVING after {timeout:.0f}s (last: {last})",
            grpc.StatusCode.UNAVAILABLE,
        )


class Client(_BaseClient):
    """Blocking client. Every method sets a deadline (`timeout`, default 120 s) and retries
    only UNAVAILABLE. Failures raise NewsmtError subclasses.

        with Client("localhost:50051") as client:
            [ru] = client.translate(["Hello, world."], target="ru")
    """

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(
        self, method: Any, request: Any, timeout: float | None, request_id: str | None
    ) -> Any:
        request_id = request_id or uuid.uuid4().hex
        try:
            return method(
                request, timeout=self._timeout(timeout), metadata=self._metadata(request_id)
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, request_id) from None

    def translate(
        self,
        texts: Iterable[str | t.Segment],
        *,
        target: str,
        source: str = "",
        format: t.TextFormat = "plain",
        glossary: t.Glossary | None = None,
        alternatives: int = 0,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> list[t.Translation]:
        """Translate each text into `target`. `source` empty: detected per text. `format`:
        "plain", "html" or "markdown" (markup is kept); `glossary`: {source: target} ("" keeps
        the term) or a list of GlossaryEntry; `alternatives`: up to that many (0-3) other
        translations of each text, in `Translation.alternatives`."""
        request = convert.translate_request(texts, target, source, format, glossary, alternatives)
        return convert.translations(
            self._call(self.translation.Translate, request, timeout, request_id)
        )

    def translate_stream(
        self,
        texts: Iterable[str | t.Segment],
        *,
        target: str,
        source: str = "",
        format: t.TextFormat = "plain",
        glossary: t.Glossary | None = None,
        alternatives: int = 0,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> Generator[t.StreamEvent, None, None]:
        """`translate`, as it happens: TranslatedUnit events (a segment's unit texts joined
        are its translation), a SegmentDone after each segment's units, one StreamDone last.
        Stop iterating (or close the iterator) to cancel: the server drops the queued work.
        A failure mid-stream raises after the events already yielded, which stay valid."""
        request = convert.translate_request(texts, target, source, format, glossary, alternatives)
        request_id = request_id or uuid.uuid4().hex
        call = self.translation.TranslateStream(
            request, timeout=self._timeout(timeout), metadata=self._metadata(request_id)
        )
        try:
            for event in call:
                yield convert.stream_event(event)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, request_id) from None
        finally:
            call.cancel()

    def translate_document(
        self,
        content: bytes | str | PathLike[str],
        *,
        target: str,
        source: str = "",
        mime_type: str = "",
        file_name: str = "",
        glossary: t.Glossary | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> t.TranslatedDocument:
        """Translate a file (DOCX, PPTX, XLSX, SRT, WebVTT, XLIFF, plain text, HTML,
        Markdown) into `target`: `content` is a path (read here; its name tells the format) or
        the file's bytes (then give `file_name` or `mime_type`). The result's `content` is the
        file in the same format, `file_name` the name to save it under ("report.ru.docx"),
        `flagged` where its quality flags are."""
        request = convert.document_request(content, target, source, mime_type, file_name, glossary)
        return convert.translated_document(
            self._call(self.translation.TranslateDocument, request, timeout, request_id)
        )

    def detect_language(
        self, texts: Iterable[str], *, timeout: float | None = None, request_id: str | None = None
    ) -> list[t.DetectedLanguage]:
        request = translation_pb2.DetectLanguageRequest(texts=list(texts))
        return convert.detections(
            self._call(self.translation.DetectLanguage, request, timeout, request_id)
        )

    def list_languages(self, *, timeout: float | None = None) -> t.Languages:
        request = translation_pb2.ListLanguagesRequest()
        return convert.languages(self._call(self.translation.ListLanguages, request, timeout, None))

    def list_models(self, *, timeout: float | None = None) -> list[t.ModelInfo]:
        request = translation_pb2.ListModelsRequest()
        return convert.models(self._call(self.translation.ListModels, request, timeout, None))

    def summarize(
        self,
        text: str,
        *,
        target: str = "",
        source: str = "",
        max_tokens: int | None = None,
        max_sentences: int | None = None,
        long_input: t.LongInputPolicy = "chunk",
        format: t.TextFormat = "plain",
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> t.Summary:
        """Summarize `text` into `target` (default: the text's own language)."""
        request = convert.summarize_request(
            text, target, source, max_tokens, max_sentences, long_input, format
        )
        return convert.summary(
            self._call(self.summarization.Summarize, request, timeout, request_id)
        )

    def process_article(
        self,
        title: str,
        body: str,
        *,
        id: str = "",
        source: str = "",
        targets: Sequence[str] = (),
        summaries: Sequence[str] = (),
        max_tokens: int | None = None,
        max_sentences: int | None = None,
        long_input: t.LongInputPolicy = "chunk",
        format: t.TextFormat = "plain",
        glossary: t.Glossary | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> t.ArticleResult:
        """Translate title and body into each of `targets` and summarize into each of
        `summaries`, in one call. Check `result.ok`: stages fail one by one."""
        request = convert.article_request(
            title,
            body,
            id=id,
            source=source,
            targets=targets,
            summaries=summaries,
            max_tokens=max_tokens,
            max_sentences=max_sentences,
            long_input=long_input,
            fmt=format,
            glossary_terms=glossary,
        )
        return convert.article(
            self._call(self.articles.ProcessArticle, request, timeout, request_id)
        )

    def health(self, service: str = "", *, timeout: float = 5.0) -> str:
        """The health service's status for `service` ("" = the whole server): SERVING,
        NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN."""
        request = health_pb2.HealthCheckRequest(service=service)
        return convert.health(self._call(self.health_stub.Check, request, timeout, None))

    def wait_until_serving(self, service: str = "", *, timeout: float = 60.0) -> None:
        """Poll health until SERVING; raises UnavailableError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                last = self.health(service, timeout=min(2.0, max(0.1, deadline - time.monotonic())))
                if last == "SERVING":
                    return
            except Exception as exc:  # not up yet
                last = type(exc).__name__
            time.sleep(0.2)
        raise self._not_serving(timeout, last)


class AsyncClient(_BaseClient):
    """The asyncio twin of Client, with the same methods as coroutines."""

    _grpc = grpc.aio

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def _call(
        self, method: Any, request: Any, timeout: float | None, request_id: str | None
    ) -> Any:
        request_id = request_id or uuid.uuid4().hex
        try:
            return await method(
                request, timeout=self._timeout(timeout), metadata=self._metadata(request_id)
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, request_id) from None

    async def translate(
        self,
        texts: Iterable[str | t.Segment],
        *,
        target: str,
        source: str = "",
        format: t.TextFormat = "plain",
        glossary: t.Glossary | None = None,
        alternatives: int = 0,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> list[t.Translation]:
        request = convert.translate_request(texts, target, source, format, glossary, alternatives)
        return convert.translations(
            await self._call(self.translation.Translate, request, timeout, request_id)
        )

    async def translate_stream(
        self,
        texts: Iterable[str | t.Segment],
        *,
        target: str,
        source: str = "",
        format: t.TextFormat = "plain",
        glossary: t.Glossary | None = None,
        alternatives: int = 0,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> AsyncGenerator[t.StreamEvent, None]:
        """`Client.translate_stream` as an async iterator."""
        request = convert.translate_request(texts, target, source, format, glossary, alternatives)
        request_id = request_id or uuid.uuid4().hex
        call = self.translation.TranslateStream(
            request, timeout=self._timeout(timeout), metadata=self._metadata(request_id)
        )
        try:
            async for event in call:
                yield convert.stream_event(event)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, request_id) from None
        finally:
            call.cancel()

    async def translate_document(
        self,
        content: bytes | str | PathLike[str],
        *,
        target: str,
        source: str = "",
        mime_type: str = "",
        file_name: str = "",
        glossary: t.Glossary | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> t.TranslatedDocument:
        """`Client.translate_document` as a coroutine (a path is read before the call)."""
        request = convert.document_request(content, target, source, mime_type, file_name, glossary)
        return convert.translated_document(
            await self._call(self.translation.TranslateDocument, request, timeout, request_id)
        )

    async def detect_language(
        self, texts: Iterable[str], *, timeout: float | None = None, request_id: str | None = None
    ) -> list[t.DetectedLanguage]:
        request = translation_pb2.DetectLanguageRequest(texts=list(texts))
        return convert.detections(
            await self._call(self.translation.DetectLanguage, request, timeout, request_id)
        )

    async def list_languages(self, *, timeout: float | None = None) -> t.Languages:
        request = translation_pb2.ListLanguagesRequest()
        return convert.languages(
            await self._call(self.translation.ListLanguages, request, timeout, None)
        )

    async def list_models(self, *, timeout: float | None = None) -> list[t.ModelInfo]:
        request = translation_pb2.ListModelsRequest()
        return convert.models(await self._call(self.translation.ListModels, request, timeout, None))

    async def summarize(
        self,
        text: str,
        *,
        target: str = "",
        source: str = "",
        max_tokens: int | None = None,
        max_sentences: int | None = None,
        long_input: t.LongInputPolicy = "chunk",
        format: t.TextFormat = "plain",
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> t.Summary:
        request = convert.summarize_request(
            text, target, source, max_tokens, max_sentences, long_input, format
        )
        return convert.summary(
            await self._call(self.summarization.Summarize, request, timeout, request_id)
        )

    async def process_article(
        self,
        title: str,
        body: str,
        *,
        id: str = "",
        source: str = "",
        targets: Sequence[str] = (),
        summaries: Sequence[str] = (),
        max_tokens: int | None = None,
        max_sentences: int | None = None,
        long_input: t.LongInputPolicy = "chunk",
        format: t.TextFormat = "plain",
        glossary: t.Glossary | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> t.ArticleResult:
        request = convert.article_request(
            title,
            body,
            id=id,
            source=source,
            targets=targets,
            summaries=summaries,
            max_tokens=max_tokens,
            max_sentences=max_sentences,
            long_input=long_input,
            fmt=format,
            glossary_terms=glossary,
        )
        return convert.article(
            await self._call(self.articles.ProcessArticle, request, timeout, request_id)
        )

    async def health(self, service: str = "", *, timeout: float = 5.0) -> str:
        request = health_pb2.HealthCheckRequest(service=service)
        return convert.health(await self._call(self.health_stub.Check, request, timeout, None))

    async def wait_until_serving(self, service: str = "", *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                last = await self.health(
                    service, timeout=min(2.0, max(0.1, deadline - time.monotonic()))
                )
                if last == "SERVING":
                    return
            except Exception as exc:
                last = type(exc).__name__
            await asyncio.sleep(0.2)
        raise self._not_serving(timeout, last)
