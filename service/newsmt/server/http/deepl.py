"""The DeepL-compatible API (/v2), close enough that the official `deepl` (Python) and
`deepl-node` clients work unchanged with `server_url` pointed here.

A thin adapter, like the servicers: DeepL's parameters become a TranslateRequest, the
TranslationServicer's own method translates it (same validation, limits, cache and models),
and its answer is written in DeepL's shapes. What the clients send and parse was read from
their source (deepl-python `translator.py`, deepl-node `translator.ts` and `parsing.ts`):

- the key: `Authorization: DeepL-Auth-Key <key>`, checked against --auth-tokens-file like a
  bearer token (the legacy `auth_key` parameter too);
- bodies as JSON (deepl-python) or URL-encoded forms (deepl-node), and a form body on GET
  (`/v2/languages` with `type=target`);
- failures as `{"message": ...}` with DeepL's statuses: 400, 403 (bad key), 404, 413, 429
  (with Retry-After; both clients retry 429 and 5xx with backoff), 456 (quota), 503, 504;
- `billed_characters` in every translation (deepl-python reads it unconditionally).

Languages: sources EN, ES, RU; targets EN-GB, EN-US, ES, ES-419, RU (the variants are served
by the same model; plain EN is accepted as a target too), each only where this server has a
route. No formality is supported: `default` and `prefer_*` are accepted, `more`/`less` get
DeepL's 400. `context`, `split_sentences`, `preserve_formatting` and the other hints are
accepted and have no effect. Glossaries live in the request on this server (the native API's
`glossary`); a `glossary_id` gets DeepL's 404 for an unknown glossary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from newsmt.core.errors import NewsmtError, Overloaded
from newsmt.server.calls import DEEPL, Call
from newsmt.server.context import REQUEST_ID_KEY
from newsmt.server.http.compat import CompatApi
from newsmt.server.http.documents import DocumentIn
from newsmt.server.http.edge import body_limit
from newsmt.server.http.jobs import DONE, ERROR, DocumentJobs, Job, file_response
from newsmt.server.http.params import CompatCall, Params
from newsmt.server.http.protojson import JSON, dumps, retry_after_seconds, status_of
from newsmt.server.status import NO_RPC, NotFound, QuotaExceeded
from newsmt.v1 import common_pb2, translation_pb2

#: What /v2/usage reports as the limit when no quota is set: DeepL's own "unlimited".
UNLIMITED = 10**12

#: How long a status request waits for a job in progress to finish before answering: the
#: clients poll every 5 s, so a short document is done in one round trip.
STATUS_WAIT_S = 2.0

_SOURCES = {"EN": "English", "ES": "Spanish", "RU": "Russian"}
_TARGETS = {
    "EN-GB": "English (British)",
    "EN-US": "English (American)",
    "ES": "Spanish",
    "ES-419": "Spanish (Latin American)",
    "RU": "Russian",
}
_TARGET_ALIASES = {"EN": "en"}
_FORMALITY_OK = {"", "default", "prefer_more", "prefer_less"}


class DeepLError(NewsmtError):
    """A failure DeepL answers with its own status and message (bad language, formality)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def http_status(error: NewsmtError) -> int:
    """DeepL's status for a failure: 403 for credentials, 456 for the quota, 503 for a
    document not ready; otherwise the standard mapping (400, 404, 413, 429, 503, 504)."""
    if isinstance(error, DeepLError):
        return error.status
    if isinstance(error, QuotaExceeded):
        return 456
    status = status_of(error)
    if status == 401:
        return 403  # DeepL answers a missing or wrong key with 403
    return status


def error_response(error: NewsmtError, request_id: str) -> Response:
    headers = {REQUEST_ID_KEY: request_id} if request_id else {}
    if isinstance(error, Overloaded):
        headers["Retry-After"] = str(retry_after_seconds(error))
    return Response(dumps({"message": error.message}), http_status(error), headers, JSON)


def _json(value: Any, request_id: str) -> Response:
    return Response(dumps(value), 200, {REQUEST_ID_KEY: request_id}, JSON)


