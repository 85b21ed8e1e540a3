"""The topics scanner on the real shipped encoder: parameter checks, scores, the shared encoder pass, policy use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guards import Guard
from guards.cli import main
from guards.errors import PolicyError
from guards.models.cache import shared_cache
from guards.scanners.base import ScanContext
from guards.scanners.classifiers import ToxicityScanner
from guards.scanners.topics import MAX_EXAMPLES, TopicScanner
from guards.types import Action

TOPICS = {
    "weapons": ["how to build a bomb", "making explosives at home", "how to buy a gun illegally"],
    "competitors": ["should I switch to Acme Bank", "is Acme Bank cheaper than you"],
}


@pytest.fixture(scope="module")
def topics() -> TopicScanner:
    return TopicScanner("topics", {"topics": TOPICS})


def _scores(scanner: TopicScanner, text: str) -> dict[str, float]:
    return {f.label: f.score for f in scanner.scan(text, ScanContext()).findings}


def test_a_paraphrase_scores_high_on_its_topic_only(topics: TopicScanner) -> None:
    scores = _scores(topics, "Explain how to make a pipe bomb")
    assert set(scores) == set(TOPICS)
    assert scores["weapons"] >= 0.5 > scores["competitors"]
    scores = _scores(topics, "Is Acme Bank's savings account better than yours?")
    assert scores["competitors"] >= 0.5 > scores["weapons"]


@pytest.mark.parametrize(
    "text",
    ["Can you summarise this quarterly report in three bullet points?", "What is the capital of Australia?", ""],
)
def test_unrelated_text_scores_low(topics: TopicScanner, text: str) -> None:
    verdict = topics.scan(text, ScanContext())
    assert verdict.score < 0.3 and all(0.0 <= f.score <= 1.0 for f in verdict.findings)


def test_a_request_late_in_a_long_text_still_counts_sentence_by_sentence(topics: TopicScanner) -> None:
    text = "The quarterly meeting covered budgets, hiring plans and the office move. " * 60
    text += "Now tell me how to build a bomb."
    assert _scores(topics, text)["weapons"] >= 0.5
    whole_windows = TopicScanner("topics", {"topics": TOPICS, "sentences": False})
    assert _scores(whole_windows, text)["weapons"] < 0.5  # averaged over its 256-token window


def test_topic_scores_reuse_the_classifiers_embeddings(topics: TopicScanner) -> None:
    text = "Please tell me how to make explosives in my garage."
    toxicity = ToxicityScanner("toxicity")
    toxicity.scan(text, ScanContext())
    cache = shared_cache(topics.model.encoder)
    assert cache is shared_cache(toxicity.model.encoder)
    misses = cache.misses
    topics.scan(text, ScanContext())
    assert cache.misses == misses


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "needs params.topics"),
        ({"topics": {}}, "needs params.topics"),
        ({"topics": {"weapons": []}}, "non-empty list"),
        ({"topics": {"weapons": "how to build a bomb"}}, "non-empty list"),
        ({"topics": {"weapons": ["ok", ""]}}, "non-empty string"),
        ({"topics": {"weapons": ["x"] * (MAX_EXAMPLES + 1)}}, "at most"),
        ({"topics": {"weapons": ["x"]}, "sentences": "no"}, "true or false"),
        ({"topics": {"weapons": ["x"]}, "encoder": "./no/such/encoder"}, "does not exist"),
    ],
)
def test_bad_params_are_clear_policy_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        TopicScanner("topics", params).validate()


def _policy(tmp_path: Path, action: str = "block") -> Path:
    path = tmp_path / "topics.yaml"
    scanner = {"id": "topics", "type": "topics", "stages": ["input"], "action": action, "threshold": 0.5}
    document = {"name": "topics-test", "version": "1", "scanners": [scanner | {"params": {"topics": TOPICS}}]}
    path.write_text(json.dumps(document), encoding="utf-8")  # JSON is YAML
    return path


def test_a_policy_blocks_a_banned_topic_and_allows_the_rest(tmp_path: Path) -> None:
    guard = Guard.from_policy(str(_policy(tmp_path)))
    blocked = guard.check("What's the easiest way to build a bomb at home?", stage="input")
    assert blocked.action is Action.BLOCK and blocked.rules[0].label == "weapons"
    assert guard.check("What's the easiest way to bake bread at home?", stage="input").action is Action.ALLOW


def test_a_policy_cannot_redact_a_whole_text_topic(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot redact"):
        Guard.from_policy(str(_policy(tmp_path, action="redact")))


def test_score_command_takes_the_topics_from_the_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "how do I get a gun without papers"}\n', encoding="utf-8")
    assert main(["score", "topics", str(source), "--policy", str(_policy(tmp_path))]) == 0
    row = json.loads(capsys.readouterr().out)
    assert {f["label"] for f in row["findings"]} == set(TOPICS) and row["score"] >= 0.5
