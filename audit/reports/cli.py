"""``ombud report``: build and export an audit report; ``ombud report verify DIR`` checks an exported bundle."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from audit.config import DATABASE_URL_ENV, DEFAULT_DATABASE_URL
from audit.errors import AuditConfigError

if TYPE_CHECKING:
    from audit.store import AuditStore

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` command (entry point ``ombud.commands``)."""
    report = subparsers.add_parser(
        "report",
        help="audit report (activity, fairness, interpretability, chain, compliance) as a verifiable bundle",
        description="Build an audit report over the decision log and export it as a bundle with a manifest. "
        "`ombud report verify DIR` checks an exported bundle.",
    )
    report.add_argument("--db", help=f"database URL (default: ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL})")
    report.add_argument("--since", type=_moment, help="start of the window (YYYY-MM-DD or ISO time, UTC)")
    report.add_argument("--until", type=_moment, help="end of the window, exclusive (default: now)")
    report.add_argument("--policy", help="only decisions of this policy (its thresholds apply)")
    report.add_argument(
        "--format",
        action="append",
        metavar="FORMAT",
        help="html, pdf, json or csv; repeat or comma-separate (default: all)",
    )
    report.add_argument("--out", help="bundle directory to create")
    report.add_argument("--by", action="append", help="fairness feature (subject attribute or identity.CATEGORY)")
    report.add_argument("--no-verify", action="store_true", help="skip walking the hash chains (head hash only)")
    report.add_argument(
        "--read-only", action="store_true", help="read the log without writing anything (e.g. a write-protected copy)"
    )
    report.add_argument("--quiet", action="store_true", help="no progress bars")
    report.set_defaults(func=_generate)
    actions = report.add_subparsers(dest="report_command", metavar="verify")
    verify = actions.add_parser("verify", help="check an exported bundle against its manifest")
    verify.add_argument("directory", help="bundle directory")
    verify.set_defaults(func=_verify)


def _moment(value: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date or ISO time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_window(since: datetime, until: datetime | None) -> None:
    """``ValueError`` when the window [since, until) is empty."""
    if until is not None and since >= until:
        raise ValueError(f"--since {since.isoformat()} is not before --until {until.isoformat()}: the window is empty")


def _generate(args: argparse.Namespace) -> int:
    from audit.reports import build_report, export_report
    from audit.reports.export import FORMATS, export_formats, files_to_replace
    from audit.store import AuditStore

    if args.since is None or not args.out:
        print("ombud report: --since and --out are required (or use: ombud report verify DIR)", file=sys.stderr)
        return 2
    try:  # refuse bad arguments before the (slow) report is built
        _check_window(args.since, args.until)
        formats = export_formats(f for spec in (args.format or [",".join(FORMATS)]) for f in spec.split(","))
        files_to_replace(args.out)
    except (ValueError, FileExistsError) as exc:
        print(f"ombud report: {exc}", file=sys.stderr)
        return 2
    with AuditStore(args.db, create=False, read_only=args.read_only) as store:
        window = (args.since, args.until, args.policy)
        try:
            report = build_report(store, *window, by=args.by, verify=not args.no_verify, progress=not args.quiet)
        except (KeyError, AttributeError, TypeError, ValueError) as exc:  # a row this ombud never writes
            return _unreadable_log(store, exc)
    try:
        manifest = export_report(report, args.out, formats)
    except (ValueError, FileExistsError) as exc:
        print(f"ombud report: {exc}", file=sys.stderr)
        return 2
    if report.empty:
        print("the report window holds no decisions; the report says so", file=sys.stderr)
    failed = [f for f in report.findings if f.status == "fail"]
    print(
        f"wrote {manifest.parent} ({', '.join(formats)}): {report.activity.total:,} decisions, "
        f"{len(failed)} failed fairness checks, chain {report.chain.verdict}, "
        f"head {report.chain.head_hash}"
    )
    return 1 if report.chain.ok is False else 0


def _unreadable_log(store: AuditStore, exc: Exception) -> int:
    """Why the report could not be built from a stored row: the log was tampered with (exit 1), or else it holds
    something this version cannot read (one error line)."""
    problem = store.verify().first_problem
    if problem is not None:
        print(f"TAMPERED: {problem.chain} chain: {problem.message}; no report was built from it", file=sys.stderr)
        return 1
    reason = f"{type(exc).__name__}: {exc}"
    raise AuditConfigError(f"the audit log holds a record the report cannot read ({reason})") from exc


SIGNATURE_NOTES = {
    "absent": "absent (not checked: OMBUD_AUDIT_VERIFY_KEY is not set)",
    "unchecked": "not checked (OMBUD_AUDIT_VERIFY_KEY is not set)",
}


def _verify(args: argparse.Namespace) -> int:
    """Exit 0: the bundle is intact; 1: changed, missing, added or linked files, or a failed signature; 2: no bundle
    or an unreadable manifest."""
    from audit.reports.manifest import MANIFEST, verify_bundle

    if not (Path(args.directory) / MANIFEST).is_file():
        raise AuditConfigError(f"no report bundle at {args.directory} ({MANIFEST} missing)")
    check = verify_bundle(args.directory)
    for problem in check.problems:
        print(f"ERROR: {problem}")
    if check.problems:
        return 2
    for label, names in (
        ("CHANGED", check.changed),
        ("MISSING", check.missing),
        ("UNEXPECTED", check.unexpected),
        ("NOT A REGULAR FILE", check.links),  # a symbolic link or special file, never followed
    ):
        for name in names:
            print(f"{label}: {name}")
    if check.signature == "invalid":
        print("INVALID SIGNATURE: the manifest was changed or signed by another key")
    if check.signature == "missing":
        print("MISSING SIGNATURE: OMBUD_AUDIT_VERIFY_KEY is set but the manifest is not signed")
    if check.ok:
        print(
            f"ok: {check.checked} files unchanged; chain head {check.head_hash}; "
            f"signature {SIGNATURE_NOTES.get(check.signature, check.signature)}; "
            f"manifest sha256 {check.manifest_sha256}"
        )
    return 0 if check.ok else 1
