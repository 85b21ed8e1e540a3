"""The local SLM through llama-cpp-python against transformers' GGUF loading: load time, answer time, memory.

Each backend runs in its own process (so peak memory is its own), on one thread, greedy, answering the same
prompts with up to 64 new tokens through ``guards.slm.local_llm``. Reported: load seconds, median seconds per
answer, words per second, peak resident memory, and the ratios transformers / llama-cpp in one run.
transformers' route needs the ``gguf`` and ``accelerate`` packages; it is skipped without them.

Run: ``.venv/bin/python bench/bench_slm.py [--prompts 5]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time

PROMPTS = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain how a refrigerator works, step by step.",
    "Describe a perfect autumn day in a small mountain village.",
    "Give detailed advice to someone starting their first job in a busy restaurant kitchen.",
    "Explain the water cycle to a curious eight-year-old.",
    "Write a friendly letter to a neighbour inviting them to a garden party.",
]


def measure(backend: str, prompts: int) -> dict[str, float]:
    """Load the default model with ``backend`` and answer the prompts (runs inside the child process)."""
    from guards.slm import local_llm

    started = time.perf_counter()
    ask = local_llm(backend=backend, max_tokens=64, threads=1, system=None)  # type: ignore[arg-type]
    load_s = time.perf_counter() - started
    times, words = [], 0
    for prompt in PROMPTS[:prompts]:
        started = time.perf_counter()
        answer = ask(prompt)
        times.append(time.perf_counter() - started)
        words += len(answer.split())
    return {
        "load_s": load_s,
        "answer_s_median": statistics.median(times),
        "words_per_s": words / sum(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    """Measure both backends in child processes and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=5)
    parser.add_argument("--child", choices=["llama-cpp", "transformers"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.prompts)))
        return 0
    from guards.slm import llama_cpp_available

    if not llama_cpp_available():
        print("llama-cpp-python is not installed (sh guards/slm/install.sh): nothing to measure")
        return 0
    backends = ["llama-cpp"]
    if importlib.util.find_spec("gguf") and importlib.util.find_spec("accelerate"):
        backends.append("transformers")
    else:
        print("transformers' GGUF route needs `pip install gguf accelerate`; measuring llama-cpp only")
    results = {}
    for backend in backends:
        command = [sys.executable, __file__, "--child", backend, "--prompts", str(args.prompts)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results[backend] = json.loads(out.strip().splitlines()[-1])
    print("| backend | load (s) | answer, median (s) | words/s | peak RSS (MB) |\n|---|---|---|---|---|")
    for backend, r in results.items():
        row = f"{r['load_s']:.2f} | {r['answer_s_median']:.2f} | {r['words_per_s']:.1f} | {r['peak_rss_mb']:.0f}"
        print(f"| {backend} | {row} |")
    if len(results) == 2:
        fast, slow = results["llama-cpp"], results["transformers"]
        print(
            f"\ntransformers / llama-cpp: load x{slow['load_s'] / fast['load_s']:.0f}, "
            f"answer time x{slow['answer_s_median'] / fast['answer_s_median']:.1f}, "
            f"memory x{slow['peak_rss_mb'] / fast['peak_rss_mb']:.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
