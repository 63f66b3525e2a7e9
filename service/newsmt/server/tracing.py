"""Optional OpenTelemetry tracing with the standard gRPC server instrumentation. Off by default.

    pip install 'newsmt[otel]'
    OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317 newsmt serve --otel-tracing true

Spans carry the method and status, never request text (the instrumentation records no
message bodies).
"""

from __future__ import annotations

from typing import Any

from newsmt.server.settings import SettingsError


def server_interceptor() -> Any:
    """The OpenTelemetry gRPC server interceptor, with an SDK tracer provider exporting over
    OTLP when the exporter is installed and no provider was set up by the host already."""
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.grpc import server_interceptor as otel_interceptor
    except ImportError:
        raise SettingsError(
            "otel_tracing needs OpenTelemetry: pip install 'newsmt[otel]'"
        ) from None
    if type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider":
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "newsmt"}))
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except ImportError:
            pass  # no exporter installed: spans are created for in-process processors only
        trace.set_tracer_provider(provider)
    return otel_interceptor()
