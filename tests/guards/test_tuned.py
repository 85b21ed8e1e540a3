"""Fine-tuned encoder layers: applied over the base encoder, part of its cache key, resolved from a head or params."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from guards.models.encoder import TUNED_FILE, Encoder, EncoderConfig, default_encoder_path
from guards.models.heads import load_head
from guards.models.runtime import SHIPPED_TUNED, load_model, tuned_layers
from guards.training import data as D
from guards.training.__main__ import main

TEXT = "Thanks for the quick reply, see you at the meeting tomorrow."


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _layer_file(path: Path, scale: float, name: str = "encoder.layer.5.output.dense.weight") -> str:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel

    weight = AutoModel.from_pretrained(default_encoder_path()).state_dict()[name]
    save_file({name: (weight * scale).to(torch.float16).contiguous()}, str(path))
    return str(path)


def _embedding(tuned: str | None) -> np.ndarray:
    config = EncoderConfig(default_encoder_path(), tuned=tuned, quantize=False, trace=False)
    return Encoder(config).embed_windows([TEXT])[0][0]


def test_tuned_layers_change_the_embedding_and_the_cache_key(tmp_path: Path) -> None:
    base = _embedding(None)
    same = _layer_file(tmp_path / "same.safetensors", 1.0)
    changed = _layer_file(tmp_path / "changed.safetensors", 1.5)
    assert np.allclose(_embedding(same), base, atol=1e-3)  # float16 rounding only
    assert not np.allclose(_embedding(changed), base, atol=1e-2)
    keys = {EncoderConfig("m", tuned=t).key for t in (None, same, changed)}
    assert len(keys) == 3


def test_tuned_layers_of_another_model_are_refused(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"encoder.layer.9.output.dense.weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ValueError, match=r"do not fit this encoder \(encoder\.layer\.9\.output\.dense\.weight\)"):
        _embedding(str(path))


def test_which_tuned_layers_apply() -> None:
    head = {"tuned": "/w/encoder/t.safetensors"}
    assert tuned_layers({"tuned_layers": False}, head) is None
    assert tuned_layers({"tuned_layers": "~/t.safetensors"}, head) == str(Path("~/t.safetensors").expanduser())
    assert tuned_layers({}, head) == "/w/encoder/t.safetensors"
    assert tuned_layers({}, {"tuned": None}) is None  # a head trained on the plain encoder
    assert tuned_layers({"encoder": "/other/model"}, None) is None  # not a head, another encoder
    assert tuned_layers({}, None) == (str(SHIPPED_TUNED) if SHIPPED_TUNED.is_file() else None)


@pytest.mark.skipif(not D.DEFAULT_DATA.exists(), reason="needs ../shared/data")
def test_smoke_training_tunes_the_encoder_and_its_heads_use_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "weights"
    args = ["--smoke", "--tune", "--threads", "1", "--heads", "toxicity", "--out", str(out), "--docs", str(tmp_path)]
    assert main(args) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"toxicity"}
    tuned = out / "encoder" / TUNED_FILE
    report = json.loads(tuned.with_suffix(".json").read_text())
    assert report["train_texts"] == 48 and report["keep_texts"] == 16
    assert load_head(out / "toxicity").meta["encoder"]["tuned"] == f"encoder/{TUNED_FILE}"
    model = load_model("toxicity", {"weights": str(out / "toxicity")})
    assert model.encoder.tuned == str(tuned)
    scores = model.scores([TEXT, "you are a worthless idiot"])
    assert scores.shape == (2, 3) and ((scores >= 0) & (scores <= 1)).all()
