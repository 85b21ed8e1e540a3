"""The examples in examples/ run as documented: a plain function, the OpenAI SDK, a transformers pipeline."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plain_function_example(capsys: pytest.CaptureFixture[str]) -> None:
    module = load("plain_function")
    replies = module.main()
    assert module.model_received[0] == "Hi, I'm <PERSON_1>, my email is <EMAIL_ADDRESS_1>"
    assert replies[0] == "Noted: Hi, I'm Jane Doe, my email is jane.doe@example.com"
    assert replies[-1] == "blocked: OVERSIZE"


def test_openai_client_example() -> None:
    answer = load("openai_client").main()
    assert answer == "You wrote: My name is Jane Doe and my phone is +1 415 555 0100."


def test_transformers_pipeline_example(tmp_path: Path) -> None:
    """A real text-generation pipeline from a local folder (a tiny GPT-2 made here, as any local model)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<unk>", "Contact", "John", "Smith", "at", "about", "Ġ", "@", "."])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<unk>")
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=16, n_layer=1, n_head=2))
    model.generation_config.pad_token_id = 0
    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    generator, guarded = load("transformers_pipeline").build(str(tmp_path))
    seen: list[str] = []
    original = generator.preprocess
    generator.preprocess = lambda prompt, **kw: seen.append(prompt) or original(prompt, **kw)
    result = guarded("Contact John Smith at john.smith@example.com about", max_new_tokens=4)
    assert seen == ["Contact <PERSON_1> at <EMAIL_ADDRESS_1> about"]  # the model never saw the values
    assert result[0]["generated_text"].startswith("Contact John Smith at john.smith@example.com about")


def test_quickstart_runs(capsys: pytest.CaptureFixture[str]) -> None:
    load("quickstart").main()
    out = capsys.readouterr().out
    assert out.count("in: ") == out.count("out: ") == 6
    assert "Here is our key: <AWS_ACCESS_KEY>" in out and "card **** **** **** 1111" in out
