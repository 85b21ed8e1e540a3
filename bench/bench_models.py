"""Benchmark the classifier heads: all three scanners vs the encoder alone vs alt-profanity-check, in one run.

Usage: ``HF_HUB_OFFLINE=1 python bench/bench_models.py [--repeats 200] [--batch-texts 1024] [--with-pii]``

Reports the median wall and CPU latency of one ~60-token text on one torch thread (the three measured in turn,
round by round), batched throughput and CPU per text on two cores (one process with two torch threads, batch by
batch in turn, and the three heads in two worker processes of one thread each), the time ratios, and the peak
RSS of the main process. CPU times hardly depend on the machine's load; wall times do.
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


def interleaved_medians(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Median wall and CPU ms of each function, called in turn within every round so they share the machine's state.

    CPU time (all threads of this process) hardly depends on what else runs on the machine; wall time does.
    """
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats + 5):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            if r >= 5:
                wall[name].append((time.perf_counter() - start) * 1000)
                cpu[name].append((time.process_time() - start_cpu) * 1000)
    return {"wall": _medians(wall), "cpu": _medians(cpu)}


def _medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(t) for name, t in times.items()}


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(30, 50))) for _ in range(n)]


def _interleaved_rates(
    fns: dict[str, Callable[[list[str]], Any]], texts: list[str], batch: int
) -> dict[str, dict[str, float]]:
    """Texts/s (wall) and CPU ms per text of each function, batch by batch in turn.

    Each function gets its own copy of every text, so nothing reuses another's cache.
    """
    wall = dict.fromkeys(fns, 0.0)
    cpu = dict.fromkeys(fns, 0.0)
    for i in range(0, len(texts), batch):
        for k, (name, fn) in enumerate(fns.items()):
            chunk = [f"{t} {k}" for t in texts[i : i + batch]]
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(chunk)
            wall[name] += time.perf_counter() - start
            cpu[name] += time.process_time() - start_cpu
    return {
        "texts_per_s": {name: len(texts) / t for name, t in wall.items()},
        "cpu_ms_per_text": {name: t * 1000 / len(texts) for name, t in cpu.items()},
    }


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
    single = interleaved_medians(
        {
            "three_heads": three_heads,
            "encoder_alone": lambda: encoder.embed_windows([TEXT]),
            "alt_profanity_check": lambda: predict_prob([TEXT]),
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
            "three_heads": heads_batch,
            "encoder_alone": encoder.embed_windows,
            "alt_profanity_check": predict_prob,
        },
        texts,
        args.batch_size,
    )
    batched["texts_per_s"]["three_heads_2_processes_1_thread"] = _process_rate(texts, args.batch_size, args.workers)
    batch_ms = {name: 1000 / rate for name, rate in batched["texts_per_s"].items()}
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
        "text_tokens": tokens + 2,
        "encoder": {"quantize": config.quantize, "window": config.window},
        "single_text_one_thread_ms": single,
        "batched_two_threads": batched,
        "time_ratios": {
            "single_wall": _ratios(single["wall"]),
            "single_cpu": _ratios(single["cpu"]),
            "batched_wall": _ratios(batch_ms),
            "batched_cpu": _ratios(batched["cpu_ms_per_text"]),
        },
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "with_pii": args.with_pii,
    }
    print(json.dumps({k: _round(v) for k, v in result.items()}, indent=1))


def _ratios(ms: dict[str, float]) -> dict[str, float]:
    """The three heads' time over the encoder's alone and over alt-profanity-check's."""
    return {
        "three_heads_over_encoder": ms["three_heads"] / ms["encoder_alone"],
        "three_heads_over_profanity": ms["three_heads"] / ms["alt_profanity_check"],
    }


def _round(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return round(v, 2) if isinstance(v, float) else v


if __name__ == "__main__":
    main()
