"""Traces: OpenTelemetry spans for requests, calls between services, SQL and the events hop.

Configured only by the standard ``OTEL_*`` variables, most of them read by the SDK itself:
``OTEL_TRACES_EXPORTER`` (``otlp``, the default, and/or ``console``; ``none``),
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over HTTP with
protobuf), ``OTEL_SERVICE_NAME`` (default: the service's ``SERVICE_NAME``),
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``,
``OTEL_BSP_*``, ``OTEL_PROPAGATORS``, ``OTEL_SDK_DISABLED``.

**Off unless something exports**: without an OTLP endpoint and without ``console`` (or with
``OTEL_SDK_DISABLED=true``) the SDK is not even imported, no app is wrapped, no engine is
listened to and no exporter thread runs; every hook below is then one test of a module global.

On, once per process (the first app built decides; gunicorn's workers inherit it across the
fork, where the SDK's ``BatchSpanProcessor`` starts its export thread anew through
``os.register_at_fork``):

- a SERVER span per request (``ServerSpans``, a WSGI middleware on the app object, continuing an
  incoming W3C ``traceparent``), named ``<METHOD> <route>``; health checks and ``/metrics`` are
  not traced, nor is their SQL;
- a CLIENT span per attempt of ``common.http.ServiceClient`` (``send``), ``traceparent``
  injected;
- a CLIENT span per SQL statement sent inside a recording span (``StatementSpans``, from
  SQLAlchemy's dialect events on each app's engines), on PostgreSQL and SQLite alike. Not the
  drivers' instrumentations (opentelemetry-instrumentation-psycopg, -sqlite3), which patch the
  driver's ``connect`` for the whole process; SQLAlchemy's own refuses SQLAlchemy 2.1. SQL
  outside a recording span (a sampled-out request, the relay's polls, the pool's ping) makes
  no span;
- spans exported over OTLP/HTTP by ``common.otlp.OTLPSpanExporter``, the library's exporter
  with its request encoded in place (half the cost of a sampled request otherwise);
- the events hop: the outbox stores the ``traceparent`` of the span that wrote the event (the
  CloudEvents distributed-tracing extension: the event's creation context), the relay sends each
  event in a PRODUCER span and the consumer handles it in a CONSUMER span, both children of that
  context, so the request, its SQL, the publish and the consumer's work and SQL are one trace;
- ``trace_id`` and ``span_id`` on every JSON log line written inside a recording span.
"""

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

# Paths polled by orchestrators and scrapers: a trace each would bury the requests.
UNTRACED_PREFIXES = ("/health/", "/metrics")

_configured = False  # the process decided, on the first app built
_provider: "TracerProvider | None" = None
_tracer: "Tracer | None" = None  # None: tracing is off in this process
# The API's functions, bound once tracing is on (an import per request would cost a lookup).
_otel: Any = None


def active() -> bool:
    """Whether this process traces."""
    return _tracer is not None


