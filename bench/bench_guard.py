"""Guard overhead per model call against presidio's analyzer alone, on the same texts, in one run.

A "call" is one prompt and one answer: the guard checks both (hygiene + secrets + PII with the default
policy, redaction included); the baseline runs presidio's ``AnalyzerEngine.analyze`` on both. Reported:
median and p95 milliseconds per call for each message length, and the guard/baseline ratio.

Run: ``.venv/bin/python bench/bench_guard.py [--calls 60] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from guards import Guard, Stage
from guards.scanners.pii import analyzer_engine

NAMES = ["Jane Doe", "Carlos Ruiz", "Mei Chen", "Olu Adeyemi", "Anna Kowalska", "Liam O'Brien"]
FACTS = [
    "my email is {first}.{last}@example.com",
    "my card is 4111 1111 1111 1111",
    "call me on +1 415 555 0{n:03d}",
    "I moved to {n} Lovers Lane, Apt. {n}",
    "our key is AKIAIOSFODNN7EXAMPL{c}",
    "the order number is {n}{n}",
]
FILLER = (
    "I would like some help with my account and the last invoice, which looked higher than usual. "
    "Could you explain the charges and tell me what options I have to change the plan? "
)
LENGTHS = {"short (~80 chars)": 80, "medium (~400 chars)": 400, "long (~2000 chars)": 2000}


def make_text(rng: random.Random, length: int) -> str:
    """A customer-style message of about ``length`` characters with a couple of PII values."""
    name = rng.choice(NAMES)
    first, last = name.lower().replace("'", "").split()
    parts = [f"Hi, I'm {name}."]
    while sum(len(p) for p in parts) < length:
        fact = rng.choice(FACTS).format(first=first, last=last, n=rng.randint(1, 999), c=rng.choice("ABCDEFGH"))
        parts.append(fact + ".")
        parts.append(FILLER[: max(0, length // 3)])
    return " ".join(parts)[: max(length, 40)]


def timed(fn: Callable[[str, str], object], prompt: str, answer: str) -> float:
    """Milliseconds one call of ``fn(prompt, answer)`` takes."""
    started = time.perf_counter()
    fn(prompt, answer)
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> dict[str, object]:
    """Run the benchmark and print one row per message length."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=60, help="calls per message length")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    guard = Guard.from_policy("default").warmup()
    analyzer = analyzer_engine()

    def presidio_call(prompt: str, answer: str) -> object:
        return analyzer.analyze(prompt, language="en"), analyzer.analyze(answer, language="en")

    def guard_call(prompt: str, answer: str) -> object:
        return guard.check(prompt, Stage.INPUT), guard.check(answer, Stage.OUTPUT)

    rng = random.Random(0)
    results: dict[str, object] = {}
    header = ("length", "presidio p50", "guard p50", "ratio", "presidio p95", "guard p95", "ratio")
    print("{:22} {:>12} {:>10} {:>6} {:>13} {:>10} {:>6}".format(*header))
    for label, length in LENGTHS.items():
        calls = [(make_text(rng, length), make_text(rng, length)) for _ in range(args.calls)]
        for prompt, answer in calls[:3]:  # warm caches for both sides
            presidio_call(prompt, answer)
            guard_call(prompt, answer)
        baseline, guarded = [], []
        for prompt, answer in calls:  # interleaved, so both sides see the same machine state
            baseline.append(timed(presidio_call, prompt, answer))
            guarded.append(timed(guard_call, prompt, answer))
        row = {
            "presidio_p50_ms": statistics.median(baseline),
            "guard_p50_ms": statistics.median(guarded),
            "presidio_p95_ms": percentile(baseline, 0.95),
            "guard_p95_ms": percentile(guarded, 0.95),
        }
        row["ratio_p50"] = row["guard_p50_ms"] / row["presidio_p50_ms"]
        row["ratio_p95"] = row["guard_p95_ms"] / row["presidio_p95_ms"]
        results[label] = row
        print(
            f"{label:22} {row['presidio_p50_ms']:12.1f} {row['guard_p50_ms']:10.1f} {row['ratio_p50']:6.2f}"
            f" {row['presidio_p95_ms']:13.1f} {row['guard_p95_ms']:10.1f} {row['ratio_p95']:6.2f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
