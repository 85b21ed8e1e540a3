"""``ombud audit ...``: verify, purge, stats, migrate, rollup, export, policies, keygen (``ombud.commands``)."""

from __future__ import annotations

import argparse
import functools
import json
import math
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from audit import keys
from audit.chain import ChainReport
from audit.config import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, database_url, make_engine, safe_url
from audit.errors import AuditConfigError, AuditTampered
from audit.migrate import head_revision, upgrade
from audit.query import Filters
from audit.store import DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS, AuditStore
from guards.types import Action


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``audit`` command and its sub-commands to the ``ombud`` parser."""
    audit = subparsers.add_parser("audit", help="verify, purge and inspect the tamper-evident audit log")
    commands = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    db_help = f"database URL (default: ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL})"
    read_only_help = "read without writing anything (an evidence copy on write-protected media, a read-only role)"

    verify = commands.add_parser("verify", help="check the hash chains; name the first tampered record")
    verify.add_argument("--db", help=db_help)
    verify.add_argument("--read-only", action="store_true", help=read_only_help)
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--workers", type=int, default=1, help="processes hashing long chains (default 1)")
    verify.set_defaults(func=_database_errors(_verify))

    purge = commands.add_parser("purge", help="delete expired records, keeping a signed checkpoint")
    purge.add_argument("--db", help=db_help)
    retention = purge.add_mutually_exclusive_group()
    retention.add_argument(
        "--older-than-days",
        type=_positive_days,
        metavar="N",
        help=f"retention period in days, > 0 (default {DEFAULT_RETENTION_DAYS})",
    )
    retention.add_argument("--policy", help="use this policy's audit.retention_days (name or YAML path)")
    purge.set_defaults(func=_database_errors(_purge))

    stats = commands.add_parser("stats", help="record counts, time span, chain heads (JSON)")
    stats.add_argument("--db", help=db_help)
    stats.add_argument("--read-only", action="store_true", help=read_only_help)
    stats.set_defaults(func=_database_errors(_stats))

    migrate = commands.add_parser("migrate", help="create or upgrade the audit schema")
    migrate.add_argument("--db", help=db_help)
    migrate.set_defaults(func=_database_errors(_migrate))

    rollup = commands.add_parser("rollup", help="bring the per-day rollups up to date (after an upgrade, a bulk load)")
    rollup.add_argument("--db", help=db_help)
    rollup.set_defaults(func=_database_errors(_rollup))

    export = commands.add_parser("export", help="write decisions (no raw text) to CSV or JSON lines")
    export.add_argument("--db", help=db_help)
    export.add_argument("--read-only", action="store_true", help=read_only_help)
    export.add_argument("--out", required=True, type=_export_path, help="output file: .csv or .jsonl")
    export.add_argument("--days", type=_positive_days, help="only the last N days")
    export.add_argument("--application", help="only this application")
    export.add_argument("--action", choices=[a.value for a in Action], help="only this action")
    export.set_defaults(func=_database_errors(_export))

    policies = commands.add_parser("policies", help="list stored policy versions, or diff two of them")
    policies.add_argument("--db", help=db_help)
    policies.add_argument("--read-only", action="store_true", help=read_only_help)
    policies.add_argument("--diff", nargs=2, metavar=("OLD_SHA256", "NEW_SHA256"))
    policies.set_defaults(func=_database_errors(_policies))

    keygen = commands.add_parser("keygen", help="print fresh encryption, signing and verification keys")
    keygen.set_defaults(func=_keygen)


def _database_error_types() -> tuple[type[Exception], ...]:
    """SQLAlchemy's errors and the drivers' own (chain walks read through the driver's cursor)."""
    errors: list[type[Exception]] = [SQLAlchemyError, sqlite3.Error]
    try:
        import psycopg

        errors.append(psycopg.Error)
    except ImportError:
        pass
    return tuple(errors)


_DATABASE_ERRORS = _database_error_types()


def _database_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``command`` with database failures (a missing table, a damaged file) turned into one clear error."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except _DATABASE_ERRORS as exc:
            cause = (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0]
            raise AuditConfigError(f"the audit database could not be read: {cause}") from exc

    return run


def _verify(args: argparse.Namespace) -> int:
    with AuditStore(args.db, create=False, read_only=args.read_only) as store:
        report = store.verify(workers=args.workers)
    if args.json:
        print(json.dumps([_chain_json(c) for c in report.chains], indent=2))
    for c in report.chains:
        where = f" ({c.first_seq}..{c.last_seq})" if c.first_seq is not None else ""
        start = f", from signed checkpoint {c.start_checkpoint}" if c.start_checkpoint is not None else ""
        if c.ok:
            note = f" ({c.message.removeprefix('ok; ')})" if c.message != "ok" else ""
            print(f"ok: {c.chain} chain, {c.checked} records{where}{start}{note}", file=sys.stderr)
        elif c.message == keys.MISSING_VERIFY_KEY:  # a missing key is a configuration error, not tampering
            print(f"UNVERIFIED: {c.chain} chain: {c.message}", file=sys.stderr)
        else:
            record = f" [id {c.record_id}]" if c.record_id else ""
            print(f"TAMPERED: {c.chain} chain: {c.problem}: {c.message}{record}", file=sys.stderr)
    if report.ok:
        return 0
    return 2 if all(c.ok or c.message == keys.MISSING_VERIFY_KEY for c in report.chains) else 1


def _chain_json(c: ChainReport) -> dict[str, object]:
    return {**asdict(c), "ok": c.ok}


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not math.isfinite(days) or days <= 0 or days > MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(
            f"must be a number of days above 0 and at most {MAX_RETENTION_DAYS}, not {text!r}"
        )
    return days


def _export_path(text: str) -> str:
    if not text.endswith((".csv", ".jsonl")):
        raise argparse.ArgumentTypeError(f"the output file must end in .csv or .jsonl, not {text!r}")
    return text


def _purge(args: argparse.Namespace) -> int:
    days = DEFAULT_RETENTION_DAYS if args.older_than_days is None else args.older_than_days
    if args.policy:
        from guards.policy.loader import load_policy

        days = load_policy(args.policy).model.audit.retention_days
    with AuditStore(args.db, create=False) as store:
        try:
            report = store.purge(older_than_days=days)
        except AuditTampered as exc:
            print(f"TAMPERED: {exc}", file=sys.stderr)
            return 1
    for c in report.chains:
        at = f", checkpoint at seq {c.checkpoint_seq}" if c.checkpoint_seq is not None else ""
        print(f"{c.chain}: purged {c.purged} records older than {days:g} days{at}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    with AuditStore(args.db, create=False, read_only=args.read_only) as store:
        print(json.dumps({"database": safe_url(store.url), **store.stats()}, indent=2))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    url = database_url(args.db)
    engine = make_engine(url)
    applied = upgrade(engine)
    engine.dispose()
    print(f"{safe_url(url)}: schema {'migrated to' if applied else 'already at'} revision {head_revision()}")
    return 0


def _rollup(args: argparse.Namespace) -> int:
    with AuditStore(args.db, create=False) as store:
        print(f"{safe_url(store.url)}: {store.refresh_rollups()} decisions rolled up")
    return 0


def _export(args: argparse.Namespace) -> int:
    start = datetime.now(UTC) - timedelta(days=args.days) if args.days else None
    filters = Filters(start=start, application=args.application, action=args.action)
    with AuditStore(args.db, create=False, read_only=args.read_only) as store:
        frame = store.to_frame(filters)
    if args.out.endswith(".jsonl"):  # exact: microsecond timestamps, floats as stored
        frame.to_json(args.out, orient="records", lines=True, date_format="iso", date_unit="us", double_precision=15)
    else:
        frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} decisions to {args.out}")
    return 0


def _policies(args: argparse.Namespace) -> int:
    with AuditStore(args.db, create=False, read_only=args.read_only) as store:
        if args.diff:
            try:
                sys.stdout.write(store.policy_diff(*args.diff))
            except LookupError as exc:
                raise AuditConfigError(str(exc)) from exc
            return 0
        for p in store.list_policies():
            seen = f"first {p.first_seen:%Y-%m-%d %H:%M}  last {p.last_seen:%Y-%m-%d %H:%M}"
            print(f"{p.sha256}  {p.name}@{p.version}  {seen}")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    for name, value in keys.generate().items():
        print(f"export {name}={value}")
    print(f"# keep {keys.SIGNING_KEY_ENV} secret; auditors need only {keys.VERIFY_KEY_ENV}", file=sys.stderr)
    return 0
