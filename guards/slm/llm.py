"""``local_llm()``: the local model as a plain ``prompt -> answer`` function, ready for ``guard.wrap``.

>>> from guards import Guard
>>> from guards.slm import local_llm
>>> ask = Guard.from_policy("default").wrap(local_llm())   # doctest: +SKIP
>>> ask("Hi, I'm Jane Doe. What is a haiku?")              # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from guards.slm.model import resolve_gguf
from guards.slm.server import LLAMA_HINT, SlmError, llama_cpp_available

Backend = Literal["llama-cpp", "transformers"]
DEFAULT_SYSTEM = "You are a helpful, concise assistant."


def local_llm(
    model: str | Path | None = None,
    *,
    backend: Backend | None = None,
    max_tokens: int = 128,
    temperature: float = 0.0,
    threads: int = 1,
    system: str | None = DEFAULT_SYSTEM,
) -> Callable[[str], str]:
    """A function answering one user prompt with a local chat model (greedy by default).

    ``model``: a GGUF file (default: the shipped SmolLM2-135M-Instruct), or for ``backend="transformers"`` a local
    folder or model id. The backend defaults to llama-cpp for GGUF files and transformers otherwise; transformers
    never downloads (``local_files_only``), as ombud must work offline.
    """
    chosen = backend or ("transformers" if model is not None and not str(model).endswith(".gguf") else "llama-cpp")
    respond = _llama_cpp(model, threads) if chosen == "llama-cpp" else _transformers(model, threads)
    lock = threading.Lock()  # one generation at a time: neither backend is safe to call concurrently

    def generate(prompt: str) -> str:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        with lock:
            return respond(messages, max_tokens, temperature)

    return generate


Respond = Callable[[list[dict[str, str]], int, float], str]


def _llama_cpp(model: str | Path | None, threads: int) -> Respond:
    if not llama_cpp_available():
        raise SlmError(LLAMA_HINT)
    from llama_cpp import Llama

    llm = Llama(model_path=str(resolve_gguf(model)), n_threads=threads, n_threads_batch=threads, verbose=False)

    def respond(messages: list[dict[str, str]], max_tokens: int, temperature: float) -> str:
        chat: Any = messages  # llama_cpp's own TypedDicts for messages; ours are plain dicts of the same shape
        out: Any = llm.create_chat_completion(messages=chat, max_tokens=max_tokens, temperature=temperature)
        return str(out["choices"][0]["message"]["content"] or "")

    return respond


def _transformers(model: str | Path | None, threads: int) -> Respond:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    path = Path(model) if model is not None else resolve_gguf(None)
    if path.suffix == ".gguf":  # transformers' GGUF route dequantises to float32 (needs the `gguf` package)
        location, options = str(path.parent), {"gguf_file": path.name}
    else:
        location, options = str(model), {}
    tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True, **options)
    network = AutoModelForCausalLM.from_pretrained(location, local_files_only=True, **options).eval()

    def respond(messages: list[dict[str, str]], max_tokens: int, temperature: float) -> str:
        inputs: Any = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids: Any = inputs if isinstance(inputs, torch.Tensor) else inputs["input_ids"]
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            output = network.generate(ids, max_new_tokens=max_tokens, pad_token_id=tokenizer.eos_token_id, **sampling)
        return str(tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True))

    return respond
