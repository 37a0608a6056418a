"""One order through the gateway is one trace: the gateway, orders, its database, its event's relay
and the consumer that handles the event, as their OTLP exports reached a receiver of this run.

The request carries a sampled W3C ``traceparent`` of the test's own: Traefik continues it, the
services continue Traefik's, the outbox keeps the request's, the relay and users' consumer
continue that. The platform must export to the receiver: the no-Docker one this suite starts
does (local_stack.py: sampled requests only); any other needs PLATFORM_OTLP_RECEIVER.
"""

import secrets
from collections.abc import Iterator

import pytest
from api_client import ORDERS, Account, ApiClient, data_of, order_body, sign_up
from local_stack import LocalStack
from otlp_receiver import OtlpReceiver, ReceivedSpan

PLACED = "orders.order.placed.v1"
GATEWAY_NAMES = {"gateway", "traefik"}
# From the request to the consumer's commit: the relay polls every second, spans leave in
# batches (every 0.2 s on the suite's own platform; the SDK's default, 5 s, elsewhere).
TRACE_SECONDS = 30.0


def traceparent(trace_id: str, parent_id: str, *, sampled: bool = True) -> str:
    """A W3C traceparent header value."""
    return f"00-{trace_id}-{parent_id}-{'01' if sampled else '00'}"


def is_database(span: ReceivedSpan) -> bool:
    """A span of a SQL statement (OTel's database conventions: ``db.system.name``)."""
    return "db.system.name" in span.attributes


def consumer_span(spans: list[ReceivedSpan]) -> ReceivedSpan | None:
    """users' consumer handling the order's event."""
    return next(
        (
            s
            for s in spans
            if s.kind == "CONSUMER"
            and s.name == f"process {PLACED}"
            and s.service.startswith("users")
        ),
        None,
    )


def orphans(spans: list[ReceivedSpan], root_parent: str) -> list[ReceivedSpan]:
    """Spans whose parent is neither another span of the trace nor the caller's span."""
    ids = {s.span_id for s in spans} | {root_parent}
    return [s for s in spans if s.parent_span_id not in ids]


def descendants(spans: list[ReceivedSpan], ancestor: ReceivedSpan) -> list[ReceivedSpan]:
    """The spans below ``ancestor`` in the trace."""
    below, frontier = [], {ancestor.span_id}
    while frontier:
        children = [s for s in spans if s.parent_span_id in frontier]
        below += children
        frontier = {s.span_id for s in children}
    return below


def render(spans: list[ReceivedSpan], root_parent: str) -> str:
    """The trace as an indented tree, one span a line: what a person would look at."""
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in (s for s in spans if s.parent_span_id == parent):
            lines.append(f"{'  ' * depth}{span}")
            walk(span.span_id, depth + 1)

    walk(root_parent, 0)
    lines += [f"(orphan) {s}" for s in orphans(spans, root_parent)]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def receiver(otlp_receiver: OtlpReceiver | None) -> OtlpReceiver:
    """The receiver the platform exports to; skips the module without one."""
    if otlp_receiver is None:
        pytest.skip(
            "PLATFORM_OTLP_RECEIVER is unset: the platform at PLATFORM_URL exports its traces "
            "elsewhere, if anywhere. Point its OTEL_EXPORTER_OTLP_ENDPOINT at this machine and "
            "set PLATFORM_OTLP_RECEIVER to the host:port to listen on (compose: "
            "http://host.docker.internal:4318 and 0.0.0.0:4318; tests/integration/README.md)"
        )
    return otlp_receiver


@pytest.fixture(scope="module")
def customer(api: ApiClient) -> Account:
    """An account of this module."""
    return sign_up(api, "traced")


class OrderTrace:
    """One order placed with a sampled traceparent, and its trace as the receiver got it."""

    def __init__(self, spans: list[ReceivedSpan], trace_id: str, client_span: str) -> None:
        self.spans, self.trace_id, self.client_span = spans, trace_id, client_span

    def of(self, service: str, kind: str | None = None) -> list[ReceivedSpan]:
        """Its spans from one service (and of one kind)."""
        return [s for s in self.spans if s.service == service and kind in (None, s.kind)]

    def __str__(self) -> str:
        return render(self.spans, self.client_span)


