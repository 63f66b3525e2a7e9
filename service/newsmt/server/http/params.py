"""The parameters of a DeepL or LibreTranslate request, wherever the client put them.

Their clients send the same parameters as a JSON object (deepl-python, the npm
`libretranslate`), as a URL-encoded form (deepl-node, libretranslatepy, curl -d), as a
multipart form with a file (document uploads), or in the query string; libretranslatepy and
deepl-python even send a form body with GET. `read_params` takes them all, bounded: the body
by --max-message-bytes, the fields by count, a JSON body by depth. `CompatCall` runs a call
of such an API: its parameters, its token, the shared call pipeline, its error shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from newsmt.core.errors import InvalidArgument, NewsmtError
from newsmt.server.calls import Call
from newsmt.server.context import REQUEST_ID_KEY
from newsmt.server.http.edge import CallFailed, Edge, read_body
from newsmt.server.http.protojson import (
    JSON,
    UnsupportedMediaType,
    dumps,
    is_json,
    load_json,
)

#: Most fields a form may have (DeepL's 50 texts and their options fit many times over).
MAX_FIELDS = 1000


@dataclass(frozen=True)
class Upload:
    name: str
    mime: str
    data: bytes


@dataclass
class Params:
    values: dict[str, list[Any]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    #: Whether the body was JSON (LibreTranslate normalizes line ends only in forms).
    json: bool = False

    def get(self, name: str, *aliases: str) -> Any:
        """The first value of `name` (or an alias), None when absent."""
        for key in (name, *aliases):
            values = self.values.get(key)
            if values:
                return values[0]
        return None

    def text(self, name: str, *aliases: str) -> str:
        """A single string parameter ("" when absent)."""
        value = self.get(name, *aliases)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float, str)):
            return str(value)
        raise InvalidArgument.field(name, "must be a string")

    def texts(self, name: str) -> tuple[list[str], bool]:
        """A string or a list of strings: (the strings, whether it was a list)."""
        values = self.values.get(name, [])
        if len(values) == 1 and isinstance(values[0], list):
            values, many = values[0], True
        else:
            many = len(values) != 1
        if not all(isinstance(v, str) for v in values):
            raise InvalidArgument.field(name, "must be a string or a list of strings")
        return list(values), many


async def read_params(request: Request, max_body: int) -> Params | NewsmtError:
    """The query string, then the body's fields (JSON, URL-encoded or multipart) over it.
    A failure is returned, to be raised inside the call (after its gate)."""
    params = Params({k: request.query_params.getlist(k) for k in request.query_params})
    body = await read_body(request, max_body)
    if isinstance(body, NewsmtError):
        return body
    if not body.strip():
        return params
    content_type = request.headers.get("content-type", "")
    media = content_type.partition(";")[0].strip().lower()
    try:
        if is_json(content_type):
            value = load_json(body)
            if not isinstance(value, dict):
                raise InvalidArgument.field("", "the body must be a JSON object")
            params.json = True
            for key, item in value.items():
                params.values[key] = [item]
        elif media == "application/x-www-form-urlencoded":
            try:
                fields = parse_qs(
                    body.decode("utf-8"),
                    keep_blank_values=True,
                    strict_parsing=False,
                    max_num_fields=MAX_FIELDS,
                )
            except UnicodeDecodeError:
                raise InvalidArgument.field("", "the form is not UTF-8") from None
            except ValueError:
                raise InvalidArgument.field("", f"the form has over {MAX_FIELDS} fields") from None
            params.values.update(fields)
        elif media == "multipart/form-data":
            await _multipart(request, body, params)
        else:
            raise UnsupportedMediaType(
                "JSON, application/x-www-form-urlencoded or multipart/form-data"
            )
    except NewsmtError as exc:
        return exc
    return params


async def _multipart(request: Request, body: bytes, params: Params) -> None:
    sent = False

    async def replay() -> dict[str, Any]:
        # The body was read (and bounded) already: hand it to the form parser once.
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=4, max_fields=MAX_FIELDS)
    except Exception:
        raise InvalidArgument.field("", "the multipart form cannot be parsed") from None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                params.files[key] = Upload(
                    name=value.filename or "",
                    mime=value.content_type or "",
                    data=await value.read(),
                )
            else:
                params.values.setdefault(key, []).append(value)
    finally:
        await form.close()


@dataclass(frozen=True)
class CompatCall:
    """How a compatible API runs its calls: under which protocol label, where the caller's
    token is in the parameters, and how a failure is answered (its own error shape)."""

    edge: Edge
    protocol: str
    max_body: int
    token: Callable[[Request, Params], str | None]
    error: Callable[[NewsmtError, str, bool], Response]

    async def run(
        self,
        request: Request,
        method: str,
        work: Callable[[Call, Params], Any],
        *,
        admission: bool = True,
        authenticate: bool = True,
    ) -> Response:
        """Read the parameters, run `work(call, params)` as a call with the API's token, and
        answer: a Response from `work` as it is, anything else as JSON; the request id on
        both. A parameter failure is raised inside the call, after the gate's checks."""
        params = await read_params(request, self.max_body)

        def call(call: Call) -> Any:
            if isinstance(params, NewsmtError):
                raise params
            return work(call, params)

        key = None if isinstance(params, NewsmtError) else self.token(request, params)
        try:
            result, request_id = await self.edge.run(
                request,
                method,
                self.protocol,
                call,
                token=key,
                admission=admission,
                authenticate=authenticate,
            )
        except CallFailed as failed:
            sent = key is not None or "authorization" in request.headers
            return self.error(failed.error, failed.request_id, sent)
        if not isinstance(result, Response):
            result = Response(dumps(result), 200, media_type=JSON)
        result.headers[REQUEST_ID_KEY] = request_id
        return result
