"""Audit test fixtures: a store per backend (SQLite always, PostgreSQL when configured), a decision factory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from audit import AuditStore
from audit.journal import JOURNAL_DIR_ENV, Journal, journal_dir
from audit.keys import generate
from audit.migrate import VERSION_TABLE
from audit.records import prepare_decision
from audit.schema import Base
from guards.types import Action, CallContext, Decision, Finding, PolicyRef, RuleHit, Stage, Verdict

POSTGRES_URL_ENV = "OMBUD_TEST_POSTGRES_URL"
POLICY = PolicyRef("default", "1", "a" * 64)
KEYS = generate()

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def reset_postgres(url: str) -> None:
    """Drop every audit table so each test starts from an empty database."""
    engine = create_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database URL for each backend (with a journal directory of its own, inherited by children)."""
    monkeypatch.setenv(JOURNAL_DIR_ENV, str(tmp_path / "journal"))
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f'{POSTGRES_URL_ENV} is not set (run: eval "$(bash .ci/postgres.sh)")')
    reset_postgres(url)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[AuditStore]:
    """An open store on an empty database."""
    with AuditStore(db_url) as s:
        yield s


@pytest.fixture
def keys_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Encryption, signing and verification keys in the environment."""
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return KEYS


MakeDecision = Callable[..., Decision]


def _decision(
    *,
    text: str = "My email is <EMAIL_ADDRESS>, call me",
    action: Action = Action.REDACT,
    stage: Stage = Stage.INPUT,
    application: str = "chat",
    model: str = "gpt-x",
    subject: dict[str, str] | None = None,
    outcome: dict[str, Any] | None = None,
    original: str = "",
    timestamp: datetime | None = None,
    findings: tuple[Finding, ...] = (Finding("EMAIL_ADDRESS", 0.95, 12, 27, {"recognizer": "email"}),),
    latency_ms: float = 1.5,
    policy: PolicyRef = POLICY,
) -> Decision:
    verdicts = (
        Verdict("pii", max((f.score for f in findings), default=0.0), findings, 0.8),
        Verdict("toxicity", 0.02, (), 0.4),
    )
    rules = tuple(RuleHit("pii", f.label, f.score, 0.5, action, "replace") for f in findings)
    return Decision(
        action=action,
        stage=stage,
        text=text,
        safe_text=text,
        verdicts=verdicts,
        rules=rules,
        policy=policy,
        context=CallContext(
            request_id="req-1",
            session_id="sess-1",
            application=application,
            model=model,
            subject=subject or {"age_band": "40-60", "region": "EU"},
            outcome=outcome or {},
        ),
        latency_ms=latency_ms,
        original=original,
        original_length=len(original) or len(text),
        timestamp=timestamp or datetime.now(UTC),
    )


@pytest.fixture
def make_decision() -> MakeDecision:
    """Factory of realistic decisions (keyword arguments override the defaults)."""
    return _decision


def orphan_journal(db_url: str, decisions: list[Decision]) -> Path:
    """The journal file a process killed before committing ``decisions`` leaves behind for ``db_url``."""
    directory = journal_dir(db_url)
    assert directory is not None
    orphan = Journal(directory)
    for d in decisions:
        orphan.append(prepare_decision(d, str))
    orphan.close(keep=True)
    return orphan._path
