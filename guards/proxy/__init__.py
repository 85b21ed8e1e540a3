"""The ombud guard proxy: an OpenAI-compatible HTTP server that guards every call to an upstream model.

Point any OpenAI SDK at it (``base_url="http://127.0.0.1:8765/v1"``); see ``docs/proxy.md``.
``create_app`` lives in ``guards.proxy.app`` (it imports FastAPI, which ``import guards`` must not).
"""

from guards.proxy.settings import ClientKey, Limits, ProxyConfigError, ProxySettings, Route, Upstream

__all__ = ["ClientKey", "Limits", "ProxyConfigError", "ProxySettings", "Route", "Upstream"]
