"""Reports and export bundles on the real store: sections in HTML and PDF, machine-readable JSON/CSV, manifest."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from audit import AuditStore, chain
from audit.keys import SIGNING_KEY_ENV, VERIFY_KEY_ENV
from audit.reports import (
    EMPTY_LOG,
    MANIFEST,
    SECTION_TITLES,
    build_report,
    export_report,
    verify_bundle,
)
from audit.reports.cli import register
from guards.cli import main
from guards.types import Action, CallContext, Decision, Finding, PolicyRef, RuleHit, Stage, Verdict

pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SADeprecationWarning")  # e.g. Result.tuples()
POLICY_DOC = """name: lending
version: "2"
scanners:
  - {id: pii, type: pii, stages: [input], action: redact, threshold: 0.5}
audit: {retention_days: 200}
fairness: {min_group_size: 5, demographic_parity_ratio_min: 0.8, equalized_odds_difference_max: 0.1}
"""
POLICY = PolicyRef("lending", "2", hashlib.sha256(POLICY_DOC.encode()).hexdigest())
NOW = datetime.now(UTC)


def _decision(i: int) -> Decision:
    action = [Action.ALLOW, Action.FLAG, Action.REDACT, Action.BLOCK][i % 4]
    finding = Finding("PERSON", 0.85, 11, 19, {"recognizer": "SpacyRecognizer", "context": ["name"]})
    text = ["my name is <PERSON>", "Muslims ask about loans", "a woman applies", "hello"][i % 3]
    return Decision(
        action=action,
        stage=Stage.INPUT,
        text=text,
        safe_text=text,
        verdicts=(Verdict("pii", 0.85, (finding,)),),
        rules=(RuleHit("pii", "PERSON", 0.85, 0.5, action),) if action is not Action.ALLOW else (),
        policy=POLICY,
        context=CallContext(application="loans", subject={"sex": "FM"[i % 2]}, outcome={"approved": i % 3 == 0}),
        timestamp=NOW - timedelta(hours=i),
    )


@pytest.fixture
def filled(store: AuditStore) -> AuditStore:
    """A store with 60 decisions over the last 60 hours, of a registered policy."""
    store.register_policy(POLICY, POLICY_DOC)
    for i in range(60):
        store.write(_decision(i))
    store.flush()
    return store


@pytest.fixture
def bundle(filled: AuditStore, tmp_path: Path) -> Path:
    """A full export (all four formats) of the last week."""
    report = build_report(filled, NOW - timedelta(days=7), NOW + timedelta(minutes=1), n_boot=50)
    export_report(report, tmp_path / "bundle")
    return tmp_path / "bundle"


def test_report_sections_and_policy_thresholds(filled: AuditStore) -> None:
    report = build_report(filled, NOW - timedelta(days=7), policy="lending", n_boot=20, verify=True)
    assert report.activity.total == 60 and not report.empty
    assert report.activity.by_action == {"allow": 15, "flag": 15, "redact": 15, "block": 15}
    assert report.thresholds.min_group_size == 5
    assert [p.sha256 for p in report.policies] == [POLICY.sha256]
    assert report.chain.ok and report.chain.head_hash and report.chain.head_seq == 60
    assert {r.feature for r in report.fairness} >= {"subject.sex", "identity.religion", "identity.gender"}
    assert [r.subject for r in report.model_fairness] == ["model:approved"]
    pii = report.explanations[0].scanners[0]
    assert pii.method == "findings" and pii.findings[0].recognizer == "SpacyRecognizer"
    assert pii.findings[0].context == ("name",)
    clauses = [c.requirement.clause for c in report.compliance]
    assert any("Art. 12" in c for c in clauses) and any("Art. 19" in c for c in clauses)
    assert "MEASURE 2.11" in clauses and any("A.6.2.8" in c for c in clauses)
    narrower = build_report(filled, NOW - timedelta(hours=10), NOW, n_boot=0, examples=0, verify=False)
    assert narrower.activity.total == 10


@pytest.mark.parametrize("tampered", [False, True])
def test_chains_are_verified_by_worker_processes_while_the_report_is_built(
    filled: AuditStore, monkeypatch: pytest.MonkeyPatch, tampered: bool
) -> None:
    monkeypatch.setattr(chain, "PARALLEL_MIN", 10)  # hash the 60 decisions in worker processes
    calls: list[tuple[str, int]] = []
    verify = filled.verify

    def spy(*, workers: int = 1) -> chain.VerifyReport:
        calls.append((threading.current_thread().name, workers))
        return verify(workers=workers)

    monkeypatch.setattr(filled, "verify", spy)
    if tampered:
        with filled.engine.begin() as conn:
            conn.execute(text("UPDATE audit_decision SET safe_text = 'edited' WHERE seq = 5"))
    report = build_report(filled, NOW - timedelta(days=7), n_boot=0, examples=0)
    ((thread, workers),) = calls
    assert thread != threading.current_thread().name and workers >= 2
    decision = next(c for c in report.chain.chains if c["chain"] == "decision")
    assert report.chain.ok is not tampered and report.chain.head_seq == 60
    if tampered:
        assert (decision["problem"], decision["seq"]) == ("edited", 5) and "decision chain" in report.chain.message
    else:
        assert decision["checked"] == 60 and report.chain.message == "every chain intact"


def test_html_is_self_contained_with_every_section(bundle: Path) -> None:
    html = (bundle / "report.html").read_text(encoding="utf-8")
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in html
    assert "data:image/png;base64," in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "EU AI Act" in html and "ISO/IEC 42001" in html and "MEASURE 2.11" in html


def test_json_and_csv_are_machine_readable(bundle: Path) -> None:
    data = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
    assert data["activity"]["total"] == 60 and data["chain"]["ok"] is True
    assert data["fairness"][0]["groups"] and data["compliance"]
    with open(bundle / "csv" / "fairness_groups.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {"subject", "feature", "group", "metric", "value", "ci_low", "ci_high"} <= set(rows[0])
    with open(bundle / "csv" / "actions.csv", encoding="utf-8") as fh:
        assert {r["action"]: int(r["decisions"]) for r in csv.DictReader(fh)}["block"] == 15


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_pdf_renders_with_every_section(bundle: Path, tmp_path: Path) -> None:
    pdf = bundle / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.read_bytes().startswith(b"\x89PNG") for p in pages)
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        for title in SECTION_TITLES:
            assert title in text


def test_manifest_detects_a_changed_byte(bundle: Path) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert manifest["chain_head_hash"] and manifest["tool_version"] and manifest["generated_at"]
    assert set(manifest["files"]) >= {"report.html", "report.pdf", "report.json", "csv/actions.csv"}
    assert verify_bundle(bundle).ok
    target = bundle / "report.pdf"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    check = verify_bundle(bundle)
    assert not check.ok and check.changed == ("report.pdf",)
    (bundle / "csv" / "chain.csv").unlink()
    (bundle / "extra.txt").write_text("added later")
    check = verify_bundle(bundle)
    assert check.missing == ("csv/chain.csv",) and check.unexpected == ("extra.txt",)


def test_signed_manifest(filled: AuditStore, tmp_path: Path, keys_env: dict[str, str]) -> None:
    report = build_report(filled, NOW - timedelta(days=7), n_boot=0, examples=0)
    export_report(report, tmp_path / "b", ["json"])
    assert verify_bundle(tmp_path / "b").signature == "valid"
    path = tmp_path / "b" / MANIFEST
    path.write_text(path.read_text().replace('"decisions": 60', '"decisions": 61'))
    check = verify_bundle(tmp_path / "b")
    assert check.signature == "invalid" and not check.ok


def test_empty_log_says_so(store: AuditStore, tmp_path: Path) -> None:
    report = build_report(store, NOW - timedelta(days=1))
    assert report.empty and report.fairness == () and report.explanations == ()
    export_report(report, tmp_path / "e", ["html", "json", "csv"])
    assert EMPTY_LOG in (tmp_path / "e" / "report.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "e" / "report.json").read_text())["message"] == EMPTY_LOG
    assert verify_bundle(tmp_path / "e").ok


def test_export_refuses_a_non_empty_directory_and_unknown_formats(filled: AuditStore, tmp_path: Path) -> None:
    report = build_report(filled, NOW - timedelta(days=1), n_boot=0, examples=0, verify=False)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "old.txt").write_text("x")
    with pytest.raises(FileExistsError):
        export_report(report, tmp_path / "x", ["json"])
    with pytest.raises(ValueError, match="docx"):
        export_report(report, tmp_path / "y", ["docx"])


def _cli(*argv: str) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="ombud")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_a_report_that_skips_verification_says_not_verified(
    filled: AuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with filled.engine.begin() as conn:
        conn.execute(text("UPDATE audit_decision SET safe_text = 'edited' WHERE seq = 5"))
    out = tmp_path / "unverified"
    since = (NOW - timedelta(days=7)).date().isoformat()
    args = ("report", "--db", filled.url, "--since", since, "--format", "json", "--out", str(out), "--quiet")
    assert _cli(*args, "--no-verify") == 0
    assert "chain not verified" in capsys.readouterr().out
    summary = json.loads((out / "report.json").read_text())
    assert summary["chain"]["ok"] is None and "not verified" in summary["chain"]["message"]


def test_cli_generate_and_verify(filled: AuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    since = (NOW - timedelta(days=7)).date().isoformat()
    assert (
        _cli("report", "--db", filled.url, "--since", since, "--format", "json,csv", "--out", str(out), "--quiet") == 0
    )
    assert "60 decisions" in capsys.readouterr().out
    assert _cli("report", "verify", str(out)) == 0
    assert "ok: " in capsys.readouterr().out
    (out / "report.json").write_text((out / "report.json").read_text() + " ")
    assert _cli("report", "verify", str(out)) == 1
    assert "CHANGED: report.json" in capsys.readouterr().out
    assert main(["report", "verify", str(tmp_path / "nowhere")]) == 2  # not a bundle: an error, not tampering
    assert "no report bundle at" in capsys.readouterr().err
    assert _cli("report", "--db", filled.url, "--out", str(tmp_path / "z")) == 2


def _rewrite_manifest(directory: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    path = directory / MANIFEST
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("signature", [None, "forged", ["x"]])
def test_a_verify_key_requires_a_well_formed_signature(
    filled: AuditStore,
    tmp_path: Path,
    keys_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signature: object,
) -> None:
    report = build_report(filled, NOW - timedelta(days=7), n_boot=0, examples=0, verify=False)
    out = tmp_path / "signed"
    export_report(report, out, ["json"])
    forged = out / "report.json"
    forged.write_text(forged.read_text().replace('"total": 60', '"total": 61'))

    def strip(manifest: dict[str, Any]) -> None:  # the attacker rehashes the edited file and drops the signature
        manifest["files"]["report.json"]["sha256"] = hashlib.sha256(forged.read_bytes()).hexdigest()
        manifest.pop("signature")
        if signature is not None:
            manifest["signature"] = signature

    _rewrite_manifest(out, strip)
    check = verify_bundle(out)
    assert not check.ok and check.changed == () and check.signature == ("missing" if signature is None else "invalid")
    assert _cli("report", "verify", str(out)) == 1
    assert ("MISSING SIGNATURE" if signature is None else "INVALID SIGNATURE") in capsys.readouterr().out
    for name in (VERIFY_KEY_ENV, SIGNING_KEY_ENV):  # without a key nothing is checked, and the verifier says so
        monkeypatch.delenv(name)
    assert verify_bundle(out).ok and _cli("report", "verify", str(out)) == 0
    assert "not checked" in capsys.readouterr().out


def test_verify_reports_every_file_and_link_the_manifest_does_not_list(bundle: Path, tmp_path: Path) -> None:
    (bundle / "csv" / MANIFEST).write_text("forged")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "extra.csv").write_text("forged")
    (bundle / "csv" / "more").symlink_to(outside, target_is_directory=True)
    (outside / "chain.csv").write_bytes((bundle / "csv" / "chain.csv").read_bytes())  # an identical copy, linked
    (bundle / "csv" / "chain.csv").unlink()
    (bundle / "csv" / "chain.csv").symlink_to(outside / "chain.csv")
    check = verify_bundle(bundle)
    assert not check.ok and check.unexpected == ("csv/manifest.json",) and check.missing == ()
    assert check.links == ("csv/chain.csv", "csv/more")


def test_overwrite_replaces_an_earlier_bundle_and_nothing_else(filled: AuditStore, tmp_path: Path) -> None:
    old = build_report(filled, NOW - timedelta(days=7), n_boot=0, examples=0, verify=False)
    new = build_report(filled, NOW - timedelta(hours=10), n_boot=0, examples=0, verify=False)
    out = tmp_path / "ow"
    export_report(old, out, ["json", "csv"])
    export_report(new, out, ["json"], overwrite=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [MANIFEST, "report.json"]
    assert set(json.loads((out / MANIFEST).read_text())["files"]) == {"report.json"} and verify_bundle(out).ok
    (out / "notes.txt").write_text("the auditor's own notes")
    with pytest.raises(FileExistsError, match=r"notes\.txt"):
        export_report(new, out, ["json"], overwrite=True)
    assert (out / "notes.txt").is_file() and (out / "report.json").is_file()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "report.json").write_text("not a bundle")
    with pytest.raises(FileExistsError, match=r"no readable manifest\.json"):
        export_report(new, tmp_path / "mine", ["json"], overwrite=True)
    assert (tmp_path / "mine" / "report.json").read_text() == "not a bundle"


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(files=list(m["files"])),
        lambda m: m["files"].update({"report.json": "x"}),
        lambda m: m["files"].update({"../outside.txt": {"sha256": "0" * 64}}),
        lambda m: m.clear(),
    ],
    ids=["files-list", "entry-string", "outside-path", "no-files"],
)
def test_a_malformed_manifest_is_unreadable_not_a_crash(
    bundle: Path, capsys: pytest.CaptureFixture[str], edit: Callable[[dict[str, Any]], object]
) -> None:
    _rewrite_manifest(bundle, edit)
    check = verify_bundle(bundle)
    assert not check.ok and check.problems[0].startswith("unreadable manifest: ")
    assert _cli("report", "verify", str(bundle)) == 2
    assert "ERROR: unreadable manifest: " in capsys.readouterr().out
    (bundle / MANIFEST).write_text("{not json")
    assert _cli("report", "verify", str(bundle)) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--since", "2026-03-05", "--until", "2026-03-01"), "is not before --until"),
        (("--since", "2026-03-01", "--until", "2026-03-01"), "is not before --until"),
        (("--since", "2026-03-01", "--format", "json,docx"), "docx"),
        (("--since", "2026-03-01"), "is not empty"),
    ],
)
def test_cli_refuses_bad_arguments_before_building_the_report(
    filled: AuditStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    message: str,
) -> None:
    def build_report(*args: object, **kwargs: object) -> None:
        raise AssertionError("the report was built")

    monkeypatch.setattr("audit.reports.build_report", build_report)
    out = tmp_path / "out"
    if message == "is not empty":
        out.mkdir()
        (out / "old.txt").write_text("x")
    assert _cli("report", "--db", filled.url, *extra, "--out", str(out), "--quiet") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or [p.name for p in out.iterdir()] == ["old.txt"]


@pytest.mark.parametrize(
    "change",
    ["subject = '{not json'", "action = 'explode'", "outcome = '[1,2]'"],
)
def test_a_report_on_a_tampered_row_says_tampered_not_a_traceback(
    filled: AuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    """A row no ombud writes (an edited one) crashed the report with a KeyError or AttributeError traceback (QA)."""
    engine = create_engine(filled.url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_decision SET {change} WHERE seq = 5"))
    engine.dispose()
    since = (NOW - timedelta(days=7)).date().isoformat()
    assert _cli("report", "--db", filled.url, "--since", since, "--format", "json", "--out", str(tmp_path / "o")) == 1
    assert "TAMPERED: decision chain: record 5 was edited" in capsys.readouterr().err