def exporters_from_env() -> list["SpanExporter"]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names, leaving out OTLP when no endpoint is set.

    :raise RuntimeError: an unknown exporter, or an OTLP protocol other than http/protobuf.
    """
    names = os.environ.get("OTEL_TRACES_EXPORTER") or "otlp"
    exporters: list[SpanExporter] = []
    for name in (part.strip().lower() for part in names.split(",")):
        if name in ("", "none"):
            continue
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            if not (
                os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            ):
                continue  # the SDK would default to localhost:4318: export only when asked
            protocol = (
                os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            )
            if protocol != "http/protobuf":
                # gRPC would bring grpcio (tens of MB) for what port 4318 does as well.
                raise RuntimeError(f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: use http/protobuf")
            from common.otlp import OTLPSpanExporter

            # The library's (endpoint, headers, timeout, compression and certificates: its own
            # OTEL_* reading), its request encoded in place (common.otlp says why).
            exporters.append(OTLPSpanExporter())
        else:
            raise RuntimeError(f"OTEL_TRACES_EXPORTER {name!r}: use otlp, console or none")
    return exporters


def configure(service: str, exporters: Sequence["SpanExporter"] | None = None) -> bool:
    """Set up this process's tracing once (later calls return the first answer): is it on?

    :param service: ``service.name`` unless ``OTEL_SERVICE_NAME`` or the resource attributes
        say otherwise.
    :param exporters: instead of those of the environment (tests pass an in-memory one).
    """
    global _configured, _provider, _tracer
    if _configured:
        return _tracer is not None
    _configured = True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = exporters_from_env() if exporters is None else exporters
    if not exporters:
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": service}))
    # No sampler given: the SDK reads OTEL_TRACES_SAMPLER(_ARG), parentbased_always_on by default.
    # It also flushes and shuts down at interpreter exit (atexit): relay and consumer included.
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # for a service's own spans (trace.get_tracer)
    _bind_api()
    _provider, _tracer = provider, provider.get_tracer("common")
    return True


def _bind_api() -> None:
    global _otel
    from types import SimpleNamespace

    from opentelemetry import context, propagate, trace

    _otel = SimpleNamespace(
        extract=propagate.extract,
        inject=propagate.inject,
        get_current_span=trace.get_current_span,
        set_span_in_context=trace.set_span_in_context,
        use_span=trace.use_span,
        attach=context.attach,
        detach=context.detach,
        SpanKind=trace.SpanKind,
        ERROR=trace.StatusCode.ERROR,
    )


def flush() -> None:
    """Export the finished spans now (tests; the SDK flushes by itself at exit)."""
    if _provider is not None:
        _provider.force_flush()


def reset() -> None:
    """Turn tracing off, so ``configure`` decides again (tests); listeners already on engines
    then find it off."""
    global _configured, _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _configured, _provider, _tracer = False, None, None


def init_app(app: Flask) -> None:
    """Trace the app's requests and SQL if this process traces (see ``configure``)."""
    if not configure(app.config["SERVICE_NAME"]):
        return
    app.wsgi_app = ServerSpans(app.wsgi_app)  # type: ignore[method-assign]
    if "sqlalchemy" in app.extensions:
        with app.app_context():
            for engine in app.extensions["sqlalchemy"].engines.values():
                StatementSpans(engine)


