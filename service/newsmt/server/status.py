"""The one place where failures become gRPC statuses, with google.rpc rich details.

Every handler goes through `rpc_method`: a NewsmtError becomes its deliberate status code, and
anything else becomes INTERNAL with a generic message. UNKNOWN never reaches a caller, and no
status message, detail or log line carries request text. The HTTP edge calls the same
handlers with `NO_RPC` and gets the NewsmtError back, which it answers with the same
`google.rpc.Status` (`to_status_proto`) as JSON.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar, cast

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from newsmt.core.errors import (
    Cancelled,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    ModelUnavailable,
    NewsmtError,
    Overloaded,
    ServiceUnavailable,
)
from newsmt.core.safelog import describe
from newsmt.server.auth import Unauthenticated
from newsmt.server.context import REQUEST_ID_KEY, request_id_var

log = logging.getLogger(__name__)


class NotFound(NewsmtError):
    """What the call names does not exist, or no longer: a finished document job downloaded
    or expired (NOT_FOUND)."""


class QuotaExceeded(NewsmtError):
    """The caller's quota for the period is spent (RESOURCE_EXHAUSTED); retrying sooner does
    not help. DeepL's API answers it with 456."""


ERROR_DOMAIN = "newsmt.v1"

_CODES: list[tuple[type[NewsmtError], grpc.StatusCode]] = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (ModelUnavailable, grpc.StatusCode.FAILED_PRECONDITION),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ServiceUnavailable, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Cancelled, grpc.StatusCode.CANCELLED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (QuotaExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
]


def code_of(error: NewsmtError) -> grpc.StatusCode:
    for cls, code in _CODES:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.INTERNAL


def to_status_proto(error: NewsmtError) -> status_pb2.Status:
    code = code_of(error)
    message = error.message if code is not grpc.StatusCode.INTERNAL else "internal error"
    status = status_pb2.Status(code=code.value[0], message=message)
    if isinstance(error, InvalidArgument):
        detail = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.add().Pack(detail)
    elif isinstance(error, Overloaded):
        seconds = max(error.retry_after, 0.0)
        delay = duration_pb2.Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        status.details.add().Pack(
            error_details_pb2.QuotaFailure(
                violations=[error_details_pb2.QuotaFailure.Violation(description=error.message)]
            )
        )
    elif isinstance(error, QuotaExceeded):
        status.details.add().Pack(
            error_details_pb2.QuotaFailure(
                violations=[error_details_pb2.QuotaFailure.Violation(description=error.message)]
            )
        )
    elif isinstance(error, ModelUnavailable):
        status.details.add().Pack(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type="MODEL_UNAVAILABLE", subject=error.model, description=error.fix
                    )
                ]
            )
        )
        status.details.add().Pack(
            error_details_pb2.ErrorInfo(
                reason="MODEL_UNAVAILABLE", domain=ERROR_DOMAIN, metadata={"model": error.model}
            )
        )
    return status


class _Status(grpc.Status):  # type: ignore[misc]  # grpc is untyped
    def __init__(
        self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[Any, ...]
    ) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def stage_code(error: NewsmtError | None) -> tuple[int, str]:
    """(google.rpc.Code, message) for a stage result in a multi-stage response."""
    if error is None:
        return code_pb2.OK, ""
    status = to_status_proto(error)
    return status.code, status.message


def abort(context: grpc.ServicerContext, error: NewsmtError) -> NoReturn:
    status = rpc_status.to_status(to_status_proto(error))
    # abort_with_status replaces the trailing metadata: keep the request id in it.
    request_id = request_id_var.get()
    if request_id:
        status = _Status(
            status.code,
            status.details,
            (*status.trailing_metadata, (REQUEST_ID_KEY, request_id)),
        )
    context.abort_with_status(status)
    raise AssertionError("unreachable: abort_with_status raises")  # pragma: no cover


#: The "gRPC context" the HTTP edge hands a servicer method: with it, `rpc_method` and
#: `rpc_stream` raise the call's deliberate NewsmtError (INTERNAL for anything else, logged
#: here as for gRPC) instead of aborting an RPC. The servicers never use the context.
NO_RPC = cast(grpc.ServicerContext, None)


def _fail(context: grpc.ServicerContext, error: NewsmtError) -> NoReturn:
    if context is None:
        raise error
    abort(context, error)


_Servicer = TypeVar("_Servicer")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


def rpc_method(
    handler: Callable[[_Servicer, _Request, grpc.ServicerContext], _Response],
) -> Callable[[_Servicer, _Request, grpc.ServicerContext], _Response]:
    """Map every exception a unary handler raises to a deliberate status."""

    @functools.wraps(handler)
    def wrapper(self: _Servicer, request: _Request, context: grpc.ServicerContext) -> _Response:
        try:
            return handler(self, request, context)
        except NewsmtError as exc:
            error: NewsmtError = exc
        except Exception as exc:
            log.error("%s failed: %s", handler.__name__, describe(exc))
            error = Internal("internal error")
        _fail(context, error)

    return wrapper


def rpc_stream(
    handler: Callable[[_Servicer, _Request, grpc.ServicerContext], Iterator[_Response]],
) -> Callable[[_Servicer, _Request, grpc.ServicerContext], Iterator[_Response]]:
    """`rpc_method` for a server-streaming handler: an exception raised before or between
    messages ends the stream with its deliberate status (the messages sent stay sent)."""

    @functools.wraps(handler)
    def wrapper(
        self: _Servicer, request: _Request, context: grpc.ServicerContext
    ) -> Iterator[_Response]:
        try:
            yield from handler(self, request, context)
            return
        except NewsmtError as exc:
            error: NewsmtError = exc
        except Exception as exc:
            log.error("%s failed: %s", handler.__name__, describe(exc))
            error = Internal("internal error")
        _fail(context, error)

    return wrapper
