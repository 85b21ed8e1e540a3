"""Fairness of the guard's decisions and of the wrapped model's outcomes, over the audit log (fairlearn MetricFrame).

``fairness_report(store, by="sex")`` → ``FairnessReport`` (per-group rates with bootstrap intervals, disparities,
pass/fail findings against the policy's thresholds). Groups come from subject attributes or from the identity groups
the redacted text mentions (``by="identity.religion"``, lexicon in ``identity_terms.yaml``). See ``docs/reports.md``.
"""

from audit.fairness.frame import Disparity, FairnessFinding, FairnessReport, Thresholds
from audit.fairness.lexicon import IdentityGroup, IdentityLexicon, load_lexicon, parse_lexicon
from audit.fairness.rates import GUARD_RATES, MODEL_RATES, Rate
from audit.fairness.report import fairness_report, fairness_reports, fairness_reports_for

__all__ = [
    "GUARD_RATES",
    "MODEL_RATES",
    "Disparity",
    "FairnessFinding",
    "FairnessReport",
    "IdentityGroup",
    "IdentityLexicon",
    "Rate",
    "Thresholds",
    "fairness_report",
    "fairness_reports",
    "fairness_reports_for",
    "load_lexicon",
    "parse_lexicon",
]
