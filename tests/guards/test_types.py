"""Core value types: decision ids."""

from __future__ import annotations

import time
import uuid

from guards.types import time_ordered_id


def test_decision_ids_are_uuid7_in_time_order() -> None:
    before = time.time_ns() // 1_000_000
    ids = [time_ordered_id() for _ in range(1000)]
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(len(i) == 32 and u.version == 7 and u.variant == uuid.RFC_4122 for i, u in zip(ids, parsed, strict=True))
    assert all(before <= u.int >> 80 <= after for u in parsed)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)  # the millisecond prefix never goes back
    assert len(set(ids)) == len(ids)
