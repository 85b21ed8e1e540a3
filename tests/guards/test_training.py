"""The training pipeline end to end in smoke mode (tiny seeded sample), writing to a temporary directory."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from guards.models.heads import load_head
from guards.training import data as D
from guards.training import templates
from guards.training.__main__ import main
from guards.training.metrics import at_threshold, best_f1_threshold, borkan, quantile_threshold, roc_auc

pytestmark = pytest.mark.skipif(not D.DEFAULT_DATA.exists(), reason="needs ../shared/data")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_smoke_training_writes_heads_and_cards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, docs = tmp_path / "weights", tmp_path / "docs"
    assert (
        main(["--smoke", "--threads", "1", "--heads", "toxicity", "bias", "--out", str(out), "--docs", str(docs)]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"toxicity", "bias"}
    for name, labels in (("toxicity", {"toxic", "hate", "offensive"}), ("bias", {"stereotype"})):
        head = load_head(out / name)
        assert set(head.labels) == labels
        assert set(head.thresholds) == labels
        assert head.meta["smoke"] is True
        card = (docs / f"{name}.md").read_text()
        assert "Recommended thresholds" in card and "Known limits" in card


def test_splits_are_seeded_and_stable() -> None:
    keys = [f"text {i}" for i in range(2000)]
    first = [D.split_of(k, 0) for k in keys]
    assert first == [D.split_of(k, 0) for k in keys]
    assert first != [D.split_of(k, 1) for k in keys]
    assert 0.05 < first.count("test") / len(keys) < 0.15


def test_identity_swap_keeps_text_but_changes_identity() -> None:
    swapped = templates.swap_identities("I hate muslim people", random.Random(0))
    assert swapped is not None and "muslim" not in swapped and swapped.startswith("i hate")
    assert templates.swap_identities("no identity here", random.Random(0)) is None


def test_group_mentions_are_seeded_and_name_their_identity() -> None:
    mentions = templates.harmless_group_mentions(random.Random(3), n=200)
    assert mentions == templates.harmless_group_mentions(random.Random(3), n=200)
    assert len({text for text, _ in mentions}) == 200
    assert all(identity in templates.identity_terms(text) for text, identity in mentions)


def test_metrics_on_a_known_case() -> None:
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    assert roc_auc(y, s) == pytest.approx(0.75)
    m = at_threshold(y, s, 0.3)
    assert m["recall"] == 1.0 and m["fpr"] == 0.5
    assert 0.0 < best_f1_threshold(y, s) < 1.0
    per = borkan(y, s, [{"a"}, set(), {"a"}, set()], ["a"])
    assert set(per["a"]) == {"n", "subgroup_auc", "bpsn_auc", "bnsp_auc"}


@pytest.mark.parametrize("max_fpr", [0.0, 0.05, 0.2])
def test_quantile_threshold_flags_at_most_the_allowed_share_of_benign_text(max_fpr: float) -> None:
    benign = np.random.default_rng(0).uniform(0, 0.9, 1000)
    t = quantile_threshold(benign, max_fpr)
    assert np.mean(benign >= t) <= max_fpr
    assert np.mean(benign >= t - 0.01) > max_fpr or t == 0.0  # and it is the lowest such threshold (3 decimals)


def test_tasks_over_text_are_distinct_prompts_of_one_template() -> None:
    inputs = [f"message number {i}" for i in range(30)]
    prompts = templates.tasks_over_text(random.Random(0), "Paraphrase: {t}", inputs, 16)
    assert len(prompts) == 16 and all(p.startswith("Paraphrase: message number ") for p in prompts)
    assert templates.tasks_over_text(random.Random(0), "Paraphrase: {t}", [], 16) == []


def test_factual_questions_are_seeded_distinct_questions() -> None:
    questions = templates.factual_questions(random.Random(1), n=120)
    assert questions == templates.factual_questions(random.Random(1), n=120)
    assert len(set(questions)) == 120
    assert all(q.split()[0].lower() in {"when", "what", "who", "how", "where", "which", "is", "why"} for q in questions)


def test_standing_preferences_cover_every_preference_with_several_openings() -> None:
    items = templates.standing_preferences(random.Random(3), per_preference=4)
    assert items == templates.standing_preferences(random.Random(3), per_preference=4)
    per = {i: [t for t, j in items if j == i] for i in range(len(templates.STANDING_PREFERENCES))}
    assert all(len(texts) == 4 and texts[0][0].isupper() for texts in per.values())
    assert all(templates.STANDING_PREFERENCES[i] in t for i, texts in per.items() for t in texts)


def test_roleplay_frames_carry_both_harmful_and_ordinary_tasks() -> None:
    requests = templates.roleplay_requests(random.Random(2))
    assert requests == templates.roleplay_requests(random.Random(2))
    frames = {f"roleplay:{i}" for i in range(len(templates.ROLEPLAY_FRAMES))}
    assert {frame for _, label, _, frame in requests if label == 1.0} == frames
    assert {frame for _, label, _, frame in requests if label == 0.0 and frame.startswith("roleplay")} == frames
    assert all(label == 0.0 for _, label, _, frame in requests if frame.startswith("narrative"))
    assert len({text for text, _, _, _ in requests}) == len(requests)
