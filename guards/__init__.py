"""ombud guards: wrap any model call with policy-driven PII, secrets, hygiene and content scanners.

>>> from guards import Guard
>>> guard = Guard.from_policy("default")
>>> answer = guard.wrap(my_llm)("Hi, I'm Jane Doe")   # doctest: +SKIP
"""

from guards.errors import Blocked, GuardError, InputError, PolicyError, ScannerError, SinkError, UncheckableAnswer
from guards.guard import Evaluation, Guard
from guards.policy import Policy, load_policy, parse_policy
from guards.session import GuardSession
from guards.sink import ListSink, Sink
from guards.types import Action, CallContext, Decision, Finding, PolicyRef, RuleHit, Stage, Verdict

__all__ = [
    "Action",
    "Blocked",
    "CallContext",
    "Decision",
    "Evaluation",
    "Finding",
    "Guard",
    "GuardError",
    "GuardSession",
    "InputError",
    "ListSink",
    "Policy",
    "PolicyError",
    "PolicyRef",
    "RuleHit",
    "ScannerError",
    "Sink",
    "SinkError",
    "Stage",
    "UncheckableAnswer",
    "Verdict",
    "load_policy",
    "parse_policy",
]
__version__ = "0.1.0"
