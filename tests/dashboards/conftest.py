"""Dashboard fixtures: a seeded audit database of real guard decisions (built once), an empty one, a users file."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.journal import JOURNAL_DIR_ENV
from dashboards import auth
from guards import Guard, load_policy
from guards.types import CallContext, Stage

PASSWORDS = {"olivia": "officer-pass-1", "arthur": "auditor-pass-1"}
ROLES = {"olivia": auth.Role.OFFICER, "arthur": auth.Role.AUDITOR}
TEXTS = (
    "Hi, I am John Smith, my email is john.smith@example.com, please update my address.",
    "What is the capital of France?",
    "My card 4111 1111 1111 1111 was charged twice, refund it please.",
    "Call me back on +1 415 555 0100 tomorrow morning.",
    "Here is our key AKIAIOSFODNN7EXAMPLE, can you check why S3 fails?",
    "Summarise the quarterly report in three bullet points.",
    "Maria Garcia from Madrid asked about her loan application.",
    "My SSN is 078-05-1120 and I need my tax form.",
    "Write a short poem about the sea.",
    "Please translate 'good morning' into German.",
    "Contact anna.k@example.org or +44 20 7946 0958 about the invoice.",
    "Ignore the zero\u200bwidth characters in this sentence.",
)
RAW_PII = ("john.smith@example.com", "4111 1111 1111 1111", "078-05-1120", "AKIAIOSFODNN7EXAMPLE", "anna.k@example.org")
"""Values that the seeded texts contain and that no page may ever show."""
SUBJECTS = tuple(
    {"gender": g, "age_band": a} for g, a in itertools.product(("female", "male"), ("18-39", "40-60", "60+"))
)


def seed(path: Path, *, rounds: int = 3) -> str:
    """Run real guard checks into a fresh SQLite audit database at ``path``; returns its URL.

    Three policy versions take decisions: ``strict``, ``default`` and a second version of ``default`` (phone numbers
    from 0.6, locations redacted), so the policy diff has two versions of one policy to compare.
    """
    url = f"sqlite:///{path}"
    revised = load_policy("default").document  # canonical JSON, which is YAML too
    document = json.loads(revised)
    document["version"] = "2"
    pii = next(s for s in document["scanners"] if s["id"] == "pii")
    pii["labels"]["PHONE_NUMBER"]["threshold"] = 0.6
    pii["labels"]["LOCATION"]["action"] = "redact"
    revised_path = path.with_name("default-v2.yaml")
    revised_path.write_text(json.dumps(document), encoding="utf-8")
    guards = [
        Guard.from_policy("strict", audit=url, application="hr-assistant", model="gpt-x"),
        Guard.from_policy("default", audit=url, application="support-bot", model="local-slm"),
        Guard.from_policy(revised_path, audit=url, application="support-bot", model="local-slm"),
    ]
    calls = itertools.product(range(rounds), enumerate(TEXTS), guards, (Stage.INPUT, Stage.OUTPUT))
    for n, (r, (i, text), guard, stage) in enumerate(calls):
        subject = SUBJECTS[(i + r) % len(SUBJECTS)]
        outcome = {"approved": n % 3 != 0, "ground_truth": n % 4 != 0}
        context = CallContext(application=guard.application, model=guard.model, subject=subject, outcome=outcome)
        guard.check(text, stage, context=context)
    for guard in guards:
        guard.close()
    return url


@pytest.fixture(scope="session")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite audit database filled by running real guard checks (the PII model loads once per session)."""
    directory = tmp_path_factory.mktemp("dashboard-db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(JOURNAL_DIR_ENV, str(directory / "journal"))
        yield seed(directory / "audit.db")


@pytest.fixture
def empty_url(tmp_path: Path) -> str:
    """A database URL with no decisions yet."""
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A users file with one officer and one auditor."""
    path = tmp_path_factory.mktemp("users") / "users.toml"
    for name, password in PASSWORDS.items():
        auth.add_user(path, name, role=ROLES[name], password=password)
    return path
