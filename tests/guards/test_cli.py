"""The ombud command line: scan, score (batched, aligned, robust to bad lines), policy, eval pii."""

from __future__ import annotations

import io
import json
import socket
import sys
from pathlib import Path

import pytest

from guards.cli import main

PII_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pii" / "presidio_synth_v2"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_prints_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", "key AKIAIOSFODNN7EXAMPLE")
    decision = json.loads(out)
    assert code == 0 and decision["action"] == "redact" and "AKIA" not in decision["text"]


def test_scan_reads_binary_stdin_and_exits_3_when_blocked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 40_000 + b"\xff")))
    code, out, _ = run(capsys, "scan", "-")
    assert code == 3 and json.loads(out)["action"] == "block"


def test_score_reads_invalid_utf8_on_stdin_as_it_reads_a_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"text": "ok"}\n{"text": "\xff"}\n{"text": "after"}\n'), errors="strict")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = run(capsys, "score", "hygiene", "-")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 3  # the good lines too: one bad byte does not lose the input
    assert [f["label"] for f in rows[1]["findings"]] == ["INVALID_UTF8"] and rows[2]["findings"] == []
    assert not stdin.buffer.closed


def test_score_writes_one_line_per_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"text": "key AKIAIOSFODNN7EXAMPLE"}\nnot json\n\n{"nope": 1}\n{"text": "nothing here"}\n', encoding="utf-8"
    )
    code, out, err = run(capsys, "score", "secrets", str(source), "--batch-size", "2")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(rows) == 4  # every line answered; the exit status says that some were errors
    assert "2 line(s) could not be scored" in err
    assert rows[0]["score"] > 0.9 and rows[0]["findings"][0] == {
        "label": "AWS_ACCESS_KEY",
        "start": 4,
        "end": 24,
        "score": 0.95,
    }
    assert "line 2" in rows[1]["error"] and "line 4" in rows[2]["error"]
    assert rows[3] == {"score": 0.0, "findings": []}


