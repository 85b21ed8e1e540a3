"""``ombud serve``: run the guard proxy in front of an OpenAI-compatible upstream or the embedded local SLM."""

from __future__ import annotations

import argparse
import getpass
import sys
from contextlib import ExitStack
from pathlib import Path

from guards.proxy.settings import ProxySettings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` sub-command (entry point ``ombud.commands: serve``)."""
    serve = subparsers.add_parser(
        "serve",
        help="run the OpenAI-compatible guard proxy",
        description="Guard every call to an OpenAI-compatible model: point the SDK's base_url at http://HOST:PORT/v1.",
    )
    serve.add_argument("--config", type=Path, help="proxy config file (YAML or TOML); options below override it")
    serve.add_argument("--policy", help="shipped policy name or policy file (default: default)")
    upstream = serve.add_mutually_exclusive_group()
    upstream.add_argument("--upstream", metavar="URL", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    upstream.add_argument("--slm", action="store_true", help="start the embedded local SLM and guard it")
    serve.add_argument("--slm-model", metavar="PATH", help="GGUF file for --slm (default: SmolLM2-135M-Instruct)")
    serve.add_argument("--upstream-key-env", metavar="VAR", help="environment variable holding the upstream API key")
    serve.add_argument("--db", metavar="URL", help="audit database URL, e.g. sqlite:///.ombud/audit.db")
    serve.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: 8765)")
    serve.add_argument("--no-warmup", action="store_true", help="load scanner models on first use, not at start")
    serve.add_argument(
        "--hash-key",
        choices=["scrypt", "sha256"],
        nargs="?",
        const="scrypt",
        help="read a client API key from standard input, print its hash for the config's `keys`, and exit",
    )
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``ombud serve``."""
    from guards.proxy.keys import hash_key
    from guards.proxy.server import serve

    if args.hash_key:
        key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
        if not key:
            print("ombud: error: no key given", file=sys.stderr)
            return 2
        print(hash_key(key, scheme=args.hash_key))
        return 0
    settings = build_settings(args)
    with ExitStack() as stack:
        if args.slm:
            from guards.slm.server import SlmServer

            slm = stack.enter_context(SlmServer(args.slm_model))
            settings = settings.model_copy(update={"upstream": settings.upstream.model_copy(update={"url": slm.url})})
        banner = f"ombud guard proxy on http://{settings.host}:{settings.port}/v1 -> {settings.upstream.url}"
        serve(settings, log_level="info" if args.verbose else "warning", ready=lambda: print(banner, flush=True))
    return 0


def build_settings(args: argparse.Namespace) -> ProxySettings:
    """ProxySettings from ``--config`` and the command-line overrides."""
    top = {"policy": args.policy, "db": args.db, "host": args.host, "port": args.port}
    overrides = {k: v for k, v in top.items() if v is not None}
    if args.no_warmup:
        overrides["warmup"] = False
    settings = ProxySettings.from_file(args.config, **overrides) if args.config else ProxySettings(**overrides)
    upstream = {"url": args.upstream, "api_key_env": args.upstream_key_env}
    changed = {k: v for k, v in upstream.items() if v is not None}
    if changed:
        settings = settings.model_copy(update={"upstream": settings.upstream.model_copy(update=changed)})
    return settings
