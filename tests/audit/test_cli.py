"""``ombud audit ...`` end to end through the real command-line entry point."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from audit import AuditStore
from audit.config import DATABASE_URL_ENV
from audit.migrate import head_revision
from guards.cli import main
from guards.types import Decision, PolicyRef

MakeDecision = Callable[..., Decision]


def _sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@pytest.fixture
def filled(db_url: str, make_decision: MakeDecision) -> str:
    with AuditStore(db_url) as store:
        for version, document in (("1", "threshold: 0.5\n"), ("2", "threshold: 0.7\n")):
            policy = PolicyRef("default", version, _sha256(document))
            store.register_policy(policy, document)
        for age in (300, 300, 1, 0):  # under version 2
            store.write(make_decision(timestamp=datetime.now(UTC) - timedelta(days=age), policy=policy))
    return db_url


def test_verify_ok_then_tampered(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--db", filled]) == 0
    assert "ok: decision chain, 4 records (1..4)" in capsys.readouterr().err
    engine = create_engine(filled)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_decision SET action = 'allow' WHERE seq = 2"))
    engine.dispose()
    assert main(["audit", "verify", "--db", filled, "--json"]) == 1
    out = capsys.readouterr()
    assert "TAMPERED: decision chain: edited: record 2" in out.err
    assert json.loads(out.out)[0]["seq"] == 2


def test_an_edited_policy_document_fails_verify(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--db", filled]) == 0
    assert "ok: policy chain, 2 records" in capsys.readouterr().err
    engine = create_engine(filled)
    with engine.begin() as conn:  # the decisions name the policy by its hash; its stored text must still match
        conn.execute(text("UPDATE audit_policy SET document = 'threshold: 0.99\n' WHERE version = '2'"))
    engine.dispose()
    assert main(["audit", "verify", "--db", filled]) == 1
    assert "TAMPERED: policy chain: edited: the stored document of policy default 2" in capsys.readouterr().err


def test_an_erased_policy_document_shows_in_verify(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = create_engine(filled)
    with engine.begin() as conn:  # the row stays, so it is no tampering with a decision, but it must not go unseen
        conn.execute(text("UPDATE audit_policy SET document = NULL WHERE version = '2'"))
    engine.dispose()
    assert main(["audit", "verify", "--db", filled]) == 0
    assert "ok: policy chain, 1 records (1 policy version(s) named by decisions have no stored document" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("damage", "code", "said"),
    [
        ("DELETE FROM audit_chain WHERE name = 'decision'", 1, "TAMPERED: decision chain: deleted: the head"),
        ("DROP TABLE audit_finding", 2, "ombud: error: the audit database could not be read"),
    ],
)
def test_damaged_chain_metadata_is_reported_not_a_traceback(
    filled: str, capsys: pytest.CaptureFixture[str], damage: str, code: int, said: str
) -> None:
    engine = create_engine(filled)
    with engine.begin() as conn:
        conn.execute(text(damage))
    engine.dispose()
    assert main(["audit", "verify", "--db", filled]) == code
    assert said in capsys.readouterr().err
    assert main(["audit", "policies", "--db", filled, "--diff", "0" * 64, "1" * 64]) == 2
    assert "unknown policy version" in capsys.readouterr().err


@pytest.mark.parametrize("days", ["0", "-1", "nan", "inf", "1e300", "soon"])
def test_purge_refuses_a_period_that_is_not_a_positive_number_of_days(
    filled: str, keys_env: dict[str, str], days: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["audit", "purge", "--db", filled, "--older-than-days", days])
    assert refused.value.code == 2
    with AuditStore(filled) as store:
        assert store.stats()["decisions"] == 4
        with pytest.raises(ValueError, match="above 0"):
            store.purge(older_than_days=-1)


def test_purge_stats_export_policies(
    filled: str, keys_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "purge", "--db", filled, "--policy", "default"]) == 0  # audit.retention_days: 183
    assert "decision: purged 2 records older than 183 days, checkpoint at seq 2" in capsys.readouterr().out
    assert main(["audit", "rollup", "--db", filled]) == 0
    assert ": 2 decisions rolled up" in capsys.readouterr().out
    assert main(["audit", "verify", "--db", filled]) == 0
    assert main(["audit", "stats", "--db", filled]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["decisions"] == 2 and stats["checkpoints"] == 1
    out = tmp_path / "decisions.csv"
    assert main(["audit", "export", "--db", filled, "--out", str(out), "--days", "30"]) == 0
    assert len(out.read_text().splitlines()) == 3
    lines = tmp_path / "decisions.jsonl"
    assert main(["audit", "export", "--db", filled, "--out", str(lines)]) == 0
    with AuditStore(filled) as store:
        stored = {r.id: r for r in store.decisions(limit=10).items}
    for row in map(json.loads, lines.read_text().splitlines()):  # exact: microseconds and floats as stored
        assert datetime.fromisoformat(row["timestamp"]) == stored[row["id"]].timestamp
        assert row["latency_ms"] == stored[row["id"]].latency_ms
    for wrong in (["--out", str(tmp_path / "x.json")], ["--out", str(out), "--action", "bogus"]):
        with pytest.raises(SystemExit):
            main(["audit", "export", "--db", filled, *wrong])
    assert main(["audit", "policies", "--db", filled]) == 0
    assert capsys.readouterr().out.count("default@") == 2
    assert (
        main(["audit", "policies", "--db", filled, "--diff", _sha256("threshold: 0.5\n"), _sha256("threshold: 0.7\n")])
        == 0
    )
    assert "+threshold: 0.7" in capsys.readouterr().out


def test_migrate_keygen_and_env_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'env.db'}")
    assert main(["audit", "migrate"]) == 0
    assert f"migrated to revision {head_revision()}" in capsys.readouterr().out
    assert main(["audit", "migrate"]) == 0
    assert f"already at revision {head_revision()}" in capsys.readouterr().out
    assert main(["audit", "keygen"]) == 0
    assert capsys.readouterr().out.count("export OMBUD_AUDIT_") == 3


def test_errors_are_one_clear_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["audit", "verify", "--db", "mysql://u@h/db"]) == 2
    assert "unsupported audit database" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["verify", "stats", "purge", "rollup", "policies"])
def test_reading_commands_refuse_a_missing_log(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --db used to create an empty database, and verify then reported it intact."""
    missing = tmp_path / "typo.db"
    assert main(["audit", command, "--db", f"sqlite:///{missing}"]) == 2
    assert f"no audit database at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_report_refuses_a_missing_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "typo.db"
    argv = ["report", "--db", f"sqlite:///{missing}", "--since", "2026-01-01", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "no audit database at" in capsys.readouterr().err
    assert not missing.exists() and not (tmp_path / "r").exists()
