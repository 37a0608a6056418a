"""A small OTLP/HTTP traces receiver: what the platform's processes and Traefik export to in tests.

It accepts ``POST /v1/traces`` (protobuf, gzip-compressed as Traefik sends it or not, chunked
or with a length), decodes each request with the ``opentelemetry-proto`` package and keeps the
spans in memory, flattened with their resource's ``service.name``. Nothing else: no storage, no
query API; the test reads ``spans`` in this process.
"""

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

PATH = "/v1/traces"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as exported: its service, name, kind, ids (hex) and attributes."""

    service: str
    name: str
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any] = field(default_factory=dict)
    start_ns: int = 0

    def __str__(self) -> str:
        return f"{self.service}: {self.kind} {self.name!r}"


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def decode(body: bytes) -> list[ReceivedSpan]:
    """The spans of one ``ExportTraceServiceRequest``."""
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        start_ns=span.start_time_unix_nano,
                    )
                )
    return spans


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the exporters keep their connection open
    server: "_Server"

    def do_POST(self) -> None:
        body = self._body()
        if self.path != PATH:
            self._answer(404, b"")
            return
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        try:
            spans = decode(body)
        except Exception:
            self._answer(400, b"")
            return
        self.server.receiver.add(spans)
        self._answer(200, ExportTraceServiceResponse().SerializeToString())

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per export would drown the test output."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: "OtlpReceiver"


class OtlpReceiver:
    """An OTLP/HTTP receiver on ``host:port`` (0: any free port), served from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.receiver = self
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """``OTEL_EXPORTER_OTLP_ENDPOINT`` for an exporter on this machine."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "OtlpReceiver":
        """Start serving; return itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def add(self, spans: list[ReceivedSpan]) -> None:
        """Keep spans (the handler's threads call it)."""
        with self._lock:
            self._spans.extend(spans)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """The spans received so far of one trace, in start order."""
        with self._lock:
            spans = [s for s in self._spans if s.trace_id == trace_id]
        return sorted(spans, key=lambda s: s.start_ns)

    def trace_ids(self) -> set[str]:
        """Every trace some span arrived from."""
        with self._lock:
            return {s.trace_id for s in self._spans}

    def wait_for_trace(
        self, trace_id: str, complete: Callable[[list[ReceivedSpan]], bool], timeout: float
    ) -> list[ReceivedSpan]:
        """The trace's spans once ``complete(spans)`` holds, or what arrived by ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.trace(trace_id)
            if complete(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.2)
