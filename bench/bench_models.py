"""Benchmark the classifier heads: all three scanners vs the encoder alone vs alt-profanity-check, in one run.

Usage: ``HF_HUB_OFFLINE=1 python bench/bench_models.py [--repeats 200] [--batch-texts 1024] [--with-pii]``

Reports the median latency of one ~60-token text on one torch thread (the three measured in turn, round by
round), batched throughput on two cores (one process with two torch threads, batch by batch in turn, and the
three heads in two worker processes of one thread each), the ratios, and the peak RSS of the main process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT = (
    "Could you summarise the attached quarterly report for me and highlight any risks to the project timeline? "
    "Please keep it short, use bullet points, and mention who owns each action item so that I can forward it "
    "to the whole team before Friday's planning meeting."
)
WORDS = TEXT.replace("?", "").replace(",", "").replace(".", "").split()


def _interleaved_medians(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median ms of each function, called in turn within every round so they share the machine's state."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats + 5):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if r >= 5:
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(30, 50))) for _ in range(n)]


def _interleaved_rates(fns: dict[str, Callable[[list[str]], Any]], texts: list[str], batch: int) -> dict[str, float]:
    """Texts/s of each function, batch by batch in turn (each function gets its own copy of every text)."""
    spent = dict.fromkeys(fns, 0.0)
    for i in range(0, len(texts), batch):
        for k, (name, fn) in enumerate(fns.items()):
            chunk = [f"{t} {k}" for t in texts[i : i + batch]]  # distinct texts: nothing reuses another's cache
            start = time.perf_counter()
            fn(chunk)
            spent[name] += time.perf_counter() - start
    return {name: len(texts) / t for name, t in spent.items()}


_WORKER: dict[str, Any] = {}


def _worker_init() -> None:
    from guards.scanners.classifiers import BiasScanner, InjectionScanner, ToxicityScanner

    scanners = [ToxicityScanner("t", {"threads": 1}), BiasScanner("b"), InjectionScanner("i")]
    for s in scanners:
        s.warmup()
    _WORKER["scanners"] = scanners


def _worker_batch(texts: list[str]) -> int:
    for s in _WORKER["scanners"]:
        s.score_batch(texts)
    return len(texts)


def _process_rate(texts: list[str], batch: int, workers: int) -> float:
    """Texts/s of the three heads in ``workers`` processes of one torch thread each."""
    import multiprocessing as mp

    chunks = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    with mp.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
        pool.map(_worker_batch, [["warm up"]] * workers, chunksize=1)
        start = time.perf_counter()
        done = sum(pool.map(_worker_batch, chunks, chunksize=1))
        return done / (time.perf_counter() - start)


def main() -> None:
    """Run the benchmark and print the results as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batch-texts", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--with-pii", action="store_true", help="also load the pii scanner (memory figure)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the multi-process rate")
    args = parser.parse_args()

    from profanity_check import predict_prob

    from guards.models.cache import shared_cache
    from guards.models.encoder import set_threads
    from guards.scanners.base import ScanContext
    from guards.scanners.classifiers import BiasScanner, InjectionScanner, ToxicityScanner

    scanners = [ToxicityScanner("toxicity"), BiasScanner("bias"), InjectionScanner("injection")]
    for s in scanners:
        s.warmup()
    if args.with_pii:
        from guards.scanners.base import scanner_class

        scanner_class("pii")("pii", {}).scan("My name is John Smith.", ScanContext())
    config = scanners[0].model.encoder
    cache = shared_cache(config)
    encoder = cache.encoder
    ctx = ScanContext()
    tokens = len(encoder.windows(TEXT)[0])

    def three_heads() -> None:
        cache.clear()
        for s in scanners:
            s.scan(TEXT, ctx)

    set_threads(1)
    single = _interleaved_medians(
        {
            "three_heads_ms": three_heads,
            "encoder_alone_ms": lambda: encoder.embed_windows([TEXT]),
            "alt_profanity_check_ms": lambda: predict_prob([TEXT]),
        },
        args.repeats,
    )

    def heads_batch(texts: list[str]) -> None:
        for s in scanners:
            s.score_batch(texts)

    set_threads(2)
    texts = _texts(args.batch_texts)
    cache.clear()
    cache.size = args.batch_size  # the LRU keeps the current batch; every text is encoded once
    batched = _interleaved_rates(
        {
            "three_heads_texts_per_s": heads_batch,
            "encoder_alone_texts_per_s": encoder.embed_windows,
            "alt_profanity_check_texts_per_s": predict_prob,
        },
        texts,
        args.batch_size,
    )
    batched["three_heads_2_processes_1_thread_texts_per_s"] = _process_rate(texts, args.batch_size, args.workers)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
        "text_tokens": tokens + 2,
        "encoder": {"quantize": config.quantize, "window": config.window},
        "single_text_one_thread": single,
        "batched_two_threads": batched,
        "ratios": {
            "single_three_heads_over_encoder": single["three_heads_ms"] / single["encoder_alone_ms"],
            "single_three_heads_over_profanity": single["three_heads_ms"] / single["alt_profanity_check_ms"],
            "batched_three_heads_over_encoder": batched["three_heads_texts_per_s"]
            / batched["encoder_alone_texts_per_s"],
            "batched_three_heads_over_profanity": batched["three_heads_texts_per_s"]
            / batched["alt_profanity_check_texts_per_s"],
        },
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "with_pii": args.with_pii,
    }
    print(json.dumps({k: _round(v) for k, v in result.items()}, indent=1))


def _round(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return round(v, 2) if isinstance(v, float) else v


if __name__ == "__main__":
    main()
