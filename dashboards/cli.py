"""``ombud dashboard``: run the dashboard on 127.0.0.1 and manage its users (``ombud.commands`` entry point)."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import subprocess
import sys
from pathlib import Path

from audit.config import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, safe_url
from dashboards import auth

log = logging.getLogger(__name__)

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501
DEFAULT_USERS = ".ombud/dashboard-users.toml"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dashboard`` (run), ``dashboard add-user`` and ``dashboard hash-password`` to the ``ombud`` parser."""
    dashboard = subparsers.add_parser("dashboard", help="the audit dashboard for compliance officers and auditors")
    db_help = f"audit database URL (default: ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL})"
    dashboard.add_argument("--db", help=db_help)
    dashboard.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    dashboard.add_argument(
        "--users", help=f"users file (default: ${auth.USERS_ENV}, else {DEFAULT_USERS}); see add-user"
    )
    dashboard.add_argument(
        "--read-only",
        action="store_true",
        help="browse without writing anything (an evidence copy, a read-only database role); no reviewer feedback",
    )
    dashboard.set_defaults(func=_run)
    commands = dashboard.add_subparsers(dest="dashboard_command", metavar="SUBCOMMAND")

    add = commands.add_parser("add-user", help="add or replace a user in the users file (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", choices=[r.value for r in auth.Role], required=True)
    add.add_argument("--users", dest="users", help="users file to write (created if missing)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=_add_user)

    hashed = commands.add_parser("hash-password", help="print the hash of a password, for a hand-written users file")
    hashed.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    hashed.set_defaults(func=_hash_password)


def _users_path(value: str | None) -> Path:
    return Path(value or os.environ.get(auth.USERS_ENV) or DEFAULT_USERS)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("the passwords differ")
    return first


def _add_user(args: argparse.Namespace) -> int:
    path = _users_path(args.users)
    auth.add_user(path, args.name, role=auth.Role(args.role), password=_password(args.password_stdin))
    print(f"{args.name} ({args.role}) saved in {path}")
    return 0


def _hash_password(args: argparse.Namespace) -> int:
    print(auth.hash_password(_password(args.password_stdin)))
    return 0


def streamlit_command(port: int) -> list[str]:
    """The ``streamlit run`` command line of the dashboard: headless, on 127.0.0.1 only, no telemetry."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.db:
        env[DATABASE_URL_ENV] = args.db
    if args.read_only:
        env[auth.READ_ONLY_ENV] = "1"
        from audit import AuditStore

        AuditStore(env.get(DATABASE_URL_ENV), read_only=True).close()  # a log it cannot read: one error line, here
    users = _users_path(args.users)
    env[auth.USERS_ENV] = str(users.resolve())
    if not users.exists() and os.environ.get(auth.TRUST_PROXY_ENV) is None:
        print(f"warning: no users file at {users}; add one with `ombud dashboard add-user NAME --role officer`")
    url = env.get(DATABASE_URL_ENV, DEFAULT_DATABASE_URL)
    print(f"ombud dashboard on http://127.0.0.1:{args.port} (database {safe_url(url)})", flush=True)
    return subprocess.call(streamlit_command(args.port), env=env)
