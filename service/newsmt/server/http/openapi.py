"""/openapi.json: an OpenAPI 3.1 description of the native REST API, generated from the same
descriptors and `google.api.http` annotations that route it.

Schemas follow the proto3 JSON mapping the API speaks: lowerCamelCase names, enums by name,
64-bit integers as strings, repeated fields as arrays, maps as objects. Every error is a
`google.rpc.Status`. The generated descriptors carry no comments, so descriptions are the
method and message names; the .proto files under protos/ hold the prose.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.rpc import status_pb2

from newsmt.server.http.native import NDJSON, SSE
from newsmt.server.http.routes import Route

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}

#: The error body, and the status codes every route may answer (the standard mapping).
_STATUS = "google.rpc.Status"
_ERRORS = {
    "400": "INVALID_ARGUMENT or FAILED_PRECONDITION",
    "401": "UNAUTHENTICATED: a bearer token is required",
    "413": "the body is larger than the limit",
    "415": "the body is not JSON",
    "429": "RESOURCE_EXHAUSTED: retry after the Retry-After header's seconds",
    "500": "INTERNAL",
    "503": "UNAVAILABLE: loading models or shutting down",
    "504": "DEADLINE_EXCEEDED",
}


def document(
    routes: list[Route], *, version: str, auth: bool, title: str = "newsmt"
) -> dict[str, Any]:
    """The OpenAPI document for `routes`; `auth`: every call needs a bearer token."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        request = _ref(route.method.input_type, schemas)
        response = _ref(route.method.output_type, schemas)
        operation: dict[str, Any] = {
            "operationId": route.method.name,
            "summary": f"{route.method.containing_service.name}.{route.method.name}",
            "tags": [route.method.containing_service.name],
            "responses": {
                "200": {
                    "description": f"{route.method.output_type.name}"
                    + (", one per line or event" if route.streaming else ""),
                    "content": (
                        {NDJSON: {"schema": response}, SSE: {"schema": {"type": "string"}}}
                        if route.streaming
                        else {"application/json": {"schema": response}}
                    ),
                },
                **{
                    code: {
                        "description": text,
                        "content": {"application/json": {"schema": {"$ref": _path(_STATUS)}}},
                    }
                    for code, text in _ERRORS.items()
                },
            },
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.variables
        ]
        if route.body == "*":
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": request}},
            }
        elif route.body == "":
            parameters += _query_parameters(route, schemas)
        parameters.append(
            {
                "name": "grpc-timeout",
                "in": "header",
                "required": False,
                "description": "The call's deadline, e.g. 30S or 500m (default: the server's)",
                "schema": {"type": "string", "pattern": "^[0-9]{1,8}[HMSmun]$"},
            }
        )
        operation["parameters"] = parameters
        paths.setdefault(route.template, {})[route.verb.lower()] = operation
    _ref(status_pb2.Status.DESCRIPTOR, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The newsmt REST API, generated from the protos (protos/newsmt/v1) "
            "and their google.api.http annotations. Bodies use the proto3 JSON mapping.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}] if auth else [],
    }


def _path(full_name: str) -> str:
    return f"#/components/schemas/{full_name}"


def _ref(message: Descriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    """A $ref to the message's schema, adding it (and every type it uses) to `schemas`."""
    if message.full_name == "google.protobuf.Any":
        schemas.setdefault(
            message.full_name,
            {
                "type": "object",
                "properties": {"@type": {"type": "string"}},
                "required": ["@type"],
                "additionalProperties": True,
            },
        )
    elif message.full_name not in schemas:
        schemas[message.full_name] = {}  # placeholder: recursive types terminate
        properties = {field.json_name: _field(field, schemas) for field in message.fields}
        schema: dict[str, Any] = {
            "type": "object",
            "title": message.name,
            "properties": properties,
            "additionalProperties": False,
        }
        if message.oneofs:
            schema["description"] = "At most one of each group is set: " + "; ".join(
                ", ".join(f.json_name for f in oneof.fields) for oneof in message.oneofs
            )
        schemas[message.full_name] = schema
    return {"$ref": _path(message.full_name)}


def _field(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _single(value, schemas)}
    single = _single(field, schemas)
    if field.is_repeated:
        return {"type": "array", "items": single}
    return single


def _single(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is not None:
        return _ref(field.message_type, schemas)
    if field.enum_type is not None:
        return _enum(field.enum_type, schemas)
    return dict(_SCALARS[field.type])


def _enum(enum: EnumDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    schemas.setdefault(
        enum.full_name,
        {"type": "string", "title": enum.name, "enum": [v.name for v in enum.values]},
    )
    return {"$ref": _path(enum.full_name)}


def _query_parameters(route: Route, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """Top-level scalar fields not bound by the path, as query parameters."""
    out = []
    for field in route.method.input_type.fields:
        if field.name in route.variables or field.type == FieldDescriptor.TYPE_MESSAGE:
            continue
        out.append(
            {
                "name": field.json_name,
                "in": "query",
                "required": False,
                "schema": _field(field, schemas),
                **({"style": "form", "explode": True} if field.is_repeated else {}),
            }
        )
    return out
