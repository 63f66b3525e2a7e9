"""The LibreTranslate-compatible API, close enough that the official `libretranslatepy` and
the npm `libretranslate` client work unchanged with their URL pointed here.

A thin adapter, like the servicers: LibreTranslate's parameters become a TranslateRequest or
DetectLanguageRequest for the TranslationServicer's own methods, and the answers are written
in LibreTranslate's shapes (its `app.py`): `translatedText`, `detectedLanguage` with the
confidence in percent (only when the source was `auto`), `alternatives` when asked for;
failures as `{"error": ...}` with its statuses (400; 403 for a wrong key, 400 for a missing
one; 429 "Slowdown"; 500). What the clients send was read from their source: libretranslatepy
posts URL-encoded forms (and a form body on GET /languages), the npm client posts JSON with
`apiKey` and reads /languages without a key.

- `POST /translate`: `q` (a string or a list), `source` (a code or `auto`; absent = `auto`),
  `target`, `format` (`text` or `html`), `api_key`, `alternatives` (at most 3: the models'
  next best translations, `TranslateRequest.alternatives`; fewer where they have fewer).
- `POST /detect`, `GET /languages` (public, as in LibreTranslate: it lists languages only).
- `POST /translate_file` (multipart `file`, `source`, `target`): translated within the
  request, kept in the job store, and served once by `GET /download_file/<name>` from any
  replica until it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from newsmt.core import languages
from newsmt.core.errors import InvalidArgument, NewsmtError, Overloaded
from newsmt.server.auth import Unauthenticated
from newsmt.server.calls import LIBRETRANSLATE, Call
from newsmt.server.context import REQUEST_ID_KEY
from newsmt.server.http.compat import CompatApi
from newsmt.server.http.documents import DocumentIn
from newsmt.server.http.edge import body_limit
from newsmt.server.http.jobs import DONE, file_response
from newsmt.server.http.params import CompatCall, Params
from newsmt.server.http.protojson import JSON, dumps, retry_after_seconds, status_of
from newsmt.server.status import NO_RPC, NotFound
from newsmt.v1 import common_pb2, translation_pb2

_NAMES = {"en": "English", "es": "Spanish", "ru": "Russian"}
_FORMATS = {"": common_pb2.TEXT_FORMAT_PLAIN, "text": common_pb2.TEXT_FORMAT_PLAIN}
_FORMATS["html"] = common_pb2.TEXT_FORMAT_HTML
MAX_ALTERNATIVES = 3


class LibreError(NewsmtError):
    """A failure LibreTranslate answers with its own status (400 unless said)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error_response(error: NewsmtError, request_id: str, *, key_sent: bool) -> Response:
    headers = {REQUEST_ID_KEY: request_id} if request_id else {}
    message = error.message
    if isinstance(error, LibreError):
        status = error.status
    elif isinstance(error, Unauthenticated):
        # LibreTranslate: a wrong key is 403; a missing one, where keys are required, 400.
        status = 403 if key_sent else 400
        message = (
            "Invalid API key"
            if key_sent
            else "Please contact the server operator to get an API key"
        )
    else:
        status = status_of(error)
    if isinstance(error, Overloaded):
        headers["Retry-After"] = str(retry_after_seconds(error))
        message = "Slowdown: " + message
    return Response(dumps({"error": message}), status, headers, JSON)


def language(code: str, field: str, *, auto: bool) -> str:
    """A LibreTranslate code as a newsmt code; "" for `auto` where allowed."""
    code = code.strip().lower()
    if auto and code in {"", "auto"}:
        return ""
    if not code:
        raise LibreError(f"Invalid request: missing {field} parameter")
    normalized = languages.normalize(code)
    if normalized not in languages.SUPPORTED:
        raise LibreError(f"the {field} language is not supported")
    return normalized


def _percent(confidence: float) -> float:
    return round(confidence * 100, 1)


