"""Fairness of a wrapped model's own decisions, end to end, on the Adult census data (CC BY 4.0).

A small scikit-learn classifier (logistic regression, trained without sex and race) decides "approve" on census
records. Each record, rendered as text, passes through ``guard.check`` with the default policy, which logs the decision
with the applicant's sex and race (``CallContext.subject``) and the model's outcome (``CallContext.outcome``). The
ground truth (income > 50K) becomes known later and is recorded with ``audit.outcomes.record_ground_truth``. Then an
audit report covers the model's fairness by sex and by race, with pass/fail findings against the policy thresholds.

The data is read at run time from ``../shared/data/fairness/adult_census_income`` (never copied into the repository):

    python examples/fairness_adult.py --out /tmp/adult-report [--records 1500]
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from audit.outcomes import record_ground_truth
from audit.reports import build_report, export_report
from audit.store import AuditStore
from guards import CallContext, Guard

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fairness" / "adult_census_income" / "train.csv"
FEATURES = [
    "age",
    "education_num",
    "hours_per_week",
    "capital_gain",
    "capital_loss",
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
]
"""Model inputs: sex and race are deliberately left out (and still the outcome differs by group, through proxies)."""


def render(row: pd.Series) -> str:
    """A census record as the text a screening assistant would see."""
    return (
        f"Applicant aged {row.age}, {row.education} ({row.education_num} years), {row.marital_status}, works as "
        f"{row.occupation} in {row.workclass} for {row.hours_per_week} hours a week; capital gain {row.capital_gain}."
    )


def train(frame: pd.DataFrame) -> object:
    """Logistic regression on one-hot categorical and scaled numeric features."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = ["age", "education_num", "hours_per_week", "capital_gain", "capital_loss"]
    categorical = [c for c in FEATURES if c not in numeric]
    columns = make_column_transformer(
        (StandardScaler(), numeric), (OneHotEncoder(handle_unknown="ignore"), categorical)
    )
    model = make_pipeline(columns, LogisticRegression(max_iter=500))
    model.fit(frame[FEATURES], frame["label"])
    return model


def main(argv: list[str] | None = None) -> int:
    """Train, decide and log through the guard, record ground truths, and export the report bundle."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="Adult census CSV (train.csv)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the database and the report bundle")
    parser.add_argument("--records", type=int, default=1500, help="records decided and logged")
    parser.add_argument("--format", default="html,pdf,json,csv")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    frame = pd.read_csv(args.data, skipinitialspace=True)
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = int(len(shuffled) * 0.7)
    model = train(shuffled.iloc[:cut])
    held_out = shuffled.iloc[cut : cut + args.records]
    approved = model.predict(held_out[FEATURES])  # type: ignore[attr-defined]
    args.out.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{args.out / 'adult.db'}"
    started = datetime.now(UTC) - timedelta(seconds=1)
    with AuditStore(url) as store:
        guard = Guard(
            Guard.from_policy("default").policy, audit=store, application="credit-screening", model="logreg-adult"
        )
        decided = []
        for (_, row), outcome in zip(held_out.iterrows(), approved, strict=True):
            context = CallContext(subject={"sex": row.sex, "race": row.race}, outcome={"approved": bool(outcome)})
            decided.append(guard.check(render(row), context=context).id)
        store.flush()
        # Later: the true incomes become known and are recorded against each logged decision.
        for decision_id, truth in zip(decided, held_out["label"], strict=True):
            record_ground_truth(store, decision_id, bool(truth), reviewer="credit-ops")
        report = build_report(store, started, None, "default", by=["sex", "race"], n_boot=500, progress=True)
        manifest = export_report(report, args.out / "report", args.format.split(","), overwrite=True)
    for f in report.findings:
        print(f"{f.status.upper():12} {f.subject:16} {f.feature:12} {f.check:26} {f.metric:20} {f.message}")
    print(f"bundle: {manifest.parent}  (verify with: ombud report verify {manifest.parent})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
