"""Tool calls in chat messages: the arguments a model writes for a tool are text like its answer, checked alike.

A model can put personal data or an injected instruction into a tool's arguments as easily as into its answer, and
a caller that sends an earlier tool call back (pseudonyms restored) would hand the model what the guard kept from
it. OpenAI-style arguments are a JSON object in a string. Its texts — string values, keys that are not plain
identifiers (a name or an address used as a key), numbers long enough to be an identifier — are checked together as
one text, a ``|`` line between them, so a call makes one decision and the scanners see the fields side by side; the
object is written back only if something changed. Arguments that are not JSON are checked as one text.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from guards.errors import InputError, UncheckableAnswer
from guards.objects import get_field, set_field

TextFn = Callable[[Any], str]

MIN_CHECKED_DIGITS = 6
"""Numbers with at least this many digits are checked as text (card, phone and account numbers sent as JSON numbers);
shorter ones (counts, limits, ids of a few digits) are not."""
MAX_DEPTH = 100
"""Arguments nested deeper are refused."""
SEPARATOR = "\n\n|\n\n"
"""Between the texts of one call when they are checked together: a line of its own that named-entity spans do not
cross (with a bare blank line, spaCy took "Jane Doe" and the e-mail address on the next line for one PERSON in 6 of 25
bench calls, and the call was checked again value by value)."""
_SCHEMA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


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
                set_field(custom, "input", _check_texts([get_field(custom, "input")], check)[0])
            else:
                raise UncheckableAnswer("a tool call has neither function arguments nor a custom tool's input")
    legacy = get_field(message, "function_call")
    if legacy is not None:
        set_field(legacy, "arguments", check_arguments(get_field(legacy, "arguments"), check))


def checked_copy(message: dict[str, Any], check: TextFn) -> dict[str, Any]:
    """A copy of the chat ``message`` with its tool calls checked; the caller's message (and its other fields, however
    deep) are left as they are."""
    try:
        fields = {k: copy.deepcopy(message[k]) for k in ("tool_calls", "function_call") if message.get(k) is not None}
    except RecursionError as exc:
        raise UncheckableAnswer("tool calls are nested too deeply to check") from exc
    checked = {**message, **fields}
    check_tool_calls(checked, check)
    return checked


def has_tool_calls(message: Any) -> bool:
    """Whether a chat message (or a streamed delta) carries tool calls (``tool_calls`` or the legacy
    ``function_call``)."""
    return bool(get_field(message, "tool_calls")) or get_field(message, "function_call") is not None


def withdraw_tool_calls(message: Any, refusal: str) -> None:
    """A refused answer calls no tool: drop the tool calls of ``message`` (in place) and make ``refusal`` its text."""
    if not has_tool_calls(message):
        return
    for key in ("tool_calls", "function_call"):
        if get_field(message, key) is not None:
            set_field(message, key, None)
    set_field(message, "content", refusal)


def check_arguments(arguments: Any, check: TextFn) -> Any:
    """Tool-call ``arguments`` checked: a JSON string (written back only if a text changed), other text as a whole,
    or an already parsed object or list. Repeated keys are refused (a reader would see one value, we another)."""
    if isinstance(arguments, dict | list):
        return _check_tree(arguments, check)
    if not isinstance(arguments, str):
        raise UncheckableAnswer(f"tool-call arguments are a {type(arguments).__name__}, not text")
    try:
        parsed = json.loads(arguments, object_pairs_hook=_unique_keys)
    except ValueError:
        return _check_texts([arguments], check)[0] if arguments else arguments
    except RecursionError as exc:
        raise UncheckableAnswer("tool-call arguments are nested too deeply to check") from exc
    if not isinstance(parsed, dict | list | str):
        return _check_texts([arguments], check)[0] if _identifier_like(parsed) else arguments
    checked = _check_tree(parsed, check)
    return arguments if checked == parsed else json.dumps(checked, ensure_ascii=False)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        repeated = sorted({k for k, _ in pairs if sum(1 for j, _ in pairs if j == k) > 1})
        raise UncheckableAnswer(f"tool-call arguments repeat the key(s) {repeated}")
    return obj


def _check_tree(tree: Any, check: TextFn) -> Any:
    texts: list[str] = []
    _collect(tree, texts, 0)
    if not texts:
        return tree
    return _rebuild(tree, iter(_check_texts(texts, check)))


def _check_texts(texts: list[str], check: TextFn) -> list[str]:
    """The texts checked together, one block each, when the blocks survive the check; all replaced by the result when
    it came back as one text (a blocked call's message); one by one when a redaction joined some of them. Text the
    guard cannot take (a lone surrogate) makes the arguments uncheckable."""
    try:
        if len(texts) > 1 and not any(SEPARATOR in t for t in texts):
            whole = check(SEPARATOR.join(texts))
            blocks = whole.split(SEPARATOR)
            if len(blocks) == len(texts):
                return blocks
            if len(blocks) == 1:  # replaced as a whole (blocked: the policy's message), not checked again
                return [whole] * len(texts)
        return [check(t) for t in texts]
    except InputError as exc:
        raise UncheckableAnswer(f"tool-call arguments hold text that cannot be checked: {exc}") from exc


def _collect(value: Any, texts: list[str], depth: int) -> None:
    """The texts of ``value`` to check, in the order ``_rebuild`` consumes them."""
    if depth > MAX_DEPTH:
        raise UncheckableAnswer("tool-call arguments are nested too deeply to check")
    if isinstance(value, dict):
        for key, item in value.items():
            if not _plain_key(key):
                texts.append(key)
            _collect(item, texts, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _collect(item, texts, depth + 1)
    elif isinstance(value, str) and value:
        texts.append(value)
    elif _identifier_like(value):
        texts.append(json.dumps(value))


def _rebuild(value: Any, checked: Iterator[str]) -> Any:
    """``value`` with its collected texts replaced, in order, by ``checked``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            new_key = key if _plain_key(key) else next(checked)
            if new_key in out:
                raise UncheckableAnswer("redacting the keys of tool-call arguments made two of them the same")
            out[new_key] = _rebuild(item, checked)
        return out
    if isinstance(value, list):
        return [_rebuild(item, checked) for item in value]
    if isinstance(value, str) and value:
        return next(checked)
    if _identifier_like(value):
        text = next(checked)
        return value if text == json.dumps(value) else text
    return value


def _plain_key(key: str) -> bool:
    """A key that is a field name of the tool's schema (an identifier with few digits), not data."""
    return bool(_SCHEMA_KEY.fullmatch(key)) and sum(c.isdigit() for c in key) < MIN_CHECKED_DIGITS


def _identifier_like(value: Any) -> bool:
    """A JSON number with enough digits to be a card, phone or account number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return sum(c.isdigit() for c in json.dumps(value)) >= MIN_CHECKED_DIGITS


def merge_tool_call_deltas(deltas: list[list[Any]]) -> list[dict[str, Any]]:
    """Whole tool calls from a stream's ``tool_calls`` deltas: the pieces of each call (by ``index``) joined into one,
    the fragments of its ``function.arguments`` (or ``custom.input``) concatenated, so the arguments can be checked."""
    calls: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        for piece in delta:
            if not isinstance(piece, dict) or type(piece.get("index")) is not int:
                raise UncheckableAnswer("a streamed tool call is not an object with an integer 'index'")
            call = calls.setdefault(piece["index"], {})
            for key, value in piece.items():
                if key in ("function", "custom") and isinstance(value, dict):
                    inner = call.setdefault(key, {})
                    for field, part in value.items():
                        if field not in ("arguments", "input"):
                            inner[field] = part
                        elif isinstance(part, str):
                            inner[field] = inner.get(field, "") + part
                        else:
                            raise UncheckableAnswer(f"a streamed tool call's {key}.{field} is not text")
                else:
                    call[key] = value
    return [calls[i] for i in sorted(calls)]


def checked_citations(annotations: Any, check: TextFn) -> Any:
    """An answer's citations (``annotations``: titles, URLs, file names) with their texts checked together as one
    text; when the check changes any of it, they are all dropped (a redacted URL cites nothing, and their offsets
    name text the caller no longer gets). Anything but a non-empty list is returned as it is."""
    if not isinstance(annotations, list) or not annotations:
        return annotations
    texts = [text for a in annotations for text in _citation_texts(a)]
    if not texts:
        return annotations
    joined = SEPARATOR.join(texts)
    return annotations if check(joined) == joined else []


def _citation_texts(value: Any) -> Iterator[str]:
    """Every string in a citation (a dict or an SDK object), its ``type`` names aside."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "type":
                yield from _citation_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _citation_texts(item)
    elif isinstance(value, str):
        yield value
