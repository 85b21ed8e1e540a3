"""OpenAI-style error bodies: every refusal of the proxy is one ``ProxyError`` with a status, a type and a code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guards.errors import Blocked, GuardError


class ProxyError(GuardError):
    """A request the proxy refuses or cannot complete; rendered as ``{"error": {...}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The OpenAI-compatible error body."""
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


def blocked_error(exc: Blocked) -> ProxyError:
    """HTTP 400 ``content_blocked`` with the policy's safe message, for a text the policy blocked."""
    stage = exc.decision.stage.value
    return ProxyError(
        400,
        exc.message,
        type="content_blocked",
        code=f"{stage}_blocked",
        headers={"X-Ombud-Decision-Id": exc.decision.id},
    )


def bad_request(message: str, *, param: str | None = None, code: str = "invalid_request") -> ProxyError:
    """HTTP 400 for a request the proxy cannot read."""
    return ProxyError(400, message, code=code, param=param)


def upstream_error(message: str) -> ProxyError:
    """HTTP 502 for an upstream answer that failed or cannot be read (or checked)."""
    return ProxyError(502, message, type="upstream_error", code="upstream_error")


def too_large(message: str, *, param: str | None = None) -> ProxyError:
    """HTTP 413 for a body, prompt or output budget over the proxy's limits."""
    return ProxyError(413, message, type="request_too_large", code="request_too_large", param=param)


def too_many(message: str, retry_after: float, *, code: str) -> ProxyError:
    """HTTP 429 with ``Retry-After`` in whole seconds."""
    seconds = str(max(1, int(retry_after + 0.999)))
    return ProxyError(429, message, type="rate_limit_error", code=code, headers={"Retry-After": seconds})
