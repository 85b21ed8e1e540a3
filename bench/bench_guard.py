"""Guard overhead per model call against presidio's analyzer alone, on the same texts, in one run.

A "call" is one prompt and one answer, checked by two guards: the default policy's hygiene, secrets and PII
scanners alone (redaction included; the guard's own work around presidio), and the whole default policy (the
toxicity, stereotype and injection classifiers too). The baseline runs presidio's ``AnalyzerEngine.analyze`` on
both. Reported: median and p95 milliseconds per call for each message length, and each guard/baseline ratio.

Run: ``.venv/bin/python bench/bench_guard.py [--calls 60] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from importlib import resources

import yaml

from guards import Guard, Stage
from guards.policy import parse_policy
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


def pii_only_guard() -> Guard:
    """The default policy with only its hygiene, secrets and PII scanners."""
    document = yaml.safe_load(resources.files("policies").joinpath("default.yaml").read_text(encoding="utf-8"))
    document["scanners"] = [s for s in document["scanners"] if s["type"] in ("hygiene", "secrets", "pii")]
    return Guard.from_policy(parse_policy(yaml.safe_dump(document, sort_keys=False), source="default (PII part)"))


def main() -> dict[str, object]:
    """Run the benchmark and print one row per message length."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=60, help="calls per message length")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    guards = {"pii": pii_only_guard().warmup(), "default": Guard.from_policy("default").warmup()}
    analyzer = analyzer_engine()

    def presidio_call(prompt: str, answer: str) -> object:
        return analyzer.analyze(prompt, language="en"), analyzer.analyze(answer, language="en")

    def guard_call(guard: Guard) -> Callable[[str, str], object]:
        return lambda prompt, answer: (guard.check(prompt, Stage.INPUT), guard.check(answer, Stage.OUTPUT))

    sides = {"presidio": presidio_call, **{name: guard_call(g) for name, g in guards.items()}}
    rng = random.Random(0)
    results: dict[str, object] = {}
    header = ("length", "presidio p50", "pii p50", "ratio", "default p50", "ratio", "pii p95 ratio")
    header += ("default p95 ratio",)
    print("{:22} {:>12} {:>8} {:>6} {:>12} {:>6} {:>14} {:>18}".format(*header))
    for label, length in LENGTHS.items():
        calls = [(make_text(rng, length), make_text(rng, length)) for _ in range(args.calls)]
        for _ in range(3):  # warm every side up on texts that are not timed (the classifiers cache embeddings)
            for call in sides.values():
                call(make_text(rng, length), make_text(rng, length))
        times: dict[str, list[float]] = {name: [] for name in sides}
        for prompt, answer in calls:  # interleaved, so every side sees the same machine state
            for name, call in sides.items():
                times[name].append(timed(call, prompt, answer))
        row: dict[str, float] = {}
        for name, values in times.items():
            row[f"{name}_p50_ms"], row[f"{name}_p95_ms"] = statistics.median(values), percentile(values, 0.95)
        for name in guards:
            row[f"{name}_ratio_p50"] = row[f"{name}_p50_ms"] / row["presidio_p50_ms"]
            row[f"{name}_ratio_p95"] = row[f"{name}_p95_ms"] / row["presidio_p95_ms"]
        results[label] = row
        print(
            f"{label:22} {row['presidio_p50_ms']:12.1f} {row['pii_p50_ms']:8.1f} {row['pii_ratio_p50']:6.2f}"
            f" {row['default_p50_ms']:12.1f} {row['default_ratio_p50']:6.2f} {row['pii_ratio_p95']:14.2f}"
            f" {row['default_ratio_p95']:18.2f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
