"""Policies: versioned YAML that says which scanners run, with what thresholds and actions; and the decision rule."""

from guards.policy.decide import PolicyDecision, decide
from guards.policy.loader import Policy, builtin_policies, load_policy, parse_policy

__all__ = ["Policy", "PolicyDecision", "builtin_policies", "decide", "load_policy", "parse_policy"]
