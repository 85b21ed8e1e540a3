"""Fields of model-call payloads, read and written alike whether a payload is a dict (JSON) or an SDK object."""

from __future__ import annotations

from typing import Any


def has_field(obj: Any, key: str) -> bool:
    """Whether ``obj`` has the key (dict) or attribute (object) ``key``."""
    return (isinstance(obj, dict) and key in obj) or (not isinstance(obj, dict) and hasattr(obj, key))


def get_field(obj: Any, key: str) -> Any:
    """``obj[key]`` of a dict, else the attribute; ``None`` when missing."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def set_field(obj: Any, key: str, value: Any) -> None:
    """Set the key (dict) or attribute (object) ``key`` of ``obj``."""
    if isinstance(obj, dict):
        obj[key] = value
    else:
        setattr(obj, key, value)
