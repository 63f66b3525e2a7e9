"""The client's exceptions. Every failed call raises a subclass of NewsmtError."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class NewsmtError(Exception):
    """Base class: a call failed. `code` is the gRPC status code, `request_id` the server's id
    for the call (quote it when reporting a problem)."""

    def __init__(self, message: str, code: grpc.StatusCode, request_id: str = "") -> None:
        super().__init__(f"{code.name}: {message}")
        self.message = message
        self.code = code
        self.request_id = request_id


class InvalidArgumentError(NewsmtError):
    """The request was rejected before any model work; `violations` name the fields."""

    def __init__(
        self,
        message: str,
        code: grpc.StatusCode,
        request_id: str = "",
        violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(message, code, request_id)
        self.violations = violations


class ModelUnavailableError(NewsmtError):
    """A model the call needs is not installed or failed to load (FAILED_PRECONDITION)."""


class OverloadedError(NewsmtError):
    """The server is at capacity (RESOURCE_EXHAUSTED); retry after `retry_after` seconds."""

    def __init__(
        self,
        message: str,
        code: grpc.StatusCode,
        request_id: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code, request_id)
        self.retry_after = retry_after


class UnavailableError(NewsmtError):
    """No server could take the call: down, starting, or shutting down (UNAVAILABLE)."""


class DeadlineExceededError(NewsmtError):
    """The call's deadline passed before the work finished."""


class CancelledError(NewsmtError):
    """The call was cancelled."""


class AuthenticationError(NewsmtError):
    """The server refused the credentials (UNAUTHENTICATED or PERMISSION_DENIED)."""


_BY_CODE: dict[grpc.StatusCode, type[NewsmtError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: ModelUnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: OverloadedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: CancelledError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationError,
}


def from_rpc_error(error: grpc.RpcError, sent_request_id: str = "") -> NewsmtError:
    """Turn a grpc.RpcError (sync or aio) into the matching NewsmtError."""
    code: grpc.StatusCode = error.code()
    message: str = error.details() or ""
    request_id = sent_request_id
    trailing = error.trailing_metadata() or ()
    for key, value in trailing:
        if key == "x-request-id":
            request_id = str(value)
    violations: list[FieldViolation] = []
    retry_after: float | None = None
    status = _status_of(error)
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                retry_after = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    cls = _BY_CODE.get(code, NewsmtError)
    if cls is InvalidArgumentError:
        return InvalidArgumentError(message, code, request_id, tuple(violations))
    if cls is OverloadedError:
        return OverloadedError(message, code, request_id, retry_after)
    return cls(message, code, request_id)


def _status_of(error: grpc.RpcError) -> Any:
    try:
        return rpc_status.from_call(error)
    except Exception:  # an aio error, or inconsistent metadata: no rich details then
        for key, value in error.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                from google.rpc import status_pb2

                return status_pb2.Status.FromString(value)
        return None
