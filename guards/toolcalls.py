"""Tool calls in chat messages: the arguments a model writes for a tool are text like its answer, checked alike.

A model can put personal data or an injected instruction into a tool's arguments as easily as into its answer, and
a caller that sends an earlier tool call back (pseudonyms restored) would hand the model what the guard kept from
it. OpenAI-style arguments are a JSON object in a string: every string value in it is checked on its own (keys are
the tool's schema, not text), numbers long enough to be an identifier too, and the object is written back only if
something changed. Arguments that are not JSON are checked as one text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from guards.errors import UncheckableAnswer
from guards.objects import get_field, set_field

TextFn = Callable[[Any], str]

MIN_CHECKED_DIGITS = 6
"""Numbers with at least this many digits are checked as text (card, phone and account numbers sent as JSON numbers);
shorter ones (counts, limits, ids of a few digits) are not."""


def check_tool_calls(message: Any, check: TextFn) -> None:
    """Check, in place, the arguments of every tool call of a chat ``message`` (a dict or an SDK object): each
    ``tool_calls`` entry's ``function.arguments`` (or a custom tool's ``custom.input``), and the legacy
    ``function_call``. A tool call whose arguments cannot be found raises ``UncheckableAnswer``."""
    calls = get_field(message, "tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise UncheckableAnswer("'tool_calls' is not a list")
        for call in calls:
            function, custom = get_field(call, "function"), get_field(call, "custom")
            if function is not None:
                set_field(function, "arguments", check_arguments(get_field(function, "arguments"), check))
            elif custom is not None and isinstance(get_field(custom, "input"), str):
                set_field(custom, "input", check(get_field(custom, "input")))
            else:
                raise UncheckableAnswer("a tool call has neither function arguments nor a custom tool's input")
    legacy = get_field(message, "function_call")
    if legacy is not None:
        set_field(legacy, "arguments", check_arguments(get_field(legacy, "arguments"), check))


def has_tool_calls(message: Any) -> bool:
    """Whether a chat message carries tool calls (``tool_calls`` or the legacy ``function_call``)."""
    return get_field(message, "tool_calls") is not None or get_field(message, "function_call") is not None


def withdraw_tool_calls(message: Any, refusal: str) -> None:
    """A refused answer calls no tool: drop the tool calls of ``message`` (in place) and make ``refusal`` its text."""
    if not has_tool_calls(message):
        return
    for key in ("tool_calls", "function_call"):
        if get_field(message, key) is not None:
            set_field(message, key, None)
    set_field(message, "content", refusal)


def check_arguments(arguments: Any, check: TextFn) -> Any:
    """Tool-call ``arguments`` checked: a JSON string (written back only if a value changed), other text as a whole,
    or an already parsed object or list."""
    if isinstance(arguments, dict | list):
        return _checked(arguments, check)
    if not isinstance(arguments, str):
        raise UncheckableAnswer(f"tool-call arguments are a {type(arguments).__name__}, not text")
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return check(arguments) if arguments else arguments
    except RecursionError as exc:
        raise UncheckableAnswer("tool-call arguments are nested too deeply to check") from exc
    if not isinstance(parsed, dict | list | str):
        return arguments if not _identifier_like(parsed) else check(arguments)
    checked = _checked(parsed, check)
    return arguments if checked == parsed else json.dumps(checked, ensure_ascii=False)


def _checked(value: Any, check: TextFn, depth: int = 0) -> Any:
    if depth > 100:
        raise UncheckableAnswer("tool-call arguments are nested too deeply to check")
    if isinstance(value, dict):
        return {k: _checked(v, check, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_checked(v, check, depth + 1) for v in value]
    if isinstance(value, str):
        return check(value) if value else value
    if _identifier_like(value):
        text = json.dumps(value)
        checked = check(text)
        return value if checked == text else checked
    return value


def _identifier_like(value: Any) -> bool:
    """A JSON number with enough digits to be a card, phone or account number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return sum(c.isdigit() for c in json.dumps(value)) >= MIN_CHECKED_DIGITS
