"""Bounded load test of the guard proxy on loopback: errors, audit completeness, latency overhead vs direct calls.

The upstream (the echo server, or with ``--slm`` the real SmolLM2 server) and the proxy (``ombud serve`` with the
default policy and a SQLite audit store) run as their own processes. Concurrent async clients alternate the same
request sent directly to the upstream and through the proxy, for a fixed time; a quarter of the requests stream.
Reported: status counts (no 5xx allowed), audit records vs requests (must be equal), p50/p99 latency of direct
and proxied calls with their ratio — all from one run, so both sides saw the same machine — and the proxy's own
time per call (its latency minus the upstream time it reports in ``X-Ombud-Upstream-Ms``).

Run: ``.venv/bin/python bench/bench_proxy.py [--duration 60] [--clients 16] [--slm] [--json out.json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from guards.slm.server import SlmServer, free_port, llama_cpp_available

MESSAGES = [
    "Hi, I'm {name}. My order {order} has not arrived yet, can you check?",
    "Please send the invoice to {email}, thanks.",
    "What are your opening hours on public holidays?",
    "My card {card} was charged twice, please refund one payment.",
    "How do I change the delivery address of an order?",
    "Call me back on +1 202 555 01{n:02d} about the damaged parcel, {name}.",
    "Can you explain the difference between the basic and the premium plan?",
    "Write a short thank-you note for a colleague who helped me this week.",
]
NAMES = ["Emily Carter", "Lukas Novak", "Camila Herrera", "Kwame Mensah", "Priya Nair", "Yuki Tanaka"]
CARDS = ["4111 1111 1111 1111", "5555 5555 5555 4444"]
STARTUP_TIMEOUT_S = 180.0
FAILURES: Counter[str] = Counter()
STREAM_ERROR = 598  # a 200 stream that ended with an error event: counted as a server error


def make_body(rng: random.Random, model: str, max_tokens: int) -> dict[str, Any]:
    """One chat request with a single user message (so one input decision per request)."""
    name = rng.choice(NAMES)
    text = rng.choice(MESSAGES).format(
        name=name,
        order=f"A-{rng.randint(100000, 999999)}",
        email=f"{name.split()[0].lower()}@example.com",
        card=rng.choice(CARDS),
        n=rng.randint(0, 99),
    )
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens}
    return {**body, "temperature": 0, "stream": rng.random() < 0.25}


async def call(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> tuple[int, float, float | None]:
    """Status, milliseconds to the last byte, and (non-streamed proxy answers) the upstream's share in ms."""
    started = time.perf_counter()
    upstream_ms = None
    try:
        if body["stream"]:
            async with client.stream("POST", url, json=body) as response:
                data = b"".join([chunk async for chunk in response.aiter_bytes()])
                status = response.status_code
            if status == 200 and b'data: {"error"' in data:
                status = STREAM_ERROR
        else:
            response = await client.post(url, json=body)
            status = response.status_code
            if "x-ombud-upstream-ms" in response.headers:
                upstream_ms = float(response.headers["x-ombud-upstream-ms"])
    except httpx.HTTPError as exc:
        FAILURES[f"{url.split('/v1')[0]}: {type(exc).__name__}: {exc}"[:200]] += 1
        status = 599  # the connection failed: counted as a server error
    return status, (time.perf_counter() - started) * 1000, upstream_ms


