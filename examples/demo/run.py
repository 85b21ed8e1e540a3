"""The `make demo` main job: a real local SLM behind the ombud guard proxy, a few hundred conversations through it.

Starts SmolLM2-135M-Instruct (llama-cpp-python's OpenAI-compatible server) and the guard proxy on 127.0.0.1, replays
examples/demo/traffic.jsonl through the proxy with the `openai` client, prints what the guard did and what it cost,
and starts the dashboard on the audit database. The database (.ombud/demo.db) is rebuilt on every run (pass
--append to add to it instead), so the demo is re-runnable and its summary always describes one replay.

    python examples/demo/run.py                 # everything, then the dashboard (Ctrl-C to stop)
    python examples/demo/run.py --limit 40 --no-dashboard
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STATE = ROOT / ".ombud"
TRAFFIC = HERE / "traffic.jsonl"
POLICY = HERE / "policy.yaml"
APPLICATION = "demo-support-assistant"
AB_SAMPLES = 20


@dataclass
class Tally:
    """What the client saw: outcomes per category, latencies, the guard's overhead per non-streamed call."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    latency_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)


def main() -> int:
    """Run the demo; 0 when every request got an answer."""
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the servers started below are stopped too
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    STATE.mkdir(exist_ok=True)
    conversations = load_traffic(args.limit)
    db_path = STATE / "demo.db"
    if not args.append:
        for stale in STATE.glob("demo.db*"):  # the database, its WAL files and the audit store's journal folder
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    db_url = f"sqlite:///{db_path}"

    from guards.proxy import Limits, ProxySettings, Upstream
    from guards.proxy.app import create_app
    from guards.proxy.server import BackgroundServer

    with ExitStack() as stack:
        upstream_url, model = start_upstream(stack, args)
        settings = ProxySettings(
            policy=str(POLICY),
            db=db_url,
            application=APPLICATION,
            upstream=Upstream(url=upstream_url, timeout_s=300),
            limits=Limits(max_concurrency=32, rate_limit_per_minute=0),
        )
        print("Starting the guard proxy (loading the scanners' models) ...", flush=True)
        app = create_app(settings)
        proxy = stack.enter_context(BackgroundServer(app))
        proxy_url = f"{proxy.url}/v1"
        print(f"  guard proxy: {proxy_url}  (policy {POLICY.name}, audit {db_url})")

        tally = replay(conversations, proxy_url, model, args)
        ab = compare_direct(conversations, upstream_url, proxy_url, model, args.max_tokens)
        store = app.state.service.sink
        store.flush()
        print_summary(tally, ab, store)
    if tally.errors:
        print(f"\n{len(tally.errors)} requests failed; first: {tally.errors[0]}")
    if not args.no_dashboard:
        start_dashboard(db_url)
    return 1 if tally.errors else 0


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Replay the demo traffic through the ombud guard proxy.")
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N conversations")
    parser.add_argument("--max-tokens", type=int, default=32, help="answer length per request (default: 32)")
    parser.add_argument("--concurrency", type=int, default=2, help="conversations in flight (default: 2)")
    parser.add_argument("--upstream", help="use this OpenAI-compatible URL instead of starting the local SLM")
    parser.add_argument("--append", action="store_true", help="add to .ombud/demo.db instead of starting afresh")
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard at the end")
    return parser.parse_args()


