"""Traces: OpenTelemetry configured from its own ``OTEL_*`` variables, and the trace context carried between
services in message headers (W3C ``traceparent``/``tracestate``).

Tracing is off unless configured: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, or both comma-separated) or an
OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) turns it on;
``OTEL_EXPORTER_OTLP_PROTOCOL`` picks ``http/protobuf`` (the default) or ``grpc``; ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and ``OTEL_BSP_*`` mean what OpenTelemetry says;
``OTEL_SDK_DISABLED=true`` wins over everything. The embedded mode prints spans with ``OTEL_TRACES_EXPORTER=console``.

An execution belongs to one trace: the engine records the context it started in (:func:`current_traceparent`
into the run's trigger metadata) and decides later inputs that arrive without it (timers, resume after a crash)
under that recorded context, so they join the same trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind

log = logging.getLogger("flowtape.telemetry")

TRACER_NAME = "flowtape"
#: the header keys of W3C trace context, the only ones the bus carries for tracing
TRACE_HEADERS = ("traceparent", "tracestate")

_configured = False
_tracer: trace.Tracer | None = None


def _exporters() -> list[str]:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        return [name.strip() for name in named.split(",") if name.strip() and name.strip() != "none"]
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ["otlp"]
    return []


def tracing_enabled() -> bool:
    """Whether the ``OTEL_*`` environment asks for traces to be exported."""
    return bool(_exporters())


def configure_tracing(service: str) -> bool:
    """Install a tracer provider for this process as the environment asks; returns whether tracing is on.

    ``service`` is the default ``service.name`` (``OTEL_SERVICE_NAME`` overrides it). Called once per process by
    the CLI, before the app is built; a second call does nothing.
    """
    global _configured
    exporters = _exporters()
    if _configured or not exporters:
        return _configured
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or f"flowtape-{service}"})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
    for name in exporters:
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        else:
            log.warning("OTEL_TRACES_EXPORTER names %r, which Flowtape does not know (otlp, console, none)", name)
    trace.set_tracer_provider(provider)
    _configured = True
    return True


def _otlp_exporter() -> Any:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def shutdown_tracing() -> None:
    """Flush spans still waiting in the batch processor (a service that stops)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


def recording() -> bool:
    """Whether this process exports spans: a span nobody records is not worth its attributes."""
    return _configured


def tracer() -> trace.Tracer:
    """The process's tracer, looked up once: ``get_tracer`` reads the environment on each call (2 % of the engine's
    CPU at a span per inline node). One taken before :func:`configure_tracing` is a proxy that follows the
    provider installed then."""
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer(TRACER_NAME)
    return _tracer


def inject(headers: MutableMapping[str, Any] | None = None) -> dict[str, Any]:
    """The current trace context as message headers (nothing when there is none)."""
    carrier: dict[str, Any] = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract(headers: Mapping[str, Any] | None) -> Context:
    """The trace context carried by message headers (an empty context when there is none)."""
    carrier = {key: str(value) for key, value in (headers or {}).items() if key in TRACE_HEADERS}
    return propagate.extract(carrier)


def current_traceparent() -> dict[str, str] | None:
    """The current span's context as W3C headers, for recording (``None`` outside any valid span)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {key: carrier[key] for key in TRACE_HEADERS if key in carrier} or None


def trace_id_of(recorded: Mapping[str, str] | None) -> str | None:
    """The 32-hex trace id of a recorded context (see :func:`current_traceparent`)."""
    if not recorded:
        return None
    context = trace.get_current_span(extract(recorded)).get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@contextmanager
def span_in(
    name: str,
    recorded: Mapping[str, str] | None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    link: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A span in the trace of ``recorded`` (an execution's recorded context).

    When the current context is already in that trace (a message that carried it), the span is its child;
    otherwise (a timer, a resume after a crash, a caller in another trace) the span is a child of the recorded
    context and links to the current one. ``link`` adds a link to another recorded context (a fork's parent run).
    """
    links: list[Link] = []
    current = trace.get_current_span().get_span_context()
    parent: Context | None = None
    wanted = trace.get_current_span(extract(recorded)).get_span_context() if recorded else None
    if wanted is not None and wanted.is_valid and wanted.trace_id != current.trace_id:
        parent = extract(recorded)
        if current.is_valid:
            links.append(Link(current, {"flowtape.link": "cause"}))
    if link:
        linked = trace.get_current_span(extract(link)).get_span_context()
        if linked.is_valid:
            links.append(Link(linked, {"flowtape.link": "parent_execution"}))
    with tracer().start_as_current_span(
        name, context=parent, kind=kind, links=links, attributes=dict(attributes or {})
    ) as span:
        yield span


@contextmanager
def attached(context: Context | None) -> Iterator[None]:
    """Run a block in ``context`` (what an outbox captured when a message was put)."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def capture() -> Context:
    return otel_context.get_current()
