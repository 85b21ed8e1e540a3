"""Audit reports for auditors and the dashboard: activity, fairness, interpretability, policies, chain, compliance.

``build_report(store, since, until, policy)`` → ``Report``; ``export_report(report, out_dir, formats)`` writes a
verifiable bundle (HTML, PDF, JSON, CSV + ``manifest.json``); ``verify_bundle(out_dir)`` checks it. CLI:
``ombud report --since DATE ... --out DIR`` and ``ombud report verify DIR``. See ``docs/reports.md``.
"""

from audit.explain import DecisionExplanation, Drivers, explain_decision, global_drivers
from audit.fairness import FairnessReport, fairness_report, fairness_reports
from audit.reports.activity import Activity, PolicyInForce, activity, policies_in_force
from audit.reports.build import build_report
from audit.reports.content import SECTION_TITLES, sections
from audit.reports.export import FORMATS, export_report
from audit.reports.integrity import chain_status
from audit.reports.manifest import MANIFEST, BundleCheck, verify_bundle
from audit.reports.model import EMPTY_LOG, ChainStatus, Report

__all__ = [
    "EMPTY_LOG",
    "FORMATS",
    "MANIFEST",
    "SECTION_TITLES",
    "Activity",
    "BundleCheck",
    "ChainStatus",
    "DecisionExplanation",
    "Drivers",
    "FairnessReport",
    "PolicyInForce",
    "Report",
    "activity",
    "build_report",
    "chain_status",
    "explain_decision",
    "export_report",
    "fairness_report",
    "fairness_reports",
    "global_drivers",
    "policies_in_force",
    "sections",
    "verify_bundle",
]
