"""The guard's own sub-commands: ``scan``, ``score``, ``eval`` and ``policy``."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from guards.errors import GuardError, InputError, PolicyError
from guards.text import coerce_text
from guards.types import Verdict

if TYPE_CHECKING:
    from guards.scanners.base import ScannerBase

EXIT_BLOCKED = 3
CLASSIFIER_TASKS = ("toxicity", "bias", "injection")


def register_builtin(subparsers: argparse._SubParsersAction) -> None:
    """Add the built-in sub-commands."""
    scan = subparsers.add_parser("scan", help="check one text and print the decision as JSON")
    scan.add_argument("text", help="the text, or - to read it (as bytes) from standard input")
    scan.add_argument("--policy", default="default", help="shipped policy name or policy file (default: default)")
    scan.add_argument("--stage", choices=["input", "output"], default="input")
    scan.set_defaults(func=_scan)

    score = subparsers.add_parser(
        "score",
        help="score JSONL texts with one scanner; one JSON line out per line in (exit 1 if some lines were errors)",
    )
    score.add_argument("scanner", help="scanner type (pii, secrets, hygiene, toxicity, bias, injection) or a policy id")
    score.add_argument("file", help='JSONL with {"text": ...} per line, or - for standard input')
    score.add_argument("--policy", default=None, help="take the scanner's params from this policy (by scanner id)")
    score.add_argument("--batch-size", type=int, default=64)
    score.add_argument("--out", default="-", help="output file (default: standard output)")
    score.set_defaults(func=_score)

    evaluate = subparsers.add_parser("eval", help="accuracy metrics of a scanner on a labelled dataset (JSON)")
    evaluate.add_argument("task", choices=["pii", *CLASSIFIER_TASKS])
    evaluate.add_argument("--data", required=True, type=Path, help="dataset file or folder")
    evaluate.add_argument(
        "--policy", default=None, help="pii: the policy whose pii scanner and thresholds define a detection (default)"
    )
    evaluate.add_argument(
        "--threshold", type=float, default=None, help="toxicity, bias, injection: override the shipped threshold"
    )
    evaluate.add_argument("--limit", type=_positive_int, default=None, help="evaluate only the first N records")
    evaluate.set_defaults(func=_eval)

    policy = subparsers.add_parser("policy", help="list, show or validate policies")
    policy.add_argument("action", choices=["list", "show", "validate"])
    policy.add_argument("name", nargs="?", help="policy name or file (show, validate)")
    policy.set_defaults(func=_policy)


def _scan(args: argparse.Namespace) -> int:
    from guards.guard import Guard

    text: str | bytes = sys.stdin.buffer.read() if args.text == "-" else args.text
    decision = Guard.from_policy(args.policy).check(text, args.stage)
    print(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
    return EXIT_BLOCKED if decision.blocked else 0


def _score(args: argparse.Namespace) -> int:
    from guards.scanners.factory import build_scanner

    if args.batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    scanner = build_scanner(args.scanner, args.policy)
    lenient = scanner.type_name == "hygiene"  # as in the guard: hygiene reports a bad character, the others refuse it
    errors = 0
    with _open_in(args.file) as source, _open_out(args.out) as sink:
        for batch in _batches(_read_texts(source, lenient=lenient), args.batch_size):
            for row in _score_rows(scanner, batch):
                errors += "error" in row
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
    if errors:
        print(f"ombud score: {errors} line(s) could not be scored (their rows hold the error)", file=sys.stderr)
    return 1 if errors else 0


def _score_rows(scanner: ScannerBase, batch: list[tuple[int, str | InputError]]) -> list[dict[str, Any]]:
    """One row per line of ``batch``: its verdict or its error. When the scanner fails on the batch, its lines are
    scored one by one, so that a line it cannot scan (spaCy refuses a text over 1,000,000 characters) fails alone."""
    texts = [item for _, item in batch if isinstance(item, str)]
    try:
        verdicts = iter(scanner.score_batch(texts) if texts else [])
    except PolicyError:  # a misconfigured scanner scores no line at all
        raise
    except Exception as exc:
        if len(batch) > 1:
            return [row for line in batch for row in _score_rows(scanner, [line])]
        return [{"error": f"line {batch[0][0]}: {type(exc).__name__}: {exc}"}]
    return [_verdict_row(next(verdicts)) if isinstance(item, str) else {"error": item.args[0]} for _, item in batch]


def _read_texts(source: IO[str], *, lenient: bool) -> Iterator[tuple[int, str | InputError]]:
    """(line number, text) per non-blank line; a bad line yields an InputError in its place so outputs stay aligned."""
    for number, line in enumerate(source, start=1):
        if line.strip():
            try:
                yield number, _line_text(line, lenient=lenient)
            except InputError as exc:
                yield number, InputError(f"line {number}: {exc}")


def _line_text(line: str, *, lenient: bool) -> str:
    """The text of one JSONL line as the guard takes it: a lone surrogate (a bad ``\\ud800`` escape) becomes U+FFFD
    when ``lenient`` (hygiene reports it), else an ``InputError`` (see ``coerce_text``)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})") from None
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str):
        raise InputError('expected an object with a string "text"')
    return coerce_text(text, lenient=lenient)


