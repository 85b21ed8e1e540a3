"""A per-decision cache of explanations in the audit database (its own table, created on first use).

Explanations are derived data of the redacted text only; a cached row never holds raw text. The key includes the
policy version, so an explanation is recomputed when the scanner's configuration changes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Engine, MetaData, Select, String, Table, Text, inspect, select

from audit.records import to_us

METADATA = MetaData()
EXPLANATION_TABLE = Table(
    "report_explanation",
    METADATA,
    Column("decision_id", String(64), primary_key=True),
    Column("scanner", String(200), primary_key=True),
    Column("label", String(200), primary_key=True),
    Column("model_key", String(200), primary_key=True),
    Column("created_us", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
)
_E = EXPLANATION_TABLE.c
_ready: set[str] = set()


def _ensure(engine: Engine) -> None:
    key = str(engine.url)
    if key not in _ready:
        METADATA.create_all(engine, checkfirst=True)
        _ready.add(key)


def get(engine: Engine, decision_id: str, scanner: str, label: str, model_key: str) -> dict[str, Any] | None:
    """The cached payload, or None."""
    _ensure(engine)
    stmt = select(_E.payload).where(
        _E.decision_id == decision_id, _E.scanner == scanner, _E.label == label, _E.model_key == model_key
    )
    with engine.connect() as conn:
        payload = conn.scalar(stmt)
    return None if payload is None else dict(json.loads(payload))


def put(engine: Engine, decision_id: str, scanner: str, label: str, model_key: str, payload: dict[str, Any]) -> None:
    """Store a payload (replacing any previous one under the same key)."""
    _ensure(engine)
    key = {"decision_id": decision_id, "scanner": scanner, "label": label, "model_key": model_key}
    with engine.begin() as conn:
        conn.execute(EXPLANATION_TABLE.delete().where(*(_E[k] == v for k, v in key.items())))
        conn.execute(
            EXPLANATION_TABLE.insert().values(**key, created_us=to_us(datetime.now(UTC)), payload=json.dumps(payload))
        )


def forget(conn: Connection, decision_ids: Select[tuple[str]]) -> int:
    """Delete the cached explanations of the decisions ``decision_ids`` selects (before they are purged)."""
    if not inspect(conn).has_table(EXPLANATION_TABLE.name):
        return 0
    return conn.execute(EXPLANATION_TABLE.delete().where(_E.decision_id.in_(decision_ids))).rowcount