def test_score_fails_only_the_lines_a_scanner_cannot_scan(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A lone surrogate or a text spaCy refuses (over 1,000,000 characters) aborted the run, good lines and all."""
    source = tmp_path / "in.jsonl"
    lines = ["mail jane@example.com", "a\ud800b", "a " * 500_001, "call Ann Lee"]
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines), encoding="utf-8")
    code, out, err = run(capsys, "score", "pii", str(source))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(rows) == 4 and "2 line(s) could not be scored" in err
    assert rows[0]["findings"][0]["label"] == "EMAIL_ADDRESS" and "PERSON" in {f["label"] for f in rows[3]["findings"]}
    assert rows[1] == {"error": "line 2: text holds a lone surrogate (not Unicode text) at character 1"}
    assert rows[2]["error"].startswith("line 3: ValueError: [E088]")


def test_score_hygiene_reports_a_lone_surrogate_as_the_guard_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "a\\ud800b"}\n', encoding="utf-8")
    code, out, _ = run(capsys, "score", "hygiene", str(source))
    assert code == 0 and json.loads(out)["findings"] == [{"label": "INVALID_UTF8", "start": 1, "end": 2, "score": 1.0}]


def test_score_by_policy_scanner_id(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "patient MRN 12345678"}\n', encoding="utf-8")
    code, out, _ = run(capsys, "score", "pii_input", str(source), "--policy", "strict")
    assert code == 0 and "MEDICAL_RECORD_NUMBER" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("score", "nosuch", "x.jsonl"), "unknown scanner"),
        (("score", "secrets", "/no/such/file.jsonl"), "no such file"),
        (("scan", "--policy", "missing", "hi"), "no policy file"),
        (("eval", "pii", "--data", "/no/such/dir"), "no dataset"),
        (("eval", "injection", "--data", ".", "--policy", "strict"), "--policy applies to the pii task only"),
        (("eval", "pii", "--data", ".", "--threshold", "0.5"), "--threshold to toxicity, bias and injection only"),
    ],
)
def test_errors_are_one_clear_line(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_eval_limit_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        run(capsys, "eval", "pii", "--data", ".", "--limit", "-1")
    assert refused.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_policy_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "policy", "list")
    assert code == 0 and "default" in out and "strict" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nscanners:\n  - type: secrets\n    threshold: 7\n")
    code, _, err = run(capsys, "policy", "validate", str(bad))
    assert code == 2 and f"{bad}:4: scanners.0.threshold" in err
    bad.write_text("name: x\nscanners:\n  - type: secrets\n    action: block\n    action: allow\n")
    code, _, err = run(capsys, "policy", "validate", str(bad))
    assert code == 2 and f"{bad}:5: duplicate key 'action' (first at line 4)" in err
    bad.write_text("name: x\non_error: allow\nscanners:\n  - type: toxicity\n    params: {threads: 0}\n")
    code, _, err = run(capsys, "policy", "validate", str(bad))
    assert code == 2 and f"{bad}: scanner 'toxicity': params.threads must be at least 1, not 0" in err


def test_policy_validate_loads_the_scanners_to_check_pii_entity_types(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Only presidio, once loaded, knows its entity types: a misspelt one in labels would never match."""
    policy = tmp_path / "p.yaml"
    policy.write_text("name: x\nscanners:\n  - type: pii\n    labels: {US_SSN: {action: block}}\n")
    code, out, _ = run(capsys, "policy", "validate", str(policy))
    assert code == 0 and "valid (name x" in out
    policy.write_text("name: x\nscanners:\n  - type: pii\n    labels: {US_SNN: {action: block}}\n")
    code, _, err = run(capsys, "policy", "validate", str(policy))
    assert code == 2 and "scanner 'pii': labels: unknown label(s) ['US_SNN']" in err and "US_SNN → US_SSN" in err
    policy.write_text("name: x\nscanners:\n  - type: pii\n    labels: {email_address: {action: block}}\n")
    code, _, err = run(capsys, "policy", "validate", str(policy))
    assert code == 2 and "email_address → EMAIL_ADDRESS" in err


def test_serve_refuses_a_bad_policy_in_one_line_before_listening(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("uvicorn")
    policy = tmp_path / "p.yaml"
    policy.write_text("name: x\nscanners:\n  - type: pii\n    labels: {US_SNN: {action: block}}\n")
    code, out, err = run(capsys, "serve", "--policy", str(policy), "--upstream", "http://127.0.0.1:9/v1", "--port", "9")
    assert code == 2 and "guard proxy on" not in out
    assert err.strip().count("\n") == 0 and "unknown label(s) ['US_SNN']" in err


def test_serve_says_in_one_line_when_its_port_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, out, err = run(
            capsys, "serve", "--policy", "default", "--upstream", "http://127.0.0.1:9/v1", "--port", port
        )
    assert code == 2 and "guard proxy on" not in out
    assert err.startswith(f"ombud: error: cannot listen on 127.0.0.1:{port}") and err.strip().count("\n") == 0


@pytest.mark.skipif(not PII_DATA.is_dir(), reason="../shared/data is not beside the checkout")
def test_eval_pii_reports_per_type_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "eval", "pii", "--data", str(PII_DATA), "--limit", "40")
    result = json.loads(out)
    assert code == 0 and result["records"] == 40
    assert result["per_type"]["EMAIL_ADDRESS"]["recall"] > 0.9 or "EMAIL_ADDRESS" not in result["per_type"]
    assert 0.3 < result["micro"]["f1"] <= 1.0


def _eval_one(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, spans: list[dict[str, object]]) -> object:
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"text": text, "spans": spans}) + "\n")
    code, out, _ = run(capsys, "eval", "pii", "--data", str(data))
    assert code == 0
    return json.loads(out)["per_type"]


def test_eval_pii_on_a_tiny_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spans = [{"start": 9, "end": 24, "label": "EMAIL_ADDRESS"}]
    per_type = _eval_one(capsys, tmp_path, "Write to ann@example.com or call nobody.", spans)
    assert per_type == {"EMAIL_ADDRESS": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1, "predicted": 1}}


def test_eval_pii_recall_counts_gold_pieces_one_detection_covers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The dataset splits an address into house number and street; one detection of the whole finds both."""
    spans = [{"start": 11, "end": 15, "label": "STREET_ADDRESS"}, {"start": 16, "end": 28, "label": "STREET_ADDRESS"}]
    per_type = _eval_one(capsys, tmp_path, "Ship it to 5049 Harjukuja 54, please.", spans)
    assert per_type == {"STREET_ADDRESS": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2, "predicted": 1}}
