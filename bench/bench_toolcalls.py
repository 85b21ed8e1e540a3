"""Checking a tool call's arguments: the shipped way (the call's texts checked together, one decision) against
checking each value on its own (the baseline: one guard check and one decision per value), in one run.

Each call is a JSON object of ``fields`` string values (names, e-mail addresses, phone numbers, short notes), checked
at the output stage by the default policy in a fresh session, as the proxy does for an answer's tool call. Reported
per field count: median and p95 milliseconds per call, decisions per call, and the baseline/shipped ratio; both ways
must agree that no raw e-mail address is left.

Run: ``.venv/bin/python bench/bench_toolcalls.py [--calls 20] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from guards import Guard
from guards.toolcalls import check_arguments

NAMES = ["Jane Doe", "Carlos Ruiz", "Mei Chen", "Olu Adeyemi", "Anna Kowalska", "Liam O'Brien"]
NOTES = ["please confirm by Friday", "the invoice is attached", "urgent", "second reminder", "see the thread below"]


def arguments(rng: random.Random, fields: int) -> str:
    """A tool call's JSON arguments with ``fields`` string values."""
    values: dict[str, Any] = {}
    for i in range(fields):
        name = rng.choice(NAMES)
        kind = i % 4
        if kind == 0:
            values[f"to_{i}"] = name
        elif kind == 1:
            values[f"email_{i}"] = name.lower().replace(" ", ".").replace("'", "") + "@example.com"
        elif kind == 2:
            values[f"phone_{i}"] = f"+1 415 555 0{rng.randrange(100, 999)}"
        else:
            values[f"note_{i}"] = rng.choice(NOTES)
    return json.dumps(values)


def one_by_one(text: str, check: Callable[[Any], str]) -> str:
    """The baseline: every value checked on its own."""
    return json.dumps({k: check(v) for k, v in json.loads(text).items()})


def measure(guard: Guard, calls: list[str], how: Callable[[str, Callable[[Any], str]], str]) -> dict[str, float]:
    """Median and p95 ms per call, and decisions per call, checking each call in a fresh session."""
    times, decisions = [], []
    for text in calls:
        with guard.session() as session:
            started = time.perf_counter()
            out = how(text, session.output)
            times.append((time.perf_counter() - started) * 1000)
            decisions.append(len(session.decisions))
        assert "@example.com" not in out or "<EMAIL_ADDRESS" in out, out
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "decisions": statistics.mean(decisions),
    }


def main() -> None:
    """Run both ways for 3, 6 and 12 fields and print one JSON object per field count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    guard = Guard.from_policy("default").warmup()
    rng = random.Random(0)
    results = []
    for fields in (3, 6, 12):
        calls = [arguments(rng, fields) for _ in range(args.calls)]
        measure(guard, calls[:2], check_arguments)  # warm caches of both paths
        shipped = measure(guard, calls, check_arguments)
        baseline = measure(guard, calls, one_by_one)
        row = {"fields": fields, "shipped": shipped, "one_by_one": baseline}
        row["ratio"] = round(baseline["median_ms"] / shipped["median_ms"], 2)
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
