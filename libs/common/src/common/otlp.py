"""The OTLP/HTTP span exporter of ``common.tracing``: the library's, its request built in place.

``OTLPSpanExporter`` is opentelemetry-exporter-otlp-proto-http's exporter: the same
``OTEL_EXPORTER_OTLP_*`` settings (endpoint, headers, timeout, compression, certificates),
the same HTTP client and retries. Only the protobuf request is built differently.

Why: the library builds each message from its parts (``KeyValue(value=AnyValue(...))``,
``Span(attributes=[...])``, ``ScopeSpans(spans=[...])``...), and with protobuf's C
implementation (upb) each part passed to a constructor is copied, by serialising and parsing
it again, once per level: an attribute is copied four times, a span three. It also hashes the
span's resource, a JSON dump of its attributes, for every span. That made encoding 275,000
instructions for a request span and 230,000 for its SELECT's, about half of what tracing costs
a sampled users GET. Here every message is added to its parent where it will stay
(``.add()``, field by field), and spans are grouped by their resource and scope objects:
100,000 and 85,000 instructions, the bytes the same (test_otlp.py decodes both and compares).
Measured with ``bench/tracing_cost.py``; figures in bench/README.md.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as _LibraryExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext, SpanKind

log = logging.getLogger(__name__)

_KINDS = {
    SpanKind.INTERNAL: ProtoSpan.SPAN_KIND_INTERNAL,
    SpanKind.SERVER: ProtoSpan.SPAN_KIND_SERVER,
    SpanKind.CLIENT: ProtoSpan.SPAN_KIND_CLIENT,
    SpanKind.PRODUCER: ProtoSpan.SPAN_KIND_PRODUCER,
    SpanKind.CONSUMER: ProtoSpan.SPAN_KIND_CONSUMER,
}
_HAS_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK


class OTLPSpanExporter(_LibraryExporter):
    """The library's exporter; ``export`` encodes with ``encode_spans`` below."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            data = encode_spans(spans)
        except Exception:  # a span the encoder cannot take: drop the batch, keep serving
            log.exception("encoding %d spans for OTLP failed", len(spans))
            return SpanExportResult.FAILURE
        # The library's own HTTP client: compression, retries with backoff, failures logged.
        sent = self._client.export(data)
        return SpanExportResult.SUCCESS if sent.success else SpanExportResult.FAILURE


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialised ``ExportTraceServiceRequest`` of ``spans``, grouped by resource and
    instrumentation scope (one group per object: a provider's spans share them)."""
    groups: dict[int, tuple[Any, dict[int, tuple[Any, list[ReadableSpan]]]]] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope
        scopes = groups.setdefault(id(resource), (resource, {}))[1]
        scopes.setdefault(id(scope), (scope, []))[1].append(span)
    request = ExportTraceServiceRequest()
    for resource, scopes in groups.values():
        resource_spans = request.resource_spans.add()
        _attributes(resource_spans.resource.attributes, resource.attributes)
        resource_spans.schema_url = resource.schema_url
        for scope, members in scopes.values():
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.SetInParent()
            if scope is not None:
                scope_spans.scope.name = scope.name
                scope_spans.scope.version = scope.version or ""
                _attributes(scope_spans.scope.attributes, scope.attributes)
                scope_spans.schema_url = scope.schema_url or ""
            add = scope_spans.spans.add
            for span in members:
                _span(add(), span)
    return request.SerializePartialToString()


def _span(out: Any, span: ReadableSpan) -> None:
    context = span.context
    assert context is not None  # noqa: S101 (a finished span has one)
    out.trace_id = context.trace_id.to_bytes(16, "big")
    out.span_id = context.span_id.to_bytes(8, "big")
    if context.trace_state:
        out.trace_state = ",".join(f"{key}={value}" for key, value in context.trace_state.items())
    if span.parent is not None:
        out.parent_span_id = span.parent.span_id.to_bytes(8, "big")
    out.flags = _flags(span.parent)
    out.name = span.name
    out.kind = _KINDS[span.kind]
    out.start_time_unix_nano = span.start_time or 0
    out.end_time_unix_nano = span.end_time or 0
    _attributes(out.attributes, span.attributes)
    out.dropped_attributes_count = span.dropped_attributes
    for event in span.events:
        added = out.events.add()
        added.name = event.name
        added.time_unix_nano = event.timestamp
        _attributes(added.attributes, event.attributes)
        added.dropped_attributes_count = event.dropped_attributes
    out.dropped_events_count = span.dropped_events
    for link in span.links:
        added = out.links.add()
        added.trace_id = link.context.trace_id.to_bytes(16, "big")
        added.span_id = link.context.span_id.to_bytes(8, "big")
        _attributes(added.attributes, link.attributes)
        added.dropped_attributes_count = link.dropped_attributes
        added.flags = _flags(link.context)
    out.dropped_links_count = span.dropped_links
    out.status.code = span.status.status_code.value
    out.status.message = span.status.description or ""


def _flags(context: SpanContext | None) -> int:
    """OTLP's span flags: whether the parent (or linked) context is remote is known, and is."""
    if context is not None and context.is_remote:
        return _HAS_IS_REMOTE | _IS_REMOTE
    return _HAS_IS_REMOTE


def _attributes(repeated: Any, attributes: Mapping[str, Any] | None) -> None:
    for key, value in (attributes or {}).items():
        added = repeated.add()
        added.key = key
        _value(added.value, value)


def _value(out: Any, value: Any) -> None:
    """An ``AnyValue``: the attribute types the SDK keeps (its cleaning ran already)."""
    if isinstance(value, str):  # the common case first
        out.string_value = value
    elif isinstance(value, bool):  # before int: a bool is an int
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, Mapping):
        out.kvlist_value.SetInParent()
        for key, item in value.items():
            added = out.kvlist_value.values.add()
            added.key = str(key)
            _value(added.value, item)
    elif isinstance(value, Sequence):
        out.array_value.SetInParent()
        for item in value:
            _value(out.array_value.values.add(), item)
    elif value is None:
        out.SetInParent()  # an empty AnyValue, as the library sends
    else:
        raise TypeError(f"attribute value of type {type(value).__name__}")
