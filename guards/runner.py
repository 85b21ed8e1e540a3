"""Runs scanners with per-scanner timeouts, turning failures into error verdicts instead of exceptions."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace

from guards.errors import PolicyError, ScannerError
from guards.scanners.base import ScanContext, ScannerBase
from guards.types import Verdict

logger = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ombud-scanner")


def run_scanner(
    scanner: ScannerBase, text: str, ctx: ScanContext, timeout_ms: float | None
) -> tuple[Verdict, ScannerError | None]:
    """Scan ``text``; on an exception or timeout return an error verdict and the ScannerError (original as cause)."""
    started = time.perf_counter()
    try:
        scanner.warmup()  # loading a model is not scanning: it does not count against the timeout
        started = time.perf_counter()
        if timeout_ms is None:
            verdict = scanner.scan(text, ctx)
        else:
            future = _POOL.submit(scanner.scan, text, ctx)
            try:
                verdict = future.result(timeout=timeout_ms / 1000)
            except FutureTimeout as exc:
                if not future.done():
                    return _error(scanner, started, f"timed out after {timeout_ms:g} ms", exc)
                # done after all: it finished just after the wait, or raised its own TimeoutError (the same class)
                verdict = future.result()
    except PolicyError:  # a misconfigured scanner (e.g. an entity type presidio lacks) is not a passing failure:
        raise  # it fails the call whatever the policy's on_error says
    except Exception as exc:
        logger.warning("scanner %s failed: %s: %s", scanner.id, type(exc).__name__, exc)
        logger.debug("scanner %s failed", scanner.id, exc_info=True)  # the traceback, at DEBUG level only
        return _error(scanner, started, f"{type(exc).__name__}: {exc}", exc)
    return replace(verdict, latency_ms=(time.perf_counter() - started) * 1000), None


def _error(scanner: ScannerBase, started: float, message: str, cause: Exception) -> tuple[Verdict, ScannerError]:
    error = ScannerError(scanner.id, message)
    error.__cause__ = cause
    return _failed(scanner, started, str(error)), error


def _failed(scanner: ScannerBase, started: float, message: str) -> Verdict:
    return Verdict(scanner.id, 0.0, (), (time.perf_counter() - started) * 1000, error=message)