def source_language(code: str) -> str:
    """A DeepL source code (any case) as a newsmt code; "" = detect."""
    if not code:
        return ""
    upper = code.upper()
    if upper not in _SOURCES:
        raise DeepLError("Value for 'source_lang' not supported.")
    return upper.lower()


def target_language(code: str) -> str:
    if not code:
        raise DeepLError("Parameter 'target_lang' not specified.")
    upper = code.upper()
    if upper in _TARGET_ALIASES:
        return _TARGET_ALIASES[upper]
    if upper not in _TARGETS:
        raise DeepLError("Value for 'target_lang' not supported.")
    return upper.split("-")[0].lower()


def check_options(params: Params) -> None:
    formality = params.text("formality").lower()
    if formality not in _FORMALITY_OK:
        if formality in {"more", "less"}:
            raise DeepLError("'formality' is not supported for given 'target_lang'.")
        raise DeepLError("Value for 'formality' not supported.")
    if params.text("glossary_id") or params.get("glossary_ids"):
        raise DeepLError("Glossary not found.", 404)


def token(request: Request, params: Params) -> str | None:
    """The DeepL key: `Authorization: DeepL-Auth-Key <key>`, or the legacy `auth_key`
    parameter; None when neither is there (then a `Bearer` header still counts)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "deepl-auth-key" and key.strip():
        return key.strip()
    legacy = params.text("auth_key")
    return legacy or None


@dataclass
class DeepLApi(CompatApi):
    def __post_init__(self) -> None:
        self._run = CompatCall(
            self.edge,
            DEEPL,
            body_limit(self.settings.max_message_bytes),
            token,
            lambda error, request_id, _: error_response(error, request_id),
        ).run

    def starlette_routes(self) -> list[BaseRoute]:
        both = ["GET", "POST"]
        return [
            Route("/v2/translate", self.translate, methods=["POST"]),
            Route("/v2/languages", self.languages, methods=both),
            Route("/v2/usage", self.usage, methods=both),
            Route("/v2/glossaries", self.glossaries, methods=["GET"]),
            Route("/v2/glossary-language-pairs", self.glossary_pairs, methods=["GET"]),
            Route("/v2/document", self.upload, methods=["POST"]),
            Route("/v2/document/{document_id:str}", self.status, methods=["POST"]),
            Route("/v2/document/{document_id:str}/result", self.result, methods=["POST"]),
        ]

    # -- text ---------------------------------------------------------------------------

    async def translate(self, request: Request) -> Response:
        return await self._run(request, "/v2/translate", self._translate)

    def _translate(self, call: Call, params: Params) -> Any:
        texts, _ = params.texts("text")
        if not texts:
            raise DeepLError("Parameter 'text' not specified.")
        source = source_language(params.text("source_lang"))
        target = target_language(params.text("target_lang"))
        check_options(params)
        tags = params.text("tag_handling").lower()
        if tags not in {"", "html"}:
            raise DeepLError("Value for 'tag_handling' not supported: this server takes html.")
        billed = sum(len(t) for t in texts)
        self._check_quota(call, billed)
        message = translation_pb2.TranslateRequest(
            segments=[translation_pb2.Segment(id=str(i), text=t) for i, t in enumerate(texts)],
            source_language_code=source,
            target_language_code=target,
            format=common_pb2.TEXT_FORMAT_HTML if tags else common_pb2.TEXT_FORMAT_PLAIN,
        )
        call.request = message
        response = self.translation.Translate(message, NO_RPC)
        call.response_size = response.ByteSize()
        self.jobs.store.add_usage(_who(call), billed)
        return {
            "translations": [
                {
                    "detected_source_language": (
                        t.detected_language.language_code or source or target
                    ).upper(),
                    "text": t.translated_text,
                    "billed_characters": len(text),
                }
                for t, text in zip(response.translations, texts, strict=True)
            ]
        }

    def _check_quota(self, call: Call, chars: int) -> None:
        quota = self.settings.deepl_character_quota
        if quota and self.jobs.store.usage(_who(call)) + chars > quota:
            raise QuotaExceeded("Quota for this billing period has been exceeded.")

    # -- discovery ------------------------------------------------------------------------

    async def languages(self, request: Request) -> Response:
        return await self._run(request, "/v2/languages", self._languages, admission=False)

    def _languages(self, call: Call, params: Params) -> Any:
        kind = params.text("type").lower() or "source"
        if kind not in {"source", "target"}:
            raise DeepLError("Value for 'type' not supported.")
        pairs = self.pairs()
        if kind == "source":
            have = {s for s, _ in pairs}
            return [
                {"language": code, "name": name}
                for code, name in _SOURCES.items()
                if code.lower() in have
            ]
        have = {t for _, t in pairs}
        return [
            {"language": code, "name": name, "supports_formality": False}
            for code, name in _TARGETS.items()
            if code.split("-")[0].lower() in have
        ]

    async def usage(self, request: Request) -> Response:
        return await self._run(request, "/v2/usage", self._usage, admission=False)

    def _usage(self, call: Call, params: Params) -> Any:
        return {
            "character_count": self.jobs.store.usage(_who(call)),
            "character_limit": self.settings.deepl_character_quota or UNLIMITED,
        }

    async def glossaries(self, request: Request) -> Response:
        return await self._run(
            request, "/v2/glossaries", lambda c, p: {"glossaries": []}, admission=False
        )

    async def glossary_pairs(self, request: Request) -> Response:
        return await self._run(
            request,
            "/v2/glossary-language-pairs",
            lambda c, p: {"supported_languages": []},
            admission=False,
        )

    # -- documents ------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        return await self._run(request, "/v2/document", self._upload)

    def _upload(self, call: Call, params: Params) -> Any:
        upload = params.files.get("file")
        if upload is None:
            raise DeepLError("Parameter 'file' not specified.")
        name = params.text("filename") or upload.name
        if not name:
            raise DeepLError("Parameter 'filename' not specified.")
        source = source_language(params.text("source_lang"))
        target = target_language(params.text("target_lang"))
        check_options(params)
        output = params.text("output_format").lower().lstrip(".")
        if output and not name.lower().endswith("." + output):
            raise DeepLError(
                "Value for 'output_format' not supported: the output keeps the input's format."
            )
        self._check_quota(call, 0)
        document = DocumentIn(upload.data, name, upload.mime, source, target)
        job, key = self.jobs.submit(document, owner=_who(call))
        return {"document_id": job.id, "document_key": key}

    async def status(self, request: Request) -> Response:
        document_id = request.path_params["document_id"]
        return await self._run(
            request,
            "/v2/document/{id}",
            lambda c, p: self._status(document_id, p),
            admission=False,
        )

    def _status(self, document_id: str, params: Params) -> Any:
        job = self.jobs.wait(
            self.jobs.find(document_id, params.text("document_key")), STATUS_WAIT_S
        )
        out: dict[str, Any] = {"document_id": job.id, "status": job.status}
        remaining = self.jobs.seconds_remaining(job)
        if remaining is not None:
            out["seconds_remaining"] = remaining
        if job.status == DONE:
            out["billed_characters"] = job.billed_characters
        if job.status == ERROR:
            out["error_message"] = job.error_message
        return out

    async def result(self, request: Request) -> Response:
        document_id = request.path_params["document_id"]
        return await self._run(
            request,
            "/v2/document/{id}/result",
            lambda c, p: self._result(c, document_id, p),
            admission=False,
        )

    def _result(self, call: Call, document_id: str, params: Params) -> Response:
        job = self.jobs.find(document_id, params.text("document_key"))
        if job.status == ERROR:
            raise DeepLError(f"Document translation failed: {job.error_message}")
        if job.status != DONE:
            if job.status in ("queued", "translating"):
                raise DeepLError("Document not ready.", 503)
            raise NotFound("Document already downloaded or expired.")
        data = self.jobs.take(job)
        call.response_size = len(data)
        return file_response(job, data)


def _who(call: Call) -> str:
    """Whose usage a call counts as: its token's identity, or everyone's without tokens."""
    return call.client or "anonymous"


def on_document_done(jobs: DocumentJobs) -> Callable[[Job], None]:
    """Count a finished document's characters to its uploader's DeepL usage."""

    def count(job: Job) -> None:
        jobs.store.add_usage(job.owner or "anonymous", job.billed_characters)

    return count