class _EnvironGetter:
    """Reads propagation headers (``traceparent``, ``baggage``) from a WSGI environ."""

    def get(self, carrier: dict[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return None if value is None else [value]

    def keys(self, carrier: dict[str, Any]) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


_ENVIRON_GETTER = _EnvironGetter()


class ServerSpans:
    """WSGI middleware: one SERVER span per request, the current span while the app runs.

    Rather than opentelemetry-instrumentation-flask, which collects the request's attributes
    twice per request and records metrics whether or not the request is sampled: here an
    unsampled request costs the sampler's decision and a context switch, nothing more.
    """

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if _tracer is None or environ.get("PATH_INFO", "").startswith(UNTRACED_PREFIXES):
            return self.wsgi_app(environ, start_response)  # off (tests' reset), or polled
        method = environ.get("REQUEST_METHOD", "GET")
        parent = _otel.extract(environ, getter=_ENVIRON_GETTER)
        span = _tracer.start_span(method, context=parent, kind=_otel.SpanKind.SERVER)
        if not span.is_recording():
            # Sampled out: nothing to record, only the decision to pass on to the calls it
            # makes (their traceparent). One context switch: start_as_current_span's generator
            # context manager costs this path twice as much (bench/README.md). Its SQL makes
            # no span, its parent not recording.
            token = _otel.attach(_otel.set_span_in_context(span, parent))
            try:
                return self.wsgi_app(environ, start_response)
            finally:
                _otel.detach(token)
        with _otel.use_span(span, end_on_exit=True):
            span.set_attributes(
                {
                    "http.request.method": method,
                    "url.path": environ.get("PATH_INFO", ""),
                    "url.scheme": environ.get("wsgi.url_scheme", "http"),
                    "client.address": environ.get("REMOTE_ADDR", ""),
                    "user_agent.original": environ.get("HTTP_USER_AGENT", ""),
                }
            )

            def traced_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
                code = int(status[:3])
                answered: dict[str, Any] = {"http.response.status_code": code}
                if code >= 500:
                    span.set_status(_otel.ERROR)
                # Flask's request, with its URL rule; still there (Flask drops it after).
                rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
                if rule is not None:
                    span.update_name(f"{method} {rule.rule}")
                    answered["http.route"] = rule.rule
                span.set_attributes(answered)  # one call: each takes the span's lock
                return start_response(status, headers, exc_info)

            # The body is built by now (the services answer JSON documents): the span ends here.
            return self.wsgi_app(environ, traced_start_response)


class StatementSpans:
    """A CLIENT span per statement ``engine`` sends inside a recording span, named by its first
    word (``SELECT``, ``INSERT``...).

    Attributes of OTel's database conventions: ``db.system.name``, ``db.namespace``,
    ``server.address`` and ``server.port`` (the engine's, built once) and ``db.query.text``,
    the statement as sent, its values left out as placeholders. A statement the driver
    refuses is an error span naming the exception's class (``error.type``); its message, which
    may quote the values, stays out.

    SQLAlchemy's dialect events (``do_execute``, ``do_executemany``,
    ``do_execute_no_params``) wrap the driver's call, which runs inside the span the way the
    dialect runs it. Not ``before_cursor_execute``: any connection event makes every
    connection of the engine dispatch all of its events (begin, commit, execute...), 5 % of a
    users GET, sampled or not; the dialect's events are dispatched only where they are used.
    SQLAlchemy calls them semi-public; test_tracing fails if they stop firing.
    """

    def __init__(self, engine: sa.Engine) -> None:
        url = engine.url
        static: dict[str, Any] = {"db.system.name": engine.dialect.name}
        if url.database:
            static["db.namespace"] = url.database
        if url.host:
            static["server.address"] = url.host
            if url.port:
                static["server.port"] = url.port
        self.static = static
        dialect = engine.dialect
        sa.event.listen(engine, "do_execute", self._run(dialect.do_execute))
        sa.event.listen(engine, "do_executemany", self._run(dialect.do_executemany))
        sa.event.listen(engine, "do_execute_no_params", self._run(dialect.do_execute_no_params))

    def _run(self, send: Callable[..., None]) -> Callable[..., bool]:
        """A listener running ``send`` (the dialect's own call) in a span; False: not handled,
        SQLAlchemy sends the statement itself."""

        def listener(cursor: Any, statement: str, *args: Any) -> bool:
            if _tracer is None or not _otel.get_current_span().is_recording():
                return False
            span = _tracer.start_span(
                (statement.split(maxsplit=1) or ["SQL"])[0],
                kind=_otel.SpanKind.CLIENT,
                attributes=self.static | {"db.query.text": statement},
            )
            try:
                send(cursor, statement, *args)
            except Exception as error:
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(_otel.ERROR, type(error).__qualname__)
                raise
            finally:
                span.end()
            return True

        return listener


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span; None when off or outside a trace."""
    if _tracer is None:
        return None
    context = _otel.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def stamp_log_record(record: Any) -> None:
    """Set ``trace_id`` and ``span_id`` on a log record written inside a recording span."""
    if _tracer is None:
        return
    span = _otel.get_current_span()
    if span.is_recording():
        context = span.get_span_context()
        record.trace_id = f"{context.trace_id:032x}"
        record.span_id = f"{context.span_id:016x}"


def send(
    request: Callable[..., Any],
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    peer: str,
    resend_count: int = 0,
    **kwargs: Any,
) -> Any:
    """``request(method, url, headers=..., **kwargs)`` in a CLIENT span, ``traceparent`` added.

    :param peer: the called service's name (``peer.service``).
    :param resend_count: the attempt's number after the first (``http.request.resend_count``).
    """
    if _tracer is None:
        return request(method, url, headers=headers, **kwargs)
    with _tracer.start_as_current_span(method, kind=_otel.SpanKind.CLIENT) as span:
        if span.is_recording():
            parts = urlsplit(url)
            span.set_attributes(
                {
                    "http.request.method": method,
                    "url.full": url,
                    "server.address": parts.hostname or "",
                    "server.port": parts.port or (443 if parts.scheme == "https" else 80),
                    "peer.service": peer,
                }
            )
            if resend_count:
                span.set_attribute("http.request.resend_count", resend_count)
        headers = dict(headers)
        _otel.inject(headers)
        response = request(method, url, headers=headers, **kwargs)
        if span.is_recording():
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_status(_otel.ERROR)
        return response


def messaging_system(broker_url: str | None) -> str:
    """``messaging.system``: RabbitMQ, or kombu's filesystem transport without a broker URL."""
    return "rabbitmq" if broker_url else "kombu_filesystem"


def _event_parent(traceparent: str | None) -> Any:
    return _otel.extract({"traceparent": traceparent} if traceparent else {})


class PublishSpans:
    """The relay's PRODUCER span per event of a batch, from the send until the broker answered.

    Each is a child of its event's ``traceparent`` (the span that wrote the event), so the
    request's trace shows when its events left. ``outcomes`` marks those the broker refused.
    """

    def __init__(self, envelopes: Sequence[dict[str, Any]], *, system: str, exchange: str) -> None:
        self.envelopes, self.system, self.exchange = envelopes, system, exchange
        self.spans: list[Span] = []

    def __enter__(self) -> "PublishSpans":
        if _tracer is None:
            return self
        for envelope in self.envelopes:
            span = _tracer.start_span(
                f"publish {envelope['type']}",
                context=_event_parent(envelope.get("traceparent")),
                kind=_otel.SpanKind.PRODUCER,
            )
            if span.is_recording():
                span.set_attributes(
                    _messaging(envelope["type"], envelope["id"], envelope.get("source"))
                    | {"messaging.operation.name": "publish", "messaging.operation.type": "send"}
                    | {"messaging.system": self.system, "messaging.destination.name": self.exchange}
                )
            self.spans.append(span)
        return self

    def outcomes(self, outcomes: Sequence[Exception | None]) -> None:
        """Mark the spans of the events the broker did not take (None: taken)."""
        for span, outcome in zip(self.spans, outcomes, strict=False):
            if outcome is not None:
                span.set_status(_otel.ERROR, repr(outcome))

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        for span in self.spans:
            if error is not None:
                span.record_exception(error)
                span.set_status(_otel.ERROR, repr(error))
            span.end()


@contextlib.contextmanager
def processing(event: Any, *, system: str, exchange: str, queue: str) -> Iterator[None]:
    """The consumer's CONSUMER span around handling ``event``, child of its ``traceparent``.

    A child rather than a span link (OTel's messaging conventions allow both for one message):
    the event is a consequence of the request that wrote it, and its handling belongs in that
    request's trace, next to its publish. A retried event is handled in a sibling span.
    """
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(
        f"process {event.type}",
        context=_event_parent(event.traceparent),
        kind=_otel.SpanKind.CONSUMER,
    ) as span:
        if span.is_recording():
            span.set_attributes(
                _messaging(event.type, event.id, event.source)
                | {"messaging.operation.name": "process", "messaging.operation.type": "process"}
                | {"messaging.system": system, "messaging.destination.name": exchange}
                | {"messaging.destination.subscription.name": queue}
            )
        yield


def _messaging(event_type: str, event_id: str, source: str | None) -> dict[str, Any]:
    """OTel's attributes of a RabbitMQ message carrying a CloudEvents event."""
    return {
        "messaging.rabbitmq.destination.routing_key": event_type,
        "messaging.message.id": event_id,
        "cloudevents.event_id": event_id,
        "cloudevents.event_type": event_type,
        "cloudevents.event_source": source or "",
    }