@dataclass
class LibreTranslateApi(CompatApi):
    def __post_init__(self) -> None:
        self._run = CompatCall(
            self.edge,
            LIBRETRANSLATE,
            body_limit(self.settings.max_message_bytes),
            lambda request, params: params.text("api_key", "apiKey") or None,
            lambda error, request_id, sent: error_response(error, request_id, key_sent=sent),
        ).run

    def starlette_routes(self) -> list[BaseRoute]:
        return [
            Route("/translate", self.translate, methods=["POST"]),
            Route("/detect", self.detect, methods=["POST"]),
            Route("/languages", self.languages, methods=["GET", "POST"]),
            Route("/translate_file", self.translate_file, methods=["POST"]),
            Route(
                "/download_file/{filename:str}",
                self.download_file,
                methods=["GET"],
                name="download_file",
            ),
        ]

    # -- text -----------------------------------------------------------------------------

    async def translate(self, request: Request) -> Response:
        return await self._run(request, "/translate", self._translate)

    def _translate(self, call: Call, params: Params) -> Any:
        texts, many = params.texts("q")
        if not texts or (not many and not texts[0]):
            raise LibreError("Invalid request: missing q parameter")
        if not params.json:
            # As LibreTranslate: a form's line ends are normalized to LF.
            texts = ["\n".join(t.splitlines()) for t in texts]
        source = language(params.text("source"), "source", auto=True)
        target = language(params.text("target"), "target", auto=False)
        fmt = params.text("format").lower()
        if fmt not in _FORMATS:
            raise LibreError("format must be text or html")
        try:
            alternatives = int(params.text("alternatives") or 0)
        except ValueError:
            raise LibreError("Invalid request: alternatives parameter is not a number") from None
        if alternatives > MAX_ALTERNATIVES:
            raise LibreError(
                f"Invalid request: alternatives parameter must be <= {MAX_ALTERNATIVES}"
            )
        message = translation_pb2.TranslateRequest(
            segments=[translation_pb2.Segment(id=str(i), text=t) for i, t in enumerate(texts)],
            source_language_code=source,
            target_language_code=target,
            format=_FORMATS[fmt],
            alternatives=max(0, alternatives),
        )
        call.request = message
        response = self.translation.Translate(message, NO_RPC)
        call.response_size = response.ByteSize()
        results = list(response.translations)
        out: dict[str, Any] = {}
        detected = [
            {
                "confidence": _percent(t.detected_language.confidence),
                "language": t.detected_language.language_code or "en",
            }
            for t in results
        ]
        if many:
            out["translatedText"] = [t.translated_text for t in results]
            if not source:
                out["detectedLanguage"] = detected
            if alternatives > 0:
                out["alternatives"] = [list(t.alternatives) for t in results]
        else:
            out["translatedText"] = results[0].translated_text
            if not source:
                out["detectedLanguage"] = detected[0]
            if alternatives > 0:
                out["alternatives"] = list(results[0].alternatives)
        return out

    async def detect(self, request: Request) -> Response:
        return await self._run(request, "/detect", self._detect)

    def _detect(self, call: Call, params: Params) -> Any:
        texts, _ = params.texts("q")
        if not texts or not any(texts):
            raise LibreError("Invalid request: missing q parameter")
        message = translation_pb2.DetectLanguageRequest(texts=texts)
        call.request = message
        response = self.translation.DetectLanguage(message, NO_RPC)
        call.response_size = response.ByteSize()
        # One text: its language. Several: each language's mean confidence over the texts,
        # most confident first, as LibreTranslate averages a batch.
        scores: dict[str, list[float]] = {}
        for found in response.languages:
            scores.setdefault(found.language_code or "en", []).append(found.confidence)
        ranked = sorted(
            ((code, sum(c) / len(texts)) for code, c in scores.items()),
            key=lambda item: -item[1],
        )
        return [{"confidence": _percent(conf), "language": code} for code, conf in ranked]

    async def languages(self, request: Request) -> Response:
        return await self._run(
            request, "/languages", self._languages, admission=False, authenticate=False
        )

    def _languages(self, call: Call, params: Params) -> Any:
        targets: dict[str, list[str]] = {}
        for source, target in self.pairs():
            targets.setdefault(source, []).append(target)
        return [
            {"code": code, "name": _NAMES.get(code, code), "targets": sorted(targets[code])}
            for code in sorted(targets)
        ]

    # -- files ----------------------------------------------------------------------------

    async def translate_file(self, request: Request) -> Response:
        base = str(request.url_for("download_file", filename="-"))[:-1]
        return await self._run(request, "/translate_file", lambda c, p: self._file(c, p, base))

    def _file(self, call: Call, params: Params, base: str) -> Any:
        upload = params.files.get("file")
        if upload is None:
            raise LibreError("Invalid request: missing file parameter")
        if not upload.name or not upload.data:
            raise LibreError("Invalid request: empty file")
        source = language(params.text("source"), "source", auto=True)
        target = language(params.text("target"), "target", auto=False)
        document = DocumentIn(upload.data, upload.name, upload.mime, source, target)
        try:
            job, _ = self.jobs.new_job(document, owner=call.client, status=DONE)
        except InvalidArgument:
            raise LibreError("Invalid request: file format not supported") from None
        out = self.jobs.documents.translate(document)
        call.response_size = len(out.data)
        done = self.jobs.store_result(job, out)
        return {"translatedFileUrl": base + quote(f"{done.id}.{done.name}", safe="")}

    async def download_file(self, request: Request) -> Response:
        filename = request.path_params["filename"]
        return await self._run(
            request,
            "/download_file",
            lambda c, p: self._download(c, filename),
            admission=False,
            authenticate=False,
        )

    def _download(self, call: Call, filename: str) -> Response:
        job = self.jobs.find(filename.partition(".")[0], None)
        if job.status != DONE:
            raise NotFound("file already downloaded or expired")
        data = self.jobs.take(job)
        call.response_size = len(data)
        return file_response(job, data)
