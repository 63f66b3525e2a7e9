"""The native REST routes, read from the `google.api.http` annotations of every RPC.

The protos are the one route table: each RPC names its verb, path and body there, and the
listener, /openapi.json and a gRPC-JSON transcoder in front of a fleet (Envoy's, or
grpc-gateway) all read the same annotations. Nothing here lists a route.

Path templates follow google/api/http.proto: literal segments, a custom verb after the last
segment (`/v1/articles:process`) and `{field}` variables bound to top-level string fields. A
body of `*` fills the whole request from the JSON body; with no body, request fields come
from the query string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

_VERBS = ("get", "put", "post", "delete", "patch")
_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Route:
    """One HTTP binding of an RPC."""

    verb: str  # "GET", "POST", ...
    template: str  # "/v1/translate:stream"
    body: str  # "*", a field name, or "" (no body)
    method: MethodDescriptor

    @property
    def rpc(self) -> str:
        """The gRPC method name the calls are counted and logged under."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def request_type(self) -> type[Message]:
        return GetMessageClass(self.method.input_type)

    @property
    def variables(self) -> list[str]:
        return _VARIABLE.findall(self.template)

    @property
    def starlette_path(self) -> str:
        """The template in Starlette's syntax. A custom verb's colon is a literal there."""
        return _VARIABLE.sub(lambda m: "{" + m.group(1) + ":str}", self.template)


def routes(files: Iterable[FileDescriptor]) -> list[Route]:
    """Every binding of every RPC of every service in `files`, in declaration order."""
    found: list[Route] = []
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                rule = options.Extensions[annotations_pb2.http]
                for binding in (rule, *rule.additional_bindings):
                    found.append(_route(binding, method))
    return found


def _route(rule: http_pb2.HttpRule, method: MethodDescriptor) -> Route:
    which = rule.WhichOneof("pattern")
    if which in _VERBS:
        verb, template = which.upper(), getattr(rule, which)
    elif which == "custom":
        verb, template = rule.custom.kind.upper(), rule.custom.path
    else:
        raise ValueError(f"{method.full_name}: google.api.http rule without a pattern")
    if not template.startswith("/"):
        raise ValueError(f"{method.full_name}: path {template!r} must start with /")
    input_fields = method.input_type.fields_by_name
    for name in _VARIABLE.findall(template):
        if name not in input_fields:
            raise ValueError(f"{method.full_name}: {{{name}}} is not a request field")
    if rule.body not in ("", "*") and rule.body not in input_fields:
        raise ValueError(f"{method.full_name}: body {rule.body!r} is not a request field")
    return Route(verb, template, rule.body, method)
