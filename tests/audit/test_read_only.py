"""Read-only access: an auditor verifies and reports on an evidence copy without writing anything next to it."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from audit import AuditStore, chain
from audit.errors import AuditConfigError
from audit.journal import JOURNAL_DIR_ENV
from guards.cli import main
from guards.types import PolicyRef
from tests.audit.conftest import POSTGRES_URL_ENV, MakeDecision, reset_postgres

DOCUMENT = "threshold: 0.5\n"


def _fill(url: str, make_decision: MakeDecision, n: int = 12) -> None:
    with AuditStore(url) as store:
        policy = PolicyRef("default", "1", hashlib.sha256(DOCUMENT.encode()).hexdigest())
        store.register_policy(policy, DOCUMENT)
        for _ in range(n):
            store.write(make_decision(policy=policy))


def _state(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` (recursively) with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")}


@pytest.fixture
def evidence(tmp_path: Path, make_decision: MakeDecision) -> Path:
    """A closed audit log copied alone into a folder of its own, as handed to an auditor."""
    _fill(f"sqlite:///{tmp_path / 'live.db'}", make_decision)
    folder = tmp_path / "evidence"
    folder.mkdir()
    shutil.copy(tmp_path / "live.db", folder / "audit.db")
    return folder / "audit.db"


def test_reading_an_evidence_copy_writes_nothing(
    evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests run as root, for whom file modes protect nothing, so the proof is that no byte and no file changed."""
    url = f"sqlite:///{evidence}"
    before = _state(evidence.parent)
    monkeypatch.setattr(chain, "PARALLEL_MIN", 4)  # also the worker processes' path
    assert main(["audit", "verify", "--db", url, "--read-only", "--workers", "2"]) == 0
    assert "ok: decision chain, 12 records (1..12)" in capsys.readouterr().err
    assert main(["audit", "stats", "--db", url, "--read-only"]) == 0
    assert main(["audit", "policies", "--db", url, "--read-only"]) == 0
    assert main(["audit", "export", "--db", url, "--read-only", "--out", str(tmp_path / "out.csv")]) == 0
    report = ["report", "--db", url, "--read-only", "--since", "2020-01-01", "--out", str(tmp_path / "bundle")]
    assert main([*report, "--format", "json", "--quiet"]) == 0
    assert _state(evidence.parent) == before


