"""Settings of the guard proxy: upstream, policies per route and per client key, limits; loaded from YAML or TOML."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guards.errors import GuardError

DEFAULT_UPSTREAM = "http://127.0.0.1:8080/v1"


class ProxyConfigError(GuardError):
    """The proxy's configuration file or a setting is invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientKey(_Strict):
    """A client allowed to call the proxy: its name (the audit's application), the hash of its key, its overrides."""

    name: str = Field(min_length=1)
    hash: str = Field(
        description="sha256:<hex> or scrypt:<n>:<r>:<p>:<salt hex>:<hash hex> (see `ombud serve --hash-key`)"
    )
    policy: str | None = None
    rate_limit_per_minute: float | None = Field(default=None, ge=0)

    @field_validator("hash")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value.split(":", 1)[0] not in ("sha256", "scrypt"):
            raise ValueError("a key hash starts with 'sha256:' or 'scrypt:'; never put a plain key in the config")
        return value


class Route(_Strict):
    """A named route ``/<name>/v1/...`` with its own policy (and application name when the client has no key)."""

    policy: str
    application: str | None = None


class Limits(_Strict):
    """Protection of the proxy itself; ``0`` switches a limit off."""

    max_body_bytes: int = Field(default=1_000_000, ge=0)
    max_input_chars: int = Field(default=32_000, ge=0)
    max_input_texts: int = Field(default=2048, ge=0)
    """Texts checked per request (message contents and text parts, tool-call texts, prompts, embedding inputs)."""
    max_output_tokens: int = Field(default=4096, ge=0)
    max_concurrency: int = Field(default=64, ge=0)
    rate_limit_per_minute: float = Field(default=600, ge=0)
    rate_limit_burst: int | None = Field(default=None, ge=1)


class Upstream(_Strict):
    """The OpenAI-compatible server the proxy forwards to.

    ``api_key`` (or the environment variable named by ``api_key_env``) is sent upstream; without one, and only
    when the proxy has no client keys of its own, the client's ``Authorization`` header is passed through.
    """

    url: str = DEFAULT_UPSTREAM
    api_key: str | None = None
    api_key_env: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)

    def key(self) -> str | None:
        """The configured upstream key, if any."""
        if self.api_key:
            return self.api_key
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class ProxySettings(_Strict):
    """Everything ``create_app`` needs. Policy precedence: client key, then route, then ``policy``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    policy: str = "default"
    db: str | None = None
    application: str = "ombud-proxy"
    upstream: Upstream = Upstream()
    routes: dict[str, Route] = Field(default_factory=dict)
    keys: list[ClientKey] = Field(default_factory=list)
    limits: Limits = Limits()
    warmup: bool = True

    @field_validator("routes")
    @classmethod
    def _route_names(cls, value: dict[str, Route]) -> dict[str, Route]:
        for name in value:
            if not name or "/" in name or name == "v1":
                raise ValueError(f"route name {name!r} must be one path segment other than 'v1'")
        return value

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ProxySettings:
        """Read a YAML or TOML (``.toml``) file; relative policy paths are resolved from the file's folder."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise ProxyConfigError(f"cannot read proxy config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ProxyConfigError(f"{path}: the proxy config must be a mapping")
        data = _resolve_policies(data, path.parent)
        try:
            return cls.model_validate({**data, **{k: v for k, v in overrides.items() if v is not None}})
        except ValidationError as exc:
            raise ProxyConfigError(f"{path}: {exc}") from exc


def _resolve_policies(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make policy file paths relative to the config file's folder; shipped policy names stay as they are."""

    def resolve(spec: Any) -> Any:
        if isinstance(spec, str) and spec.endswith((".yaml", ".yml")) and not Path(spec).is_absolute():
            return str(base / spec)
        return spec

    data = dict(data)
    if "policy" in data:
        data["policy"] = resolve(data["policy"])
    if isinstance(data.get("routes"), dict):
        data["routes"] = {
            n: {**r, "policy": resolve(r.get("policy"))} if isinstance(r, dict) else r
            for n, r in data["routes"].items()
        }
    if isinstance(data.get("keys"), list):
        data["keys"] = [
            {**k, "policy": resolve(k["policy"])} if isinstance(k, dict) and "policy" in k else k for k in data["keys"]
        ]
    return data
