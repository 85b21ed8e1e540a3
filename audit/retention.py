"""Retention: delete the expired prefix of each chain and leave a signed checkpoint so the rest still verifies."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, delete, func, insert, select

from audit import keys, rollups
from audit.chain import CHAINS, DECISIONS, checkpoint_message, verify_prefix
from audit.errors import AuditTampered
from audit.records import to_us
from audit.schema import CHAIN_TABLE, CHECKPOINT_TABLE, DECISION_TABLE, FINDING_TABLE

log = logging.getLogger(__name__)

_HEAD = CHAIN_TABLE
_CHECKPOINT = CHECKPOINT_TABLE
_FINDINGS = FINDING_TABLE


@dataclass(frozen=True, slots=True)
class PurgedChain:
    """What a purge did to one chain: records deleted and the seq of the new signed checkpoint (if any)."""

    chain: str
    purged: int
    checkpoint_seq: int | None


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What a purge did to every chain."""

    chains: tuple[PurgedChain, ...]

    @property
    def purged(self) -> int:
        """Records deleted over all chains."""
        return sum(c.purged for c in self.chains)


def purge(conn: Connection, *, cutoff_us: int, signing_key: Ed25519PrivateKey) -> PurgeReport:
    """Delete, in each chain, the longest prefix of records older than ``cutoff_us``; sign a checkpoint at its end.

    Runs in the caller's write transaction. Only a contiguous prefix is removed, so a record newer than the
    cutoff keeps every later record (even an older one written by a slower writer) until it expires too. The prefix
    is verified first and ``AuditTampered`` raised if it is not intact: a record backdated to make it expire (its
    timestamp is hashed) must not vanish under a valid signature. The purged decisions leave the rollups, the
    findings index and the explanation cache with them.
    """
    from audit.explain import cache  # the explain package pulls in numpy: not at ``import audit``

    public_id = keys.key_id(signing_key.public_key())
    done = []
    for spec in CHAINS:
        table = spec.table
        start = conn.scalar(select(func.max(_CHECKPOINT.c.seq)).where(_CHECKPOINT.c.chain == spec.name)) or 0
        head = conn.execute(select(_HEAD.c.seq).where(_HEAD.c.name == spec.name).with_for_update()).scalar_one()
        first_kept = conn.scalar(select(func.min(table.c.seq)).where(table.c.ts_us >= cutoff_us))
        end = first_kept - 1 if first_kept is not None else head
        if end <= start:
            done.append(PurgedChain(spec.name, 0, None))
            continue
        prefix = verify_prefix(conn, spec, signing_key.public_key(), end)
        if not prefix.ok:
            raise AuditTampered(
                f"refusing to purge the {spec.name} chain: the records to purge do not verify ({prefix.message}); "
                "nothing was deleted"
            )
        end_hash = conn.execute(select(table.c.hash).where(table.c.seq == end)).scalar_one()
        if spec is DECISIONS:
            rollups.forget(conn, end)
            cache.forget(conn, select(DECISION_TABLE.c.id).where(DECISION_TABLE.c.seq <= end))
            conn.execute(delete(_FINDINGS).where(_FINDINGS.c.decision_seq <= end))
        purged = conn.execute(delete(table).where(table.c.seq <= end)).rowcount
        created = to_us(datetime.now(UTC))
        message = checkpoint_message(spec.name, end, end_hash, created, purged)
        conn.execute(
            insert(_CHECKPOINT).values(
                chain=spec.name,
                seq=end,
                hash=end_hash,
                created_us=created,
                purged=purged,
                key_id=public_id,
                signature=keys.sign(signing_key, message),
            )
        )
        log.info("purged %d %s records up to seq %d", purged, spec.name, end)
        done.append(PurgedChain(spec.name, purged, end))
    return PurgeReport(tuple(done))
