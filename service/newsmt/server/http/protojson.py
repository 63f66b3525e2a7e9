"""The proto3 JSON mapping at the HTTP edge, and failures as `google.rpc.Status` JSON.

Bodies are parsed defensively before any logic: the content type must be JSON, the bytes
UTF-8, the nesting at most `MAX_DEPTH` deep (the size is bounded by the listener), and a
field the message does not have is an error, not silently dropped. Responses use the
standard mapping (`json_format`): lowerCamelCase names, enums by name, 64-bit integers as
strings, and every field present, defaults included, so that a client never has to tell an
absent `false` from a missing field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from newsmt.core.errors import FieldViolation, InvalidArgument, NewsmtError, Overloaded
from newsmt.server.auth import Unauthenticated
from newsmt.server.status import code_of, to_status_proto

#: Deepest nesting of arrays and objects a JSON body may have (newsmt's messages need 4).
MAX_DEPTH = 32

JSON = "application/json"

M = TypeVar("M", bound=Message)

#: google.rpc.Code -> HTTP status, as google/rpc/code.proto and the HTTP/JSON transcoders
#: (grpc-gateway, Envoy) map them.
HTTP_STATUS = {
    0: 200,  # OK
    1: 499,  # CANCELLED (the client closed the request)
    2: 500,  # UNKNOWN
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    15: 500,  # DATA_LOSS
    16: 401,  # UNAUTHENTICATED
}


def load_json(body: bytes, what: str = "the body") -> Any:
    """`body` as JSON, or InvalidArgument saying why not (never quoting it)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidArgument.field("", f"{what} is not UTF-8") from None
    except RecursionError:
        raise InvalidArgument.field("", f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        # The position helps; the parser's message never contains the document itself.
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise InvalidArgument.field("", f"{what} is not valid JSON{where}") from None
    if depth(value) > MAX_DEPTH:
        raise InvalidArgument.field("", f"{what} nests deeper than {MAX_DEPTH} levels")
    return value


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0), without
    recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Sequence[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                return deepest
        stack.extend((child, level) for child in children)
    return deepest


def is_json(content_type: str) -> bool:
    """`application/json` or a `+json` type, in UTF-8 if a charset is named."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
        return False
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in {
            "utf-8",
            "utf8",
        }:
            return False
    return True


def parse_message(body: bytes, message_type: type[M]) -> M:
    """A request message from a JSON object body (an empty body is the empty message)."""
    message = message_type()
    if not body.strip():
        return message
    value = load_json(body)
    if not isinstance(value, dict):
        raise InvalidArgument.field("", "the body must be a JSON object")
    try:
        json_format.ParseDict(value, message, max_recursion_depth=MAX_DEPTH)
    except json_format.ParseError as exc:
        raise _invalid(exc) from None
    return message


def parse_query(params: Mapping[str, Sequence[str]], message_type: type[M]) -> M:
    """A request message from query parameters (fields not bound by the path or the body,
    as google.api.http says): `?field=value`, repeated fields by repeating the parameter,
    nested fields as `parent.child`."""
    message = message_type()
    tree: dict[str, Any] = {}
    for key, values in params.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidArgument.field(key, "is both a field and a message")
            node = child
        node[leaf] = list(values)
    try:
        json_format.ParseDict(_scalars(tree, message.DESCRIPTOR), message)
    except json_format.ParseError as exc:
        raise _invalid(exc) from None
    return message


def _scalars(tree: dict[str, Any], descriptor: Any) -> dict[str, Any]:
    """Query values are lists of strings: one value for singular fields, all for repeated."""
    out: dict[str, Any] = {}
    fields = {**descriptor.fields_by_name, **{f.json_name: f for f in descriptor.fields}}
    for key, value in tree.items():
        field = fields.get(key)
        if field is None:
            raise InvalidArgument.field(key, "is not a field of this request")
        if isinstance(value, dict):
            if field.message_type is None:
                raise InvalidArgument.field(key, "is not a message field")
            out[key] = _scalars(value, field.message_type)
        elif field.is_repeated:
            out[key] = value
        elif len(value) != 1:
            raise InvalidArgument.field(key, "is given more than once")
        else:
            out[key] = value[0]
    return out


_PARSED_FIELD = re.compile(r"Failed to parse (\w+) field")
_UNKNOWN_FIELD = re.compile(r'has no field named "([A-Za-z_][A-Za-z0-9_]{0,63})"')
_PROBLEMS = (
    ("has no field named", "is not a field of this message"),
    ("Invalid enum", "is not a value of this enum"),
    ("enum", "is not a value of this enum"),
    ("repeated field", "must be an array"),
    ("expected string", "must be a string"),
    ("Couldn't parse integer", "must be an integer"),
    ("integer", "must be an integer"),
    ("bool", "must be true or false"),
    ("float", "must be a number"),
    ("JSON object", "must be an object"),
)


def _invalid(exc: json_format.ParseError) -> InvalidArgument:
    """A json_format error as a field violation. Its message may quote the caller's values,
    so only the field path (names the message defines) and the kind of problem are kept."""
    message = str(exc)
    path = _PARSED_FIELD.findall(message)
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        path.append(unknown.group(1))
    problem = next((text for key, text in _PROBLEMS if key in message), "has a wrong value")
    return InvalidArgument.field(".".join(path), problem)


def to_json(message: Message) -> bytes:
    """A response message in the proto3 JSON mapping, defaults included, compact UTF-8."""
    value = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return dumps(value)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class TooLarge(InvalidArgument):
    """A body or upload over the size limit: INVALID_ARGUMENT, answered with HTTP 413."""

    def __init__(self, limit: int, what: str = "the body") -> None:
        super().__init__([FieldViolation("", f"{what} is larger than the limit of {limit} bytes")])


class UnsupportedMediaType(InvalidArgument):
    """A body of a content type the route does not take: INVALID_ARGUMENT, HTTP 415."""

    def __init__(self, wanted: str) -> None:
        super().__init__([FieldViolation("", f"the body must be {wanted}")])


def status_of(error: NewsmtError) -> int:
    """The HTTP status of a failure, by the standard mapping of its google.rpc code (413 and
    415 for a body too large or of the wrong type)."""
    if isinstance(error, TooLarge):
        return 413
    if isinstance(error, UnsupportedMediaType):
        return 415
    return HTTP_STATUS.get(code_of(error).value[0], 500)


def error_headers(error: NewsmtError) -> dict[str, str]:
    """Retry-After (whole seconds, rounded up) on overload; a Bearer challenge on 401."""
    headers: dict[str, str] = {}
    if isinstance(error, Overloaded):
        headers["Retry-After"] = str(retry_after_seconds(error))
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="newsmt"'
    return headers


def retry_after_seconds(error: Overloaded) -> int:
    return max(1, math.ceil(error.retry_after))


def status_json(error: NewsmtError) -> bytes:
    """The google.rpc.Status of a failure as JSON: code, message and typed details
    (`BadRequest`, `RetryInfo`, `QuotaFailure`, `PreconditionFailure`, `ErrorInfo`)."""
    return dumps(json_format.MessageToDict(to_status_proto(error)))
