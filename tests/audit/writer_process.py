"""Child process of the concurrency and kill -9 tests.

Usage: ``python writer_process.py URL COUNT MODE TAG``: writes COUNT decisions (forever when COUNT < 0) tagged
with application TAG, printing each decision id as soon as ``write`` has returned; MODE ``durable`` or ``journaled``.
Exits without flushing or closing: pending records must be committed by the store's exit hook.
"""

from __future__ import annotations

import itertools
import sys

from audit import AuditStore
from guards.types import Action, CallContext, Decision, Finding, PolicyRef, Stage, Verdict

POLICY = PolicyRef("default", "1", "a" * 64)


def main() -> None:
    """Write decisions as told on the command line."""
    url, count, mode, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    store = AuditStore(url, durable=mode == "durable", max_batch=7)
    verdict = Verdict("pii", 0.9, (Finding("EMAIL_ADDRESS", 0.9, 3, 9),), 0.5)
    for _ in itertools.count() if count < 0 else range(count):
        decision = Decision(
            action=Action.REDACT,
            stage=Stage.INPUT,
            text="Hi <EMAIL_ADDRESS>",
            safe_text="Hi <EMAIL_ADDRESS>",
            verdicts=(verdict,),
            rules=(),
            policy=POLICY,
            context=CallContext(application=tag, subject={"region": "EU"}),
        )
        store.write(decision)
        print(decision.id, flush=True)


if __name__ == "__main__":
    main()
