"""The store as the guard's sink: round trip, durability mode, raw-text rules, policies, feedback, bad URLs."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from audit import AuditConfigError, AuditKeyError, AuditStore, chain, open_store
from audit.errors import AuditDatabaseGone
from audit.keys import ENCRYPTION_KEY_ENV
from guards.errors import SinkError
from guards.sink import Sink, resolve_sink
from guards.types import Action, Decision, Finding, PolicyRef

MakeDecision = Callable[..., Decision]
POLICY = PolicyRef("default", "1", "a" * 64)


RAW = "My email is jane.doe@example.org, call me"


def _all_text(url: str) -> str:
    """Every value of every audit table, as one string (what an attacker reading the database would see)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = [
            "audit_decision",
            "audit_finding",
            "audit_feedback",
            "audit_policy",
            "audit_chain",
            "audit_checkpoint",
        ]
        dump = "\n".join(str(row) for t in tables for row in conn.execute(text(f"SELECT * FROM {t}")))
    engine.dispose()
    return dump


def test_write_then_read_back(store: AuditStore, make_decision: MakeDecision) -> None:
    decisions = [make_decision(outcome={"approved": True, "ground_truth": False}) for _ in range(3)]
    for d in decisions:
        store.write(d)
    store.flush()
    got = store.get_decision(decisions[1].id)
    assert got is not None
    assert got.seq == 2
    assert got.id == decisions[1].id
    assert got.timestamp == decisions[1].timestamp
    assert got.action is Action.REDACT
    assert got.policy == POLICY
    assert got.safe_text == decisions[1].safe_text
    assert got.verdicts == decisions[1].verdicts
    assert got.rules == decisions[1].rules
    assert dict(got.subject) == {"age_band": "40-60", "region": "EU"}
    assert dict(got.outcome) == {"approved": True, "ground_truth": False}
    assert got.context.application == "chat" and got.context.request_id == "req-1"
    assert not got.has_original
    assert store.get_decision("missing") is None
    assert store.verify().ok


def test_durable_write_is_committed_on_return(db_url: str, make_decision: MakeDecision) -> None:
    with AuditStore(db_url, durable=True) as store:
        d = make_decision()
        store.write(d)
        with AuditStore(db_url) as reader:  # another connection pool: sees only committed data
            assert reader.get_decision(d.id) is not None


def test_duplicate_ids_are_stored_once(store: AuditStore, make_decision: MakeDecision) -> None:
    d = make_decision()
    store.write(d)
    store.flush()
    store.write(d)
    store.write(make_decision())
    store.flush()
    assert store.count() == 2
    assert store.verify().ok


def test_no_raw_text_is_stored(db_url: str, store: AuditStore, make_decision: MakeDecision) -> None:
    d = make_decision(text="My email is <EMAIL_ADDRESS>, call me")
    store.write(d)
    store.flush()
    assert "jane.doe" not in _all_text(db_url)
    if db_url.startswith("sqlite"):
        files = Path(db_url.removeprefix("sqlite:///")).parent.rglob("*")
        raw = b"".join(p.read_bytes() for p in files if p.is_file())
        assert b"jane.doe" not in raw


def test_raw_text_needs_the_encryption_key(
    store: AuditStore, make_decision: MakeDecision, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENCRYPTION_KEY_ENV, raising=False)
    with pytest.raises(AuditKeyError, match=ENCRYPTION_KEY_ENV):
        store.write(make_decision(original=RAW))


def test_opted_in_raw_text_is_encrypted(db_url: str, keys_env: dict[str, str], make_decision: MakeDecision) -> None:
    with AuditStore(db_url) as store:
        d = make_decision(original=RAW)
        store.write(d)
        store.flush()
        record = store.get_decision(d.id)
        assert record is not None and record.has_original and record.original_length == len(RAW)
        assert store.original_text(d.id) == RAW
        assert store.verify().ok
    assert "jane.doe" not in _all_text(db_url)


def test_policies_are_versioned_and_diffable(store: AuditStore, make_decision: MakeDecision) -> None:
    doc1, doc2 = "name: default\nthreshold: 0.5\n", "name: default\nthreshold: 0.7\n"
    v1_ref = PolicyRef("default", "1", hashlib.sha256(doc1.encode()).hexdigest())
    v2 = PolicyRef("default", "2", hashlib.sha256(doc2.encode()).hexdigest())
    store.register_policy(v1_ref, doc1)
    store.register_policy(v1_ref, doc1)
    store.register_policy(v2, doc2)
    with pytest.raises(ValueError, match="does not hash"):
        store.register_policy(PolicyRef("default", "3", "c" * 64), "name: default\nthreshold: 0.9\n")
    store.write(make_decision())
    store.flush()
    policies = store.list_policies()
    assert {p.sha256 for p in policies} == {v1_ref.sha256, v2.sha256}
    v1 = next(p for p in policies if p.sha256 == v1_ref.sha256)
    assert v1.first_seen <= v1.last_seen and v1.document.startswith("name: default")
    diff = store.policy_diff(v1_ref.sha256, v2.sha256)
    assert "-threshold: 0.5" in diff and "+threshold: 0.7" in diff
    with pytest.raises(LookupError):
        store.policy_diff(v1_ref.sha256, "c" * 64)


