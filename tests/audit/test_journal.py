"""Journal frames: a record's canonical bytes, read back exactly; frames of the previous (marshal) format replay too;
unreadable frames are skipped and their journal kept aside."""

from __future__ import annotations

import logging
import marshal
import struct
from collections.abc import Callable

import pytest

from audit import AuditStore
from audit.chain import DECISIONS
from audit.journal import decode, encode
from audit.records import prepare_decision
from guards.types import Decision, Finding
from tests.audit.conftest import orphan_journal


def test_a_frame_is_the_records_canonical_bytes(make_decision: Callable[..., Decision]) -> None:
    record = prepare_decision(make_decision(findings=(Finding("PERSON", 0.8, 0, 4),)), str)
    frame = encode(record)
    assert frame[4:] == DECISIONS.encode(record)
    (back,) = decode(frame).records
    assert back.values == record.values and back.index == record.index
    assert DECISIONS.encode(back) == DECISIONS.encode(record)


def test_frames_of_the_previous_format_and_a_torn_tail_are_read(make_decision: Callable[..., Decision]) -> None:
    old, new = (prepare_decision(make_decision(), str) for _ in range(2))
    body = marshal.dumps((old.values, old.index))
    data = struct.pack("<I", len(body)) + body + encode(new) + encode(new)[:-3]  # the last frame was cut short
    contents = decode(data)
    records = contents.records
    assert [r.values for r in records] == [old.values, new.values] and contents.damaged == []
    assert DECISIONS.encode(records[0]) == DECISIONS.encode(old)


def _frame(body: bytes) -> bytes:
    return struct.pack("<I", len(body)) + body


DAMAGE = {
    "zeros": bytes(4096),  # what an OS crash leaves where the data never reached the disk
    "not-json": _frame(b"[not json!"),
    "not-a-record": _frame(b"[1,2,3]"),
    "marshal-garbage": _frame(b"\x00garbage"),
    "bad-length": b"\xff\xff\xff\x7f[",  # a length beyond the file: the next frame is found by its ``[``
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_unreadable_frames_are_skipped_and_reported(damage: bytes, make_decision: Callable[..., Decision]) -> None:
    first, second = (prepare_decision(make_decision(), str) for _ in range(2))
    before = encode(first)
    contents = decode(before + damage + encode(second))
    assert [r.values for r in contents.records] == [first.values, second.values]
    assert contents.damaged == [(len(before), len(before) + len(damage))]


def test_a_damaged_journal_is_replayed_and_kept_aside(
    db_url: str, make_decision: Callable[..., Decision], caplog: pytest.LogCaptureFixture
) -> None:
    left = [make_decision() for _ in range(3)]
    path = orphan_journal(db_url, left)
    size = path.stat().st_size
    with path.open("ab") as f:
        f.write(bytes(4096))
    with caplog.at_level(logging.WARNING), AuditStore(db_url) as store:
        assert [store.get_decision(d.id) is not None for d in left] == [True] * 3
        assert store.verify().ok
    assert f"{size}..{size + 4096}" in caplog.text and path.name in caplog.text
    assert [p.name for p in path.parent.iterdir()] == [path.name + ".damaged"]
    with AuditStore(db_url) as store:  # kept as evidence, never replayed again
        assert store.count() == 3
