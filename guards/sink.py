"""The small interface through which the guard hands decisions to an audit store.

``guards`` never imports ``audit``: a database URL is resolved through the ``ombud.sinks`` entry point.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from guards.errors import SinkError
from guards.types import Decision, PolicyRef

SINK_ENTRY_POINT_GROUP = "ombud.sinks"


@runtime_checkable
class Sink(Protocol):
    """Receives every decision the guard takes.

    ``write`` must return quickly (queue, then persist in the background); it raises
    ``SinkError`` when it cannot accept the decision, so that the policy can fail closed.
    """

    def write(self, decision: Decision) -> None:
        """Accept one decision for durable storage."""
        ...

    def flush(self) -> None:
        """Block until every accepted decision is persisted."""
        ...

    def register_policy(self, policy: PolicyRef, document: str) -> None:
        """Keep the canonical text of a policy version that decisions will reference by hash."""
        ...


class ListSink:
    """A sink that keeps decisions in memory, for tests and interactive use."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.policies: dict[str, str] = {}

    def write(self, decision: Decision) -> None:
        """Append the decision."""
        self.decisions.append(decision)

    def flush(self) -> None:
        """Nothing to flush."""

    def register_policy(self, policy: PolicyRef, document: str) -> None:
        """Remember the policy document by hash."""
        self.policies[policy.sha256] = document


def resolve_sink(spec: Sink | str | None) -> Sink | None:
    """Turn ``spec`` into a sink: a Sink is used as is; a database URL is opened by the sink plugin
    registered under the ``ombud.sinks`` entry point (the audit package registers ``sql``)."""
    if spec is None or isinstance(spec, Sink):
        return spec
    if not isinstance(spec, str):
        raise SinkError(f"audit must be a Sink or a database URL, got {type(spec).__name__}")
    plugins = {ep.name: ep for ep in entry_points(group=SINK_ENTRY_POINT_GROUP)}
    if "sql" not in plugins:
        raise SinkError("no audit store is installed: install ombud with its audit package to log to a database")
    factory = plugins["sql"].load()
    sink = factory(spec)
    if not isinstance(sink, Sink):
        raise SinkError(f"the audit plugin returned {type(sink).__name__}, which is not a Sink")
    return sink