async def load(
    upstream: str, proxy: str, *, clients: int, duration: float, model: str, max_tokens: int
) -> dict[str, Any]:
    """Run ``clients`` loops for ``duration`` seconds, each alternating a direct and a proxied call of one body."""
    latencies: dict[str, list[float]] = {"direct": [], "proxy": [], "guard": []}
    statuses: dict[str, Counter[int]] = {"direct": Counter(), "proxy": Counter()}
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)

    async def worker(index: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(index)
        while time.monotonic() < deadline:
            body = make_body(rng, model, max_tokens)
            order = [("direct", upstream), ("proxy", proxy)]
            if rng.random() < 0.5:
                order.reverse()
            for name, base in order:
                status, ms, upstream_ms = await call(client, f"{base}/chat/completions", body)
                statuses[name][status] += 1
                if status == 200:
                    latencies[name].append(ms)
                if status == 200 and upstream_ms is not None:
                    latencies["guard"].append(ms - upstream_ms)

    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        await asyncio.gather(*(worker(i, client) for i in range(clients)))
    return {"latencies": latencies, "statuses": statuses}


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll ``url`` until it answers 200; the child process failing or the timeout ends the benchmark."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # polling a child process for readiness
    raise SystemExit(f"{url} was not ready within {STARTUP_TIMEOUT_S:g} s")


def start(stack: ExitStack, command: list[str], ready_url: str, log: Path) -> subprocess.Popen[bytes]:
    """Start a server process (stopped with SIGINT when the stack closes) and wait until it is ready."""
    handle = stack.enter_context(log.open("wb"))
    process = subprocess.Popen(
        command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()

    stack.callback(stop)
    wait_ready(ready_url, process)
    return process


def audit_counts(db_url: str) -> dict[str, int]:
    """Input and output decisions in the proxy's audit store."""
    from audit.query import Filters
    from audit.store import AuditStore

    store = AuditStore(db_url)
    try:
        return {stage: store.count(Filters(stage=stage)) for stage in ("input", "output")}
    finally:
        store.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the upstream and the proxy, drive the load, stop both, read the audit store."""
    work = Path(tempfile.mkdtemp(prefix="ombud-bench-proxy-"))
    db_url = f"sqlite:///{work / 'audit.db'}"
    config = work / "proxy.yaml"
    config.write_text("limits: {max_concurrency: 0, rate_limit_per_minute: 0}\nupstream: {timeout_s: 300}\n")
    with ExitStack() as stack:
        if args.slm:
            slm = stack.enter_context(SlmServer(log_path=work / "slm.log"))
            upstream, model = slm.url, slm.alias
        else:
            port = free_port()
            upstream, model = f"http://127.0.0.1:{port}/v1", "echo"
            echo = [sys.executable, "-m", "guards.proxy.echo", "--port", str(port)]
            start(stack, echo, f"{upstream}/models", work / "echo.log")
        proxy_port = free_port()
        serve = [sys.executable, "-m", "guards.cli", "serve", "--config", str(config), "--upstream", upstream]
        serve += ["--db", db_url, "--port", str(proxy_port)]
        proxy = f"http://127.0.0.1:{proxy_port}"
        start(stack, serve, f"{proxy}/healthz", work / "proxy.log")
        print(f"load: {args.clients} clients for {args.duration:g} s against {upstream} (direct) and {proxy}/v1")
        result = asyncio.run(
            load(
                upstream,
                f"{proxy}/v1",
                clients=args.clients,
                duration=args.duration,
                model=model,
                max_tokens=args.max_tokens,
            )
        )
    # the proxy has shut down and flushed its audit sink
    result["audit"] = audit_counts(db_url)
    result["work"] = str(work)
    result["upstream"] = "slm" if args.slm else "echo"
    return result


def report(result: dict[str, Any]) -> dict[str, Any]:
    """Print the results; returns them as a JSON-ready summary."""
    lat, statuses = result["latencies"], result["statuses"]
    proxied = sum(statuses["proxy"].values())
    server_errors = sum(n for s, n in statuses["proxy"].items() if s >= 500)
    summary: dict[str, Any] = {
        "upstream": result["upstream"],
        "requests": {"direct": sum(statuses["direct"].values()), "proxy": proxied},
        "statuses": {k: {str(s): n for s, n in v.items()} for k, v in statuses.items()},
        "proxy_server_errors": server_errors,
        "audit": result["audit"],
        "audited_every_request": result["audit"]["input"] == proxied,
    }
    print(f"\nupstream: {result['upstream']}; requests direct {summary['requests']['direct']}, proxied {proxied}")
    print(f"statuses: {summary['statuses']}; proxy 5xx: {server_errors}")
    for failure, n in FAILURES.most_common(5):
        print(f"  connection failure x{n}: {failure}")
    audit = result["audit"]
    print(f"audit: {audit['input']} input and {audit['output']} output decisions for {proxied} requests")
    print("\n| percentile | direct (ms) | through the proxy (ms) | overhead (ms) | ratio |\n|---|---|---|---|---|")
    for q in (0.5, 0.99):
        direct, proxy = percentile(lat["direct"], q), percentile(lat["proxy"], q)
        summary[f"p{round(q * 100)}"] = {"direct_ms": direct, "proxy_ms": proxy, "ratio": proxy / direct}
        print(f"| p{round(q * 100)} | {direct:.1f} | {proxy:.1f} | {proxy - direct:.1f} | {proxy / direct:.2f} |")
    guard = lat["guard"]
    summary["proxy_time_outside_upstream_ms"] = {"p50": percentile(guard, 0.5), "p99": percentile(guard, 0.99)}
    print(
        f"\nTime spent outside the upstream per proxied non-streamed call (latency minus X-Ombud-Upstream-Ms): "
        f"p50 {percentile(guard, 0.5):.1f} ms, p99 {percentile(guard, 0.99):.1f} ms over {len(guard)} calls"
    )
    return summary


def main() -> int:
    """Run the benchmark; exit 1 when a server error happened or a request went unaudited."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default: 60)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
    parser.add_argument("--max-tokens", type=int, default=32, help="answer budget per request (default: 32)")
    parser.add_argument("--slm", action="store_true", help="use the real local SLM as the upstream, not the echo")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON")
    args = parser.parse_args()
    if args.slm and not llama_cpp_available():
        print("llama-cpp-python is not installed (sh guards/slm/install.sh); run without --slm")
        return 2
    summary = report(run(args))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    ok = summary["proxy_server_errors"] == 0 and summary["audited_every_request"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
