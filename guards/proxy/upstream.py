"""The OpenAI-compatible upstream, over async httpx: JSON calls and SSE streams, with failures mapped to 502/504."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx

from guards.proxy.errors import ProxyError, upstream_error
from guards.proxy.settings import Upstream
from guards.proxy.shapes import finish_reason

logger = logging.getLogger(__name__)

_MAX_ERROR_BODY = 2000


def upstream_failure(exc: httpx.HTTPError) -> ProxyError:
    """504 for a timeout, 502 for anything else that kept the upstream from answering."""
    if isinstance(exc, httpx.TimeoutException):
        return ProxyError(
            504, "the upstream model did not answer in time", type="upstream_error", code="upstream_timeout"
        )
    return ProxyError(
        502,
        f"the upstream model is unreachable ({type(exc).__name__})",
        type="upstream_error",
        code="upstream_unavailable",
    )


class UpstreamClient:
    """Calls one upstream base URL (``.../v1``) with the configured or passed-through key."""

    def __init__(self, settings: Upstream, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self.client = httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    def headers(self, authorization: str | None) -> dict[str, str]:
        """Headers for an upstream call: the configured key wins over the client's passed-through header."""
        key = self.settings.key()
        if key:
            return {"Authorization": f"Bearer {key}"}
        return {"Authorization": authorization} if authorization else {}

    async def get(self, path: str, *, authorization: str | None = None) -> dict[str, Any]:
        """GET ``path`` and return its JSON."""
        try:
            response = await self.client.get(self.base_url + path, headers=self.headers(authorization))
        except httpx.HTTPError as exc:
            raise upstream_failure(exc) from exc
        return _json_or_error(response)

    async def post(self, path: str, body: Mapping[str, Any], *, authorization: str | None = None) -> dict[str, Any]:
        """POST ``body`` to ``path`` and return the JSON answer."""
        try:
            response = await self.client.post(self.base_url + path, json=body, headers=self.headers(authorization))
        except httpx.HTTPError as exc:
            raise upstream_failure(exc) from exc
        return _json_or_error(response)

    async def open_stream(
        self, path: str, body: Mapping[str, Any], *, authorization: str | None = None
    ) -> httpx.Response:
        """Start a streamed POST; the caller reads it with ``events`` (which closes it). Errors before the first
        byte are raised here, so that they still become proper HTTP statuses."""
        request = self.client.build_request(
            "POST", self.base_url + path, json=body, headers=self.headers(authorization)
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise upstream_failure(exc) from exc
        if response.status_code >= 400:
            try:
                await response.aread()
            except httpx.HTTPError as exc:
                raise upstream_failure(exc) from exc
            finally:
                await response.aclose()
            _json_or_error(response)
        return response


def chunk_finished(payload: Mapping[str, Any]) -> bool:
    """Whether a chat or text completion chunk carries a finish reason."""
    return finish_reason(payload) is not None


async def events(
    response: httpx.Response, finished_by: Callable[[Mapping[str, Any]], bool] = chunk_finished
) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of an SSE response until ``[DONE]`` or its end; closes the response. Raises ProxyError
    (502) on failure: an event that is not a JSON object, an error event, or a stream that ends without ``[DONE]``
    and without an event that ``finished_by`` says ends it (cut off, or not a stream at all)."""
    finished = False
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                payload = json.loads(data)
            except json.JSONDecodeError:
                payload = None
            if not isinstance(payload, dict):
                raise upstream_error(f"a streamed event is not a JSON object: {data[:200]!r}")
            if "error" in payload:
                raise upstream_error(_error_message(payload))
            finished = finished or finished_by(payload)
            yield payload
    except httpx.HTTPError as exc:
        raise upstream_failure(exc) from exc
    finally:
        await response.aclose()
    if not finished:
        raise upstream_error("the upstream stream ended before [DONE] without a finish reason")


def _json_or_error(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 400:
        message = _error_message(payload) if isinstance(payload, dict) else response.text[:_MAX_ERROR_BODY]
        if response.status_code >= 500:
            raise upstream_error(f"upstream error {response.status_code}: {message}")
        retry = {"Retry-After": response.headers["retry-after"]} if "retry-after" in response.headers else None
        raise ProxyError(
            response.status_code, f"upstream: {message}", type="upstream_error", code="upstream_rejected", headers=retry
        )
    if not isinstance(payload, dict):
        raise upstream_error("the upstream answered with something other than a JSON object")
    return payload


def _error_message(payload: Mapping[str, Any] | None) -> str:
    error = (payload or {}).get("error")
    if isinstance(error, dict):
        return str(error.get("message", error))[:_MAX_ERROR_BODY]
    return str(error or payload)[:_MAX_ERROR_BODY]
