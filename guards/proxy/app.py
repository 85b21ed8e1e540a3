"""The FastAPI face of the guard proxy: OpenAI-compatible routes, health, metrics, and errors as OpenAI-style JSON."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from guards.proxy import shapes
from guards.proxy.errors import ProxyError, too_large
from guards.proxy.service import REQUEST_ID_HEADER, Incoming, ProxyService
from guards.proxy.settings import ProxySettings
from guards.sink import Sink

logger = logging.getLogger(__name__)


def create_app(
    settings: ProxySettings,
    *,
    sink: Sink | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """An ASGI app guarding every call to ``settings.upstream``; ``sink`` overrides ``settings.db`` (tests)."""
    service = ProxyService(settings, sink=sink, transport=transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(service.startup)
        logger.info("guard proxy ready: policies %s, upstream %s", service.policies(), settings.upstream.url)
        yield
        await service.aclose()

    app = FastAPI(title="ombud guard proxy", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    async def answer(request: Request, kind: shapes.Kind, route: str | None) -> Response:
        started = time.perf_counter()
        status = 200
        request_id = uuid.uuid4().hex
        try:
            body = await read_body(request, settings.limits.max_body_bytes)
            client = request.client.host if request.client else "unknown"
            result = await service.handle(kind, Incoming(_headers(request), body, route, client, request_id))
        except ProxyError as exc:
            status = exc.status
            exc.headers.setdefault(REQUEST_ID_HEADER, request_id)
            return error_response(exc)
        except ClientDisconnect:
            status = 499
            return Response(status_code=499)
        finally:
            service.metrics.inc("ombud_proxy_requests_total", endpoint=kind.name, status=str(status))
            service.metrics.observe("ombud_proxy_request_seconds", time.perf_counter() - started)
        if result.stream is not None:
            return StreamingResponse(result.stream, media_type="text/event-stream", headers=result.headers)
        return JSONResponse(result.body, headers=result.headers)

    async def models(request: Request, route: str | None = None) -> Response:
        try:
            return JSONResponse(await service.models(Incoming(_headers(request), route=route)))
        except ProxyError as exc:
            return error_response(exc)

    async def healthz() -> dict[str, object]:
        return {"status": "ok", "policies": service.policies(), "upstream": settings.upstream.url}

    async def metrics() -> Response:
        text = service.metrics.render(in_flight=service.concurrency.in_flight)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    def endpoints(kind: shapes.Kind) -> tuple[Callable[..., Awaitable[Response]], Callable[..., Awaitable[Response]]]:
        async def plain(request: Request) -> Response:
            return await answer(request, kind, None)

        async def routed(request: Request, route: str) -> Response:
            return await answer(request, kind, route)

        return plain, routed

    for kind in (shapes.CHAT, shapes.COMPLETION, shapes.EMBEDDING, shapes.RESPONSES):
        plain, routed = endpoints(kind)
        app.add_api_route(f"/v1{kind.path}", plain, methods=["POST"])
        app.add_api_route(f"/{{route}}/v1{kind.path}", routed, methods=["POST"])
    app.add_api_route("/v1/models", models, methods=["GET"])
    app.add_api_route("/{route}/v1/models", models, methods=["GET"])
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    return app


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes (0: no limit)."""
    declared = request.headers.get("content-length")
    if limit and declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"the request body is {declared} bytes; this proxy accepts at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if limit and size > limit:
            raise too_large(f"the request body is over this proxy's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def error_response(exc: ProxyError) -> JSONResponse:
    """The OpenAI-style JSON error for ``exc``."""
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


_HTTP_ERRORS = {404: ("not_found_error", "unknown_route"), 405: ("invalid_request_error", "method_not_allowed")}


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    detail = exc.detail if isinstance(exc, StarletteHTTPException) else "error"
    headers = (exc.headers or {}) if isinstance(exc, StarletteHTTPException) else {}
    kind, code = _HTTP_ERRORS.get(status, ("invalid_request_error", str(status)))
    return error_response(ProxyError(status, str(detail), type=kind, code=code, headers=headers))


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s", request.url.path)
    return error_response(ProxyError(500, "internal error in the guard proxy", type="server_error"))