def load_traffic(limit: int | None) -> list[dict[str, Any]]:
    """The shipped conversations (generated first if the file is missing)."""
    if not TRAFFIC.exists():
        subprocess.run([sys.executable, str(HERE / "generate.py")], check=True)
    rows = [json.loads(line) for line in TRAFFIC.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def start_upstream(stack: ExitStack, args: argparse.Namespace) -> tuple[str, str]:
    """The upstream base URL and model name: the given URL, else the local SLM, else (without llama-cpp) the echo."""
    if args.upstream:
        return args.upstream, "default"
    from guards.slm import SlmServer, llama_cpp_available

    if llama_cpp_available():
        print("Starting the local SLM (SmolLM2-135M-Instruct, llama-cpp-python, 1 thread) ...", flush=True)
        slm = stack.enter_context(SlmServer(log_path=STATE / "slm.log"))
        print(f"  local SLM:   {slm.url}  (log {slm.log_path})")
        return slm.url, slm.alias
    from guards.proxy.echo import EchoUpstream
    from guards.proxy.server import BackgroundServer

    print("llama-cpp-python is not installed (run guards/slm/install.sh); using the echo upstream instead.")
    echo = stack.enter_context(BackgroundServer(EchoUpstream().app()))
    return f"{echo.url}/v1", "echo"


def replay(conversations: list[dict[str, Any]], proxy_url: str, model: str, args: argparse.Namespace) -> Tally:
    """Send every conversation turn by turn (history included) with the openai client; count what came back."""
    import openai
    from tqdm import tqdm

    client = openai.OpenAI(base_url=proxy_url, api_key="demo", max_retries=0, timeout=600)
    tally = Tally()
    bar = tqdm(total=sum(len(c["turns"]) for c in conversations), unit="req", desc="Replaying", file=sys.stdout)

    def run(conversation: dict[str, Any]) -> None:
        history: list[dict[str, str]] = [{"role": "system", "content": "You are a helpful customer support assistant."}]
        for turn in conversation["turns"]:
            history.append({"role": "user", "content": turn})
            answer, outcome = ask(client, history, conversation, model, args.max_tokens, tally)
            history.append({"role": "assistant", "content": answer})
            tally.outcomes[(conversation["category"], outcome)] += 1
            bar.update(1)

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(run, conversations))
    bar.close()
    return tally


def ask(
    client: Any, history: list[dict[str, str]], conversation: dict[str, Any], model: str, max_tokens: int, tally: Tally
) -> tuple[str, str]:
    """One request through the proxy; the answer and how it ended (answered, refused, error)."""
    import openai

    options: dict[str, Any] = {
        "model": model,
        "messages": history,
        "max_tokens": max_tokens,
        "temperature": 0,
        "metadata": conversation["subject"],
        "extra_headers": {"X-Ombud-Session-Id": conversation["id"]},
    }
    started = time.perf_counter()
    tally.requests += 1
    try:
        if conversation["stream"]:
            stream = client.chat.completions.create(stream=True, **options)
            pieces, finish = [], None
            for chunk in stream:
                if chunk.choices:
                    pieces.append(chunk.choices[0].delta.content or "")
                    finish = chunk.choices[0].finish_reason or finish
            answer = "".join(pieces)
        else:
            raw = client.chat.completions.with_raw_response.create(**options)
            completion = raw.parse()
            answer = completion.choices[0].message.content or ""
            finish = completion.choices[0].finish_reason
            elapsed = (time.perf_counter() - started) * 1000
            upstream_ms = raw.headers.get("X-Ombud-Upstream-Ms")
            if upstream_ms is not None:
                tally.overhead_ms.append(elapsed - float(upstream_ms))
    except openai.APIError as exc:
        tally.errors.append(f"{conversation['id']}: {exc}")
        return "", "error"
    tally.latency_ms.append((time.perf_counter() - started) * 1000)
    return answer, "refused" if finish == "content_filter" else "answered"


def compare_direct(
    conversations: list[dict[str, Any]], upstream_url: str, proxy_url: str, model: str, max_tokens: int
) -> dict[str, float]:
    """The same ordinary prompts (no personal data, so the model sees identical text) sent straight to the upstream
    and through the proxy, in alternating order, greedy: the proxy's added latency per call."""
    import openai

    prompts = [c["turns"][0] for c in conversations if c["category"] == "ordinary"][:AB_SAMPLES]
    if not prompts:
        return {}
    direct_client = openai.OpenAI(base_url=upstream_url, api_key="demo", max_retries=0, timeout=600)
    proxy_client = openai.OpenAI(base_url=proxy_url, api_key="demo", max_retries=0, timeout=600)
    timings: dict[str, list[float]] = {"direct": [], "proxy": []}
    print(f"Timing {len(prompts)} ordinary prompts directly and through the proxy ...", flush=True)
    for index, prompt in enumerate(prompts):
        pair = [("direct", direct_client), ("proxy", proxy_client)]
        for name, client in pair if index % 2 else reversed(pair):  # alternate: the second call may hit a warm cache
            started = time.perf_counter()
            client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
                temperature=0,
                extra_headers={"X-Ombud-Application": "demo-latency-probe"},
            )
            timings[name].append((time.perf_counter() - started) * 1000)
    direct, proxied = statistics.median(timings["direct"]), statistics.median(timings["proxy"])
    return {"n": len(prompts), "direct_ms": direct, "proxy_ms": proxied, "ratio": proxied / direct}


