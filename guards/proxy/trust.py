"""Policies for the messages the application itself wrote (system, developer): the same policy, minus the scanners
that judge intent. An injection detector flags instructions by design, and a system prompt is nothing but
instructions; personal data and secrets in it are still pseudonymised and redacted."""

from __future__ import annotations

import json
from collections.abc import Collection

from guards.policy import Policy, parse_policy

TRUSTED_VERSION_SUFFIX = "+trusted-roles"


def trusted_policy(policy: Policy, skip_types: Collection[str]) -> Policy | None:
    """``policy`` without its scanners of ``skip_types`` (its version marked, so the audit tells the two apart);
    None when it has no such scanner."""
    data = json.loads(policy.document)
    kept = [s for s in data["scanners"] if s["type"] not in skip_types]
    if len(kept) == len(data["scanners"]):
        return None
    data["scanners"] = kept
    data["version"] = f"{data['version']}{TRUSTED_VERSION_SUFFIX}"
    return parse_policy(json.dumps(data), source=f"{policy.source} (trusted roles)")
