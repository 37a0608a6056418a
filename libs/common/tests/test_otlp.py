"""common.otlp: its request is the library's, byte for byte once decoded, for every span part."""

from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as library
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceState,
    set_span_in_context,
)

from common import otlp

EVERY_TYPE: dict[str, Any] = {
    "text": "value",
    "flag": True,
    "count": 7,
    "ratio": 0.25,
    "raw": b"\x00\x01",
    "names": ("a", "b"),
    "numbers": (1, 2, 3),
    "empty": (),
    "nested": {"inner": "x", "deeper": {"n": 1}},
}


def _spans() -> list[Any]:
    """Spans of two services and two scopes, with every part OTLP carries."""
    finished = InMemorySpanExporter()
    for service in ("users", "orders"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(finished))
        plain = provider.get_tracer("common")
        scoped = provider.get_tracer(
            "mine",
            "1.2",
            schema_url="https://opentelemetry.io/schemas/1.26.0",
            attributes={"scope.kind": "test"},
        )
        remote = SpanContext(
            0x1234, 0x5678, is_remote=True, trace_state=TraceState([("vendor", "v1")])
        )
        with (
            plain.start_as_current_span("GET /x", kind=SpanKind.SERVER, attributes=EVERY_TYPE),
            scoped.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as child,
        ):
            child.add_event("retry", {"attempt": 2})
            child.set_status(StatusCode.ERROR, "refused")
        plain.start_span(
            "process",
            context=set_span_in_context(NonRecordingSpan(remote)),
            kind=SpanKind.CONSUMER,
            links=[Link(remote, {"why": "batch"})],
        ).end()
        for kind in (SpanKind.INTERNAL, SpanKind.PRODUCER):
            plain.start_span(kind.name, kind=kind).end()
    return list(finished.get_finished_spans())


def test_the_request_is_the_librarys() -> None:
    spans = _spans()
    ours = ExportTraceServiceRequest.FromString(otlp.encode_spans(spans))
    assert ours == library(spans)
    assert len(ours.resource_spans) == 2
    assert sum(len(s.spans) for r in ours.resource_spans for s in r.scope_spans) == len(spans)


def test_an_empty_batch_is_an_empty_request() -> None:
    assert otlp.encode_spans([]) == library([]).SerializePartialToString() == b""