def test_tampering_with_an_evidence_copy_is_found_read_only(evidence: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with closing(sqlite3.connect(evidence)) as conn, conn:
        conn.execute("UPDATE audit_decision SET action = 'allow' WHERE seq = 5")
    assert not Path(f"{evidence}-wal").exists()  # the last connection folded its write-ahead log back in
    assert main(["audit", "verify", "--db", f"sqlite:///{evidence}", "--read-only"]) == 1
    assert "TAMPERED: decision chain: edited: record 5" in capsys.readouterr().err


def test_verify_workers_do_not_run_code_from_the_evidence_folder(
    evidence: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever hands over the copy controls its folder: an ``audit/verify_worker.py`` planted there, which would
    answer "intact" for any range, must not be the worker that runs when the auditor verifies from inside it."""
    with closing(sqlite3.connect(evidence)) as conn, conn:
        conn.execute("UPDATE audit_decision SET action = 'allow' WHERE seq = 5")
    planted = evidence.parent / "audit"
    planted.mkdir()
    (planted / "__init__.py").write_text("")
    (planted / "verify_worker.py").write_text(
        "import pathlib, sys\npathlib.Path('PLANTED-RAN').touch()\nprint('{\"ok\": true, \"last_hash\": null}')\n"
    )
    monkeypatch.chdir(evidence.parent)
    monkeypatch.setattr(chain, "PARALLEL_MIN", 4)
    assert main(["audit", "verify", "--db", f"sqlite:///{evidence}", "--read-only", "--workers", "2"]) == 1
    assert "TAMPERED: decision chain: edited: record 5" in capsys.readouterr().err
    assert not (evidence.parent / "PLANTED-RAN").exists()


def test_a_copy_whose_write_ahead_log_holds_commits_is_refused(
    evidence: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An immutable open ignores the -wal file: reading without its commits would verify an earlier log."""
    folder = tmp_path / "with-wal"
    folder.mkdir()
    with closing(sqlite3.connect(evidence)) as conn:
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        with conn:
            conn.execute("UPDATE audit_decision SET action = 'allow' WHERE seq = 5")
        for name in (evidence.name, f"{evidence.name}-wal"):
            shutil.copy(evidence.parent / name, folder / name)
    assert main(["audit", "verify", "--db", f"sqlite:///{folder / evidence.name}", "--read-only"]) == 2
    assert "may hold commits not yet in audit.db, which a read-only open would miss" in capsys.readouterr().err


def test_a_read_only_store_refuses_every_write(evidence: Path, make_decision: MakeDecision) -> None:
    before = _state(evidence.parent)
    with AuditStore(f"sqlite:///{evidence}", read_only=True) as store:
        assert store.count() == 12 and store.verify().ok
        for write in (
            lambda: store.write(make_decision()),
            lambda: store.add_feedback(store.decisions(limit=1).items[0].id, label="ok", reviewer="me"),
            lambda: store.register_policy(PolicyRef("p", "1", hashlib.sha256(b"x").hexdigest()), "x"),
            lambda: store.purge(older_than_days=1),
            store.refresh_rollups,
        ):
            with pytest.raises(AuditConfigError, match="opened read-only"):
                write()
    assert _state(evidence.parent) == before


def test_read_only_needs_the_current_schema_and_a_file(evidence: Path) -> None:
    with closing(sqlite3.connect(evidence)) as conn, conn:
        conn.execute("UPDATE audit_alembic_version SET version_num = '0003'")
    with pytest.raises(AuditConfigError, match=r"at schema revision 0003.*migrate a writable copy"):
        AuditStore(f"sqlite:///{evidence}", read_only=True)
    with closing(sqlite3.connect(evidence)) as conn, conn:
        conn.execute("UPDATE audit_alembic_version SET version_num = '9999'")
    with pytest.raises(AuditConfigError, match=r"at schema revision 9999.*written by a newer ombud"):
        AuditStore(f"sqlite:///{evidence}", read_only=True)
    with pytest.raises(AuditConfigError, match="needs a SQLite file"):
        AuditStore("sqlite://", read_only=True)
    with pytest.raises(AuditConfigError, match="no audit database at"):
        AuditStore(f"sqlite:///{evidence.parent / 'typo.db'}", read_only=True)


@pytest.fixture
def postgres_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test PostgreSQL server's URL, its audit tables dropped."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f'{POSTGRES_URL_ENV} is not set (run: eval "$(bash .ci/postgres.sh)")')
    monkeypatch.setenv(JOURNAL_DIR_ENV, str(tmp_path / "journal"))
    reset_postgres(url)
    return url


@pytest.mark.postgres
def test_postgres_read_only_sessions(postgres_url: str, make_decision: MakeDecision) -> None:
    _fill(postgres_url, make_decision)
    with AuditStore(postgres_url, read_only=True) as store:
        assert store.verify().ok and store.count() == 12
        with store.engine.connect() as conn:
            assert conn.scalar(text("SHOW default_transaction_read_only")) == "on"


@pytest.mark.postgres
def test_postgres_read_only_keeps_the_urls_own_options(postgres_url: str, make_decision: MakeDecision) -> None:
    """A log kept in its own schema, named by the URL's ``options``: read-only mode must read that log, not
    ``public``'s (its read-only option is added to the URL's, not put in their place)."""
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS ombud_ro_test CASCADE"))
        conn.execute(text("CREATE SCHEMA ombud_ro_test"))
    try:
        schema_url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}options=-csearch_path%3Dombud_ro_test"
        _fill(schema_url, make_decision, n=7)
        _fill(postgres_url, make_decision, n=3)
        with AuditStore(schema_url, read_only=True) as store:
            assert store.count() == 7 and store.verify().ok
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS ombud_ro_test CASCADE"))
        engine.dispose()