def _batches(items: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    batch: list[tuple[int, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _verdict_row(verdict: Verdict) -> dict[str, Any]:
    row: dict[str, Any] = {
        "score": round(verdict.score, 6),
        "findings": [
            {"label": f.label, "start": f.start, "end": f.end, "score": round(f.score, 6)} for f in verdict.findings
        ],
    }
    if verdict.error:
        row["error"] = verdict.error
    return row


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def _eval(args: argparse.Namespace) -> int:
    if not args.data.exists():
        raise InputError(f"no dataset at {args.data}")
    pii = args.task == "pii"
    if (pii and args.threshold is not None) or (not pii and args.policy is not None):
        raise InputError("--policy applies to the pii task only, --threshold to toxicity, bias and injection only")
    if pii:
        from guards.evaluation.pii import evaluate_pii

        result = evaluate_pii(args.data, policy=args.policy or "default", limit=args.limit)
    else:
        from guards.evaluation.classifiers import evaluate

        result = evaluate(args.task, args.data, threshold=args.threshold, limit=args.limit)
    print(json.dumps(result, indent=2))
    return 0


def _policy(args: argparse.Namespace) -> int:
    from guards.policy import builtin_policies, load_policy

    if args.action == "list":
        for name in builtin_policies():
            policy = load_policy(name)
            print(f"{name}\tv{policy.model.version}\t{policy.sha256[:12]}\t{policy.model.description}")
        return 0
    if not args.name:
        raise GuardError(f"ombud policy {args.action} needs a policy name or file")
    policy = load_policy(args.name)
    if args.action == "validate":
        from guards.guard import Guard

        Guard(policy).warmup()  # loaded models know labels the policy schema cannot (e.g. presidio's entity types)
        print(
            f"{policy.source}: valid (name {policy.model.name}, version {policy.model.version}, sha256 {policy.sha256})"
        )
    else:
        print(json.dumps(json.loads(policy.document), indent=2))
    return 0


class _open_in:
    """Open a path for reading text, or standard input for ``-``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle: IO[str] | None = None
        self.stdin: io.TextIOWrapper | None = None

    def __enter__(self) -> IO[str]:
        if self.path == "-":  # decoded like a file, whatever the locale: bad bytes become U+FFFD (hygiene flags it)
            self.stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
            return self.stdin
        if not Path(self.path).is_file():
            raise InputError(f"no such file: {self.path}")
        self.handle = open(self.path, encoding="utf-8", errors="replace")
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.stdin is not None:
            self.stdin.detach()  # leave standard input open


class _open_out(_open_in):
    """Open a path for writing text, or standard output for ``-``."""

    def __enter__(self) -> IO[str]:
        if self.path == "-":
            return sys.stdout
        self.handle = open(self.path, "w", encoding="utf-8")
        return self.handle