def test_a_policy_registered_after_its_decisions_gets_its_document(
    store: AuditStore, make_decision: MakeDecision
) -> None:
    document = "name: late\nthreshold: 0.5\n"
    policy = PolicyRef("late", "1", hashlib.sha256(document.encode()).hexdigest())
    store.write(make_decision(policy=policy))
    store.flush()
    assert store.list_policies() == []  # a row without document: not a registered version
    store.register_policy(policy, document)
    assert [(p.sha256, p.document) for p in store.list_policies()] == [(policy.sha256, document)]
    report = store.verify()
    assert report.ok and report.chains[-1].message == "ok"


def test_feedback_is_its_own_chained_record(store: AuditStore, make_decision: MakeDecision) -> None:
    d = make_decision()
    store.write(d)  # not flushed: add_feedback must still find it
    fb = store.add_feedback(d.id, label="false_positive", reviewer="ann", note="an address, not PII")
    store.add_feedback(d.id, label="confirmed", reviewer="bob")
    record = store.get_decision(d.id)
    assert record is not None
    assert [f.label for f in record.feedback] == ["false_positive", "confirmed"]
    assert record.feedback[0] == fb
    assert [f.reviewer for f in store.feedback()] == ["ann", "bob"]
    report = store.verify()
    assert report.ok and report.chains[1].checked == 2
    with pytest.raises(LookupError):
        store.add_feedback("missing", label="x", reviewer="ann")


def test_whole_text_findings_and_failed_scanners_round_trip(store: AuditStore, make_decision: MakeDecision) -> None:
    d = make_decision(findings=(Finding("toxic", 0.91), Finding("PERSON", 0.7, 0, 4)), action=Action.BLOCK)
    store.write(d)
    store.flush()
    got = store.get_decision(d.id)
    assert got is not None and got.verdicts == d.verdicts and got.action is Action.BLOCK


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported audit database"),
        ("::not a url::", "invalid audit database URL"),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/db", "cannot open the audit database"),
        ("postgres ql://u:secret@h/db", "invalid audit database URL 'postgres ql://u:\\*\\*\\*@h/db'"),
        ("postgresql://u:secret@h:badport/db", "invalid audit database URL"),
        ("postgresql://u:secret@secret@h:badport/db", "invalid audit database URL"),  # an "@" in the password
        ("sqlite:////dev/null/sub/audit.db", "cannot create the audit database folder /dev/null/sub"),
    ],
)
def test_bad_urls_fail_clearly(url: str, message: str) -> None:
    with pytest.raises(AuditConfigError, match=message) as info:
        AuditStore(url)
    assert "secret" not in str(info.value)


def test_create_false_opens_only_an_existing_audit_log(db_url: str, tmp_path: Path) -> None:
    """Verifying or exporting a mistyped location must fail, not start (and vouch for) an empty log."""
    with pytest.raises(AuditConfigError, match=r"no audit database at|no audit tables"):
        AuditStore(db_url, create=False)
    missing = tmp_path / "no" / "such.db"
    with pytest.raises(AuditConfigError, match="no audit database at"):
        AuditStore(f"sqlite:///{missing}", create=False)
    assert not missing.parent.exists()
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()  # a SQLite file, but not an audit log
    with pytest.raises(AuditConfigError, match="no audit tables"):
        AuditStore(f"sqlite:///{other}", create=False)
    AuditStore(db_url).close()
    with AuditStore(db_url, create=False) as store:
        assert store.count() == 0


def test_the_guard_finds_the_store_by_url(tmp_path: Path) -> None:
    (plugin,) = [ep for ep in entry_points(group="ombud.sinks") if ep.name == "sql"]
    assert plugin.load() is open_store
    sink = resolve_sink(f"sqlite:///{tmp_path / 'sub' / 'ombud.db'}")
    assert isinstance(sink, AuditStore) and isinstance(sink, Sink)
    sink.close()
    assert (tmp_path / "sub" / "ombud.db").exists()


def test_batches_span_several_insert_statements(
    store: AuditStore, make_decision: MakeDecision, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is split into statements of ``SQLITE_ROWS`` rows (and a shorter last one) without losing a row."""
    monkeypatch.setattr(chain, "SQLITE_ROWS", 3)
    two = (Finding("EMAIL_ADDRESS", 0.9, 0, 5), Finding("PERSON", 0.8, 6, 9))
    for _ in range(10):
        store.write(make_decision(findings=two))
    store.flush()
    assert store.count() == 10 and store.counts("label") == {("EMAIL_ADDRESS",): 10, ("PERSON",): 10}
    assert store.verify().ok


def test_a_uri_style_sqlite_url_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with AuditStore("sqlite:///file:uri.db?uri=true") as store:
        assert store.stats()["decisions"] == 0


def test_a_database_file_deleted_while_open_is_not_written_into(tmp_path: Path, make_decision: MakeDecision) -> None:
    """SQLite would commit into the unlinked file, and the records would be lost without a word."""
    url = f"sqlite:///{tmp_path / 'gone.db'}"
    store = AuditStore(url)
    try:
        store.write(make_decision())
        store.flush()
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"gone.db{suffix}").unlink(missing_ok=True)
        late = make_decision()
        store.write(late)
        with pytest.raises(SQLAlchemyError):  # a reader reconnects, and SQLite leaves an empty file at the path
            store.stats()
        with pytest.raises(SinkError) as info:
            store.flush(timeout=1)
        assert isinstance(info.value.__cause__, AuditDatabaseGone)
        AuditStore(url, journal=False).close()  # a new database at the path (e.g. a restored backup)
        store.flush(timeout=30)
        assert store.get_decision(late.id) is not None
    finally:
        store.close()
