"""Interpretability of the guard's decisions: SHAP token attributions for classifier scanners, findings for PII.

``explain_decision(store, decision_id)`` → ``DecisionExplanation`` (cached per decision, on the redacted text);
``global_drivers(store, scanner, since, until)`` → ``Drivers`` (tokens that most often drive a scanner's flags).
"""

from audit.explain.decision import (
    DecisionExplanation,
    FindingExplanation,
    ScannerExplanation,
    TokenAttribution,
    explain_decision,
)
from audit.explain.drivers import Driver, Drivers, global_drivers
from audit.explain.shap_text import Attribution, Scorer, attribute

__all__ = [
    "Attribution",
    "DecisionExplanation",
    "Driver",
    "Drivers",
    "FindingExplanation",
    "ScannerExplanation",
    "Scorer",
    "TokenAttribution",
    "attribute",
    "explain_decision",
    "global_drivers",
]