def print_summary(tally: Tally, ab: dict[str, float], store: Any) -> None:
    """Decisions by action and scanner (from the audit store), client outcomes per category, latency overhead."""
    print("\n=== ombud demo summary ===")
    print(f"requests sent through the proxy: {tally.requests} ({len(tally.errors)} failed)")
    print("\nDecisions by stage and action (audit store; the latency probe's calls included):")
    for (stage, action), n in sorted(store.counts("stage", "action").items()):
        print(f"  {stage:<7} {action:<7} {n:>5}")
    print("\nFindings by scanner and label (allowed ones included):")
    for (scanner, label), n in sorted(store.counts("scanner", "label").items(), key=lambda kv: -kv[1]):
        print(f"  {scanner:<14} {label:<22} {n:>5}")
    print("\nWhat the client saw, by traffic category:")
    categories = sorted({c for c, _ in tally.outcomes})
    for category in categories:
        row = {o: tally.outcomes[(category, o)] for o in ("answered", "refused", "error")}
        print(f"  {category:<13} answered {row['answered']:>4}  refused {row['refused']:>4}  errors {row['error']:>3}")
    if tally.latency_ms:
        print(f"\nLatency per call (client side, all calls): median {statistics.median(tally.latency_ms):.0f} ms")
    if tally.overhead_ms:
        ordered = sorted(tally.overhead_ms)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(
            f"Guard overhead per non-streamed call (client latency minus upstream time): "
            f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms over {len(ordered)} calls"
        )
    if ab:
        print(
            f"Same {ab['n']:.0f} prompts direct vs through the proxy (median): {ab['direct_ms']:.0f} ms vs "
            f"{ab['proxy_ms']:.0f} ms, ratio {ab['ratio']:.2f}"
        )


def start_dashboard(db_url: str) -> None:
    """Serve the dashboard on the demo database with a demo login, if the dashboards package provides it (Ctrl-C)."""
    import secrets

    import httpx

    from guards.slm.server import free_port

    ombud = shutil.which("ombud") or str(Path(sys.executable).with_name("ombud"))
    probe = subprocess.run([ombud, "dashboard", "--help"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        print(f"\nThe dashboard is not installed yet; once it is, run:\n  {ombud} dashboard --db {db_url}")
        return
    users, secret = STATE / "demo-dashboard-users.toml", STATE / "demo-dashboard-password.txt"
    if not (users.exists() and secret.exists()):
        password = secrets.token_urlsafe(12)
        add = [ombud, "dashboard", "add-user", "demo", "--role", "auditor", "--users", str(users), "--password-stdin"]
        subprocess.run(add, input=password + "\n", text=True, check=True, capture_output=True)
        secret.write_text(password + "\n", encoding="utf-8")
        secret.chmod(0o600)
    password = secret.read_text(encoding="utf-8").strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [ombud, "dashboard", "--db", db_url, "--port", str(port), "--users", str(users)]
    print(f"\nStarting the dashboard: {' '.join(command)}", flush=True)
    process = subprocess.Popen(command, start_new_session=True)  # its own group: streamlit runs as its child
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)  # polling the dashboard process until it serves
        print(f"\nDashboard: {url}   (user: demo, password: {password}; Ctrl-C to stop)", flush=True)
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
