"""Journal frames: a record's canonical bytes, read back exactly; frames of the previous (marshal) format replay too."""

from __future__ import annotations

import marshal
import struct
from collections.abc import Callable

from audit.chain import DECISIONS
from audit.journal import decode, encode
from audit.records import prepare_decision
from guards.types import Decision, Finding


def test_a_frame_is_the_records_canonical_bytes(make_decision: Callable[..., Decision]) -> None:
    record = prepare_decision(make_decision(findings=(Finding("PERSON", 0.8, 0, 4),)), str)
    frame = encode(record)
    assert frame[4:] == DECISIONS.encode(record)
    (back,) = decode(frame)
    assert back.values == record.values and back.index == record.index
    assert DECISIONS.encode(back) == DECISIONS.encode(record)


def test_frames_of_the_previous_format_and_a_torn_tail_are_read(make_decision: Callable[..., Decision]) -> None:
    old, new = (prepare_decision(make_decision(), str) for _ in range(2))
    body = marshal.dumps((old.values, old.index))
    data = struct.pack("<I", len(body)) + body + encode(new) + encode(new)[:-3]  # the last frame was cut short
    records = decode(data)
    assert [r.values for r in records] == [old.values, new.values]
    assert DECISIONS.encode(records[0]) == DECISIONS.encode(old)