@pytest.fixture(scope="module")
def order_trace(
    api: ApiClient, customer: Account, receiver: OtlpReceiver, local_stack: LocalStack | None
) -> Iterator[OrderTrace]:
    """Place one order through the gateway with a sampled traceparent; wait for its trace."""
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    headers = {
        **customer.headers,
        "traceparent": traceparent(trace_id, client_span),
        "Idempotency-Key": f"traced-{trace_id}",
    }
    data_of(api.post(ORDERS, json=order_body(), headers=headers), 201)

    def complete(spans: list[ReceivedSpan]) -> bool:
        consumer = consumer_span(spans)
        # Each process exports on its own schedule (the relay's batch may come after the
        # consumer's): wait for every part, not the first complete-looking tree.
        return (
            consumer is not None
            and any(s.kind == "PRODUCER" and s.name == f"publish {PLACED}" for s in spans)
            and any(s.service in GATEWAY_NAMES for s in spans)
            and not orphans(spans, client_span)
            and any(is_database(s) for s in descendants(spans, consumer))
        )

    spans = receiver.wait_for_trace(trace_id, complete, TRACE_SECONDS)
    # Nothing at all: the platform's exports never reached the receiver (its address).
    assert spans or receiver.trace_ids(), (
        f"no span of any trace reached the receiver (port {receiver.port}) in {TRACE_SECONDS} s:"
        " is it where the platform's OTEL_EXPORTER_OTLP_ENDPOINT leads?"
    )
    trace = OrderTrace(spans, trace_id, client_span)
    print(f"\ntrace {trace_id} ({len(spans)} spans):\n{trace}")  # shown with -rP or -s
    yield trace


def test_the_gateway_continues_the_callers_traceparent(order_trace: OrderTrace) -> None:
    gateway = [s for s in order_trace.spans if s.service in GATEWAY_NAMES]

    assert gateway, f"no span from the gateway:\n{order_trace}"
    roots = [s for s in order_trace.spans if s.parent_span_id == order_trace.client_span]
    assert [s.service for s in roots] in (["gateway"], ["traefik"]), str(order_trace)


def test_orders_serves_the_request_inside_the_gateways_span(order_trace: OrderTrace) -> None:
    (server,) = [s for s in order_trace.of("orders", "SERVER") if s.name == "POST /api/v1/orders"]
    gateway_ids = {s.span_id for s in order_trace.spans if s.service in GATEWAY_NAMES}

    # Traefik propagated its own span, not the caller's: orders' parent is a gateway span.
    assert server.parent_span_id in gateway_ids, str(order_trace)
    assert server.attributes.get("http.response.status_code") == 201


def test_the_event_is_published_and_consumed_in_the_same_trace(order_trace: OrderTrace) -> None:
    publish = [
        s for s in order_trace.spans if s.kind == "PRODUCER" and s.name == f"publish {PLACED}"
    ]
    consumer = consumer_span(order_trace.spans)

    assert publish, f"no relay span publishing {PLACED}:\n{order_trace}"
    assert {s.service for s in publish} <= {"orders", "orders-relay"}, str(order_trace)
    assert consumer is not None, f"users' consumer did not handle {PLACED} here:\n{order_trace}"
    # One trace: every span hangs from the caller's span, through the request's own.
    assert not orphans(order_trace.spans, order_trace.client_span), str(order_trace)


def test_the_trace_holds_the_database_statements_of_both_sides(order_trace: OrderTrace) -> None:
    # PostgreSQL under compose, SQLite on the no-Docker platform: both drivers are traced.
    (server,) = [s for s in order_trace.of("orders", "SERVER") if s.name == "POST /api/v1/orders"]
    consumer = consumer_span(order_trace.spans)
    assert consumer is not None, str(order_trace)

    assert any(is_database(s) for s in descendants(order_trace.spans, server)), str(order_trace)
    assert any(is_database(s) for s in descendants(order_trace.spans, consumer)), str(order_trace)


def test_a_request_the_caller_did_not_sample_exports_nothing(
    api: ApiClient, customer: Account, receiver: OtlpReceiver, order_trace: OrderTrace
) -> None:
    # After the sampled order (its spans arrived): the exporters are demonstrably working.
    trace_id = secrets.token_hex(16)
    headers = {**customer.headers, "traceparent": traceparent(trace_id, "1" * 16, sampled=False)}

    data_of(api.get(ORDERS, headers=headers), 200)

    assert receiver.wait_for_trace(trace_id, bool, timeout=2.0) == []


def test_the_suites_platform_traces_only_what_arrives_sampled(
    receiver: OtlpReceiver, order_trace: OrderTrace, local_stack: LocalStack | None
) -> None:
    if local_stack is None:
        pytest.skip("the sampler of a platform this run did not start is its own business")
    # The accounts' registrations and logins came without a traceparent: at ratio 0 the
    # gateway started no trace for them (local_stack.TRACING_ENV), so only the order's arrived.
    assert receiver.trace_ids() == {order_trace.trace_id}
