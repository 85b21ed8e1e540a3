"""Benchmark the classifier heads: all three scanners vs the encoder alone vs alt-profanity-check, in one run.

Usage: ``HF_HUB_OFFLINE=1 python bench/bench_models.py [--repeats 200] [--batch-texts 1024] [--with-pii]``

Reports the median latency of one ~60-token text on one torch thread, batched throughput on two threads,
the ratios between the three, and the peak RSS of the process. Prints JSON.
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


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(30, 50))) for _ in range(n)]


def _rate(fn: Callable[[list[str]], Any], texts: list[str], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        fn(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    """Run the benchmark and print the results as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batch-texts", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--with-pii", action="store_true", help="also load the pii scanner (memory figure)")
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
    single = {
        "three_heads_ms": _median_ms(three_heads, args.repeats),
        "encoder_alone_ms": _median_ms(lambda: encoder.embed_windows([TEXT]), args.repeats),
        "alt_profanity_check_ms": _median_ms(lambda: predict_prob([TEXT]), args.repeats),
    }

    def heads_batch(texts: list[str]) -> None:
        for s in scanners:
            s.score_batch(texts)

    set_threads(2)
    texts = _texts(args.batch_texts)
    cache.clear()
    cache.size = args.batch_size  # the LRU keeps the current batch; every text is encoded once
    batched = {
        "three_heads_texts_per_s": _rate(heads_batch, texts, args.batch_size),
        "encoder_alone_texts_per_s": _rate(encoder.embed_windows, _texts(args.batch_texts, 1), args.batch_size),
        "alt_profanity_check_texts_per_s": _rate(predict_prob, texts, args.batch_size),
    }
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
