"""Load policies from YAML with errors that name the file, line and field; give each a content hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from guards.errors import PolicyError
from guards.policy.schema import PolicyModel
from guards.scanners.base import check_label_names, scanner_class
from guards.types import Action, PolicyRef

MAX_POLICY_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy with its source and content hash."""

    model: PolicyModel
    source: str
    document: str

    @property
    def ref(self) -> PolicyRef:
        """Name, version and content hash, carried by every Decision."""
        return PolicyRef(name=self.model.name, version=self.model.version, sha256=self.sha256)

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical form: formatting and comments do not change it, content does."""
        return hashlib.sha256(self.document.encode()).hexdigest()


def builtin_policies() -> list[str]:
    """Names of the policies shipped with ombud."""
    return sorted(
        p.name.removesuffix(".yaml") for p in resources.files("policies").iterdir() if p.name.endswith(".yaml")
    )


def load_policy(name_or_path: str | Path) -> Policy:
    """Load a shipped policy by name (``"default"``) or a policy file by path."""
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in builtin_policies():
        text = resources.files("policies").joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
        return parse_policy(text, source=f"policies/{name_or_path}.yaml")
    if path.is_dir():
        raise PolicyError(f"{path} is a directory, not a policy file")
    if not path.is_file():
        known = ", ".join(builtin_policies())
        raise PolicyError(f"no policy file at {str(path)!r} and no shipped policy of that name (shipped: {known})")
    if path.stat().st_size > MAX_POLICY_BYTES:
        raise PolicyError(f"{path}: policy file is larger than {MAX_POLICY_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: policy file is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return parse_policy(text, source=str(path))


MAX_POLICY_NODES = 100_000
"""A policy is a small document; a YAML "billion laughs" of nested aliases is refused before it is expanded."""


def parse_policy(text: str, *, source: str = "<string>") -> Policy:
    """Validate a policy document given as YAML text."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}) > MAX_POLICY_NODES:
            raise PolicyError(
                f"{source}: the policy expands to more than {MAX_POLICY_NODES:,} YAML nodes (aliases of aliases?)"
            )
        if node is not None:
            _check_duplicate_keys(node, source)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise PolicyError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy must be a YAML mapping with at least `name` and `scanners`")
    try:
        model = PolicyModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        raise PolicyError(
            f"{source}:{_line_of(node, loc)}: {field}: {first['msg']} (got {_short(first.get('input'))})"
        ) from exc
    _check_scanners(model, source, node)
    document = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return Policy(model=model, source=source, document=document)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` holds once every alias is expanded, counted without expanding (each node once);
    a node that contains itself counts as too many."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = MAX_POLICY_NODES + 1  # until counted: a cycle through it is refused
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = node.value if isinstance(node, yaml.SequenceNode) else []
    sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def _check_duplicate_keys(root: yaml.Node, source: str) -> None:
    """Refuse a mapping that names a key twice: YAML keeps the last one without a word, so ``action: block``
    followed by ``action: allow`` would allow. Each node is visited once, however many aliases share it."""
    seen: set[int] = set()
    stack = [root]
    while stack:  # depth first, in document order: the first duplicate is the one reported
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            _check_keys(node, source)
            stack.extend(reversed([child for pair in node.value for child in pair]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def _check_keys(node: yaml.MappingNode, source: str) -> None:
    """Refuse a key that ``node`` already holds (a scalar key of the same type and text)."""
    lines: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        line, name = key.start_mark.line + 1, (key.tag, key.value)
        if name in lines:
            raise PolicyError(
                f"{source}:{line}: duplicate key {key.value!r} (first at line {lines[name]}); YAML would silently keep "
                "only the last one"
            )
        lines[name] = line


def _check_scanners(model: PolicyModel, source: str, node: yaml.Node | None) -> None:
    """Checks that need the scanner registry: known types, known labels, redaction only where spans exist."""
    for index, spec in enumerate(model.scanners):
        where = f"{source}:{_line_of(node, ('scanners', index))}: scanners.{index}"
        try:
            cls = scanner_class(spec.type)
        except PolicyError as exc:
            raise PolicyError(f"{where}.type: {exc}") from None
        if cls.labels is not None:
            check_label_names(spec.labels, cls.labels, f"{where}.labels ({spec.type})")
        if not cls.spans:
            actions = {spec.action, *(spec.thresholds or {})}
            for rule in spec.labels.values():
                actions |= {a for a in (rule.action, *(rule.thresholds or {})) if a is not None}
            if Action.REDACT in actions:
                raise PolicyError(f"{where}: {spec.type} scores the whole text, so it cannot redact; use flag or block")


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
