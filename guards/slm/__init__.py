"""The embedded local SLM: SmolLM2-135M-Instruct (GGUF, Apache-2.0) run offline by llama-cpp-python.

``SlmServer`` starts its OpenAI-compatible server (the guard proxy's default local upstream); ``local_llm()`` gives
a ``prompt -> answer`` function for ``guard.wrap``. Heavy imports (llama_cpp, transformers) happen on first use.
"""

from guards.slm.llm import local_llm
from guards.slm.model import ModelNotFound, default_gguf, resolve_gguf
from guards.slm.server import SlmError, SlmServer, llama_cpp_available

__all__ = ["ModelNotFound", "SlmError", "SlmServer", "default_gguf", "llama_cpp_available", "local_llm", "resolve_gguf"]
