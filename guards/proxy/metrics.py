"""Prometheus text-format metrics of the proxy, hand-written: counters, one gauge, latency histograms."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

from guards.types import Decision

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_HELP = {
    "ombud_proxy_requests_total": ("counter", "Requests answered, by endpoint and HTTP status."),
    "ombud_proxy_decisions_total": ("counter", "Guard decisions, by stage and action."),
    "ombud_proxy_rule_hits_total": ("counter", "Policy rules that fired, by scanner, label and action."),
    "ombud_proxy_in_flight": ("gauge", "Requests being processed now."),
    "ombud_proxy_request_seconds": ("histogram", "Time to answer a request (to the last byte for streams)."),
    "ombud_proxy_upstream_seconds": ("histogram", "Time the upstream took (to the last byte for streams)."),
}

Labels = tuple[tuple[str, str], ...]


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        index = next((i for i, bound in enumerate(LATENCY_BUCKETS) if value <= bound), len(LATENCY_BUCKETS))
        self.counts[index] += 1
        self.total += value


class Metrics:
    """Thread-safe metric registry; ``render`` gives the ``/metrics`` page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: defaultdict[tuple[str, Labels], float] = defaultdict(float)
        self._histograms: defaultdict[str, _Histogram] = defaultdict(_Histogram)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add to a counter."""
        with self._lock:
            self._counters[(name, tuple(sorted(labels.items())))] += value

    def observe(self, name: str, seconds: float) -> None:
        """Record a duration in a histogram."""
        with self._lock:
            self._histograms[name].observe(seconds)

    def decisions(self, decisions: Iterable[Decision]) -> None:
        """Count decisions and the rules that fired in them."""
        for decision in decisions:
            self.inc("ombud_proxy_decisions_total", stage=decision.stage.value, action=decision.action.value)
            for rule in decision.rules:
                self.inc(
                    "ombud_proxy_rule_hits_total", scanner=rule.scanner, label=rule.label, action=rule.action.value
                )

    def render(self, *, in_flight: int = 0) -> str:
        """The Prometheus exposition text; ``in_flight`` is the current number of requests being processed."""
        lines: list[str] = []
        with self._lock:
            counters = sorted(self._counters.items())
            histograms = {k: (list(v.counts), v.total) for k, v in self._histograms.items()}
        seen: set[str] = set()
        for (name, labels), value in counters:
            if name not in seen:
                seen.add(name)
                lines += _header(name)
            lines.append(f"{name}{_labels(labels)} {value:g}")
        lines += _header("ombud_proxy_in_flight")
        lines.append(f"ombud_proxy_in_flight {in_flight}")
        for name, (counts, total) in sorted(histograms.items()):
            lines += _header(name)
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
            lines.append(f"{name}_sum {total:.6f}")
            lines.append(f"{name}_count {cumulative}")
        return "\n".join(lines) + "\n"


def _header(name: str) -> list[str]:
    kind, text = _HELP[name]
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels)
    return "{" + ",".join(escaped) + "}"
