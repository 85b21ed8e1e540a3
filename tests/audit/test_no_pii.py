"""Run PII texts through the real guard into the store; no located PII value may appear in the database files,
the journal, an export or the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from audit import AuditStore
from guards.cli import main
from guards.guard import Guard

DATASET = Path("/work/shared/data/pii/presidio_synth_v2/train.jsonl")
FALLBACK = [
    "Contact Jane Miller at jane.miller@example.org or +1 415 555 0134 about card 4111 1111 1111 1111.",
    "My SSN is 078-05-1120 and my IBAN is DE89 3704 0044 0532 0130 00, I live at 42 Elm Street, Springfield.",
    "Send the report to 192.168.10.24 and cc robert.jones@mail.example.com before Friday.",
]


SENSITIVE = {
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    "US_DRIVER_LICENSE",
}
"""Entity types the default policy protects (others, such as ORGANIZATION or URL, it explicitly allows)."""


def _texts(limit: int = 60) -> list[str]:
    if not DATASET.exists():
        return FALLBACK
    with DATASET.open() as f:
        return [json.loads(line)["text"] for line, _ in zip(f, range(limit), strict=False)]


def test_no_located_pii_is_stored_exported_or_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = AuditStore(url)
    guard = Guard.from_policy("default", audit=store, application="pii-scan")
    located: set[str] = set()
    for text in _texts():
        decision = guard.check(text)
        for verdict in decision.verdicts:
            for finding in verdict.findings:
                if finding.label in SENSITIVE and finding.start is not None and finding.end is not None:
                    if finding.end - finding.start < 4:  # too short to search bytes for without false alarms
                        continue
                    located.add(text[finding.start : finding.end])
    guard.close()
    store.close()
    assert len(located) >= 3
    export = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--db", url, "--out", str(export)]) == 0
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    logged = caplog.text + "".join(capsys.readouterr())
    leaks = [v for v in located if v.encode() in stored or v in logged]
    assert not leaks, f"{len(leaks)} raw PII values leaked, e.g. {leaks[:3]}"
