"""The one exception tree of ombud: ``GuardError`` → ``PolicyError``, ``ScannerError``, ``Blocked``, ``SinkError``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guards.types import Decision


class GuardError(Exception):
    """Root of every error ombud raises on purpose."""


class PolicyError(GuardError):
    """A policy file or policy value is invalid; the message names the file, line and field."""


class ScannerError(GuardError):
    """A scanner failed (raised, timed out or could not load); the original exception is the cause."""

    def __init__(self, scanner: str, message: str) -> None:
        super().__init__(f"scanner {scanner!r} failed: {message}")
        self.scanner = scanner


class SinkError(GuardError):
    """The audit sink could not accept a decision."""


class InputError(GuardError):
    """The text handed to the guard cannot be checked (wrong type, undecodable, an unknown stage)."""


class UncheckableAnswer(GuardError):
    """The model's answer has a shape in which the guard cannot find its text: refused, never passed on unchecked."""


class Blocked(GuardError):
    """The policy blocked a text; ``decision`` says why, ``message`` is the safe message for the user."""

    def __init__(self, decision: Decision, message: str | None = None) -> None:
        self.decision = decision
        self.message = message or decision.text
        rules = ", ".join(f"{r.scanner}:{r.label}" for r in decision.rules if r.action.value == "block")
        super().__init__(f"blocked at {decision.stage.value} by {rules or 'policy'}")
