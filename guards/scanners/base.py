"""The scanner protocol and the registry that builds scanners by type name from a policy."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, ClassVar, Protocol, runtime_checkable

from guards.errors import PolicyError
from guards.types import Stage, Verdict

ParamTypes = Mapping[str, type | tuple[type, ...]]
"""A scanner's params and the types each accepts."""
_YAML_NAMES = {
    bool: "true or false",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


@dataclass(frozen=True, slots=True)
class ScanContext:
    """What a scanner may know about the text it scans, besides the text."""

    stage: Stage = Stage.INPUT


@runtime_checkable
class Scanner(Protocol):
    """Detects; never decides. Returns scores and findings in [0, 1] and holds no thresholds."""

    id: str

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        """Scan one text."""
        ...


@runtime_checkable
class BatchScanner(Scanner, Protocol):
    """A scanner that scores many texts at once (classifier scanners)."""

    def score_batch(self, texts: Sequence[str]) -> list[Verdict]:
        """Scan many texts in one batched pass."""
        ...


class ScannerBase:
    """Shared plumbing for scanners: the id and typed parameters from the policy.

    Subclasses set ``type_name``, ``labels`` (the labels they can emit, for policy validation), ``params_types``,
    ``spans`` (whether findings locate text, so REDACT is meaningful), ``normalizes`` (its redactions are
    applied before later scanners run, so they scan the cleaned text) and implement ``scan``.
    """

    type_name: ClassVar[str]
    labels: ClassVar[frozenset[str] | None] = None
    spans: ClassVar[bool] = True
    normalizes: ClassVar[bool] = False
    params_types: ClassVar[ParamTypes | None] = None
    """Every param the scanner reads, with the types it accepts (see ``check_params``)."""

    def __init__(self, scanner_id: str, params: Mapping[str, Any] | None = None) -> None:
        self.id = scanner_id
        self.params: Mapping[str, Any] = dict(params or {})

    @property
    def size_limit(self) -> int | None:
        """The length past which this scanner reports a text whatever it holds (hygiene's ``max_chars``), if any: a
        stream is checked whole as soon as it grows past it, not only at its end."""
        return None

    def score_batch(self, texts: Sequence[str]) -> list[Verdict]:
        """Scan many texts one after another (classifier scanners override this with a real batch)."""
        ctx = ScanContext()
        return [self.scan(t, ctx) for t in texts]

    def scan(self, text: str, ctx: ScanContext) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_params(self) -> None:
        """Refuse params the scanner does not read (a typo would silently keep the default) or of the wrong type,
        by ``params_types``; a scanner class that declares none (e.g. a plug-in's) is not checked here."""
        types = self.params_types
        if types is None:
            return
        unknown = sorted(set(self.params) - set(types))
        if unknown:
            raise PolicyError(f"scanner {self.id!r}: unknown params {unknown} (known: {', '.join(sorted(types))})")
        for key, value in self.params.items():
            accepted = types[key]
            expected: tuple[type, ...] = accepted if isinstance(accepted, tuple) else (accepted,)
            if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
                names = " or ".join(dict.fromkeys(_YAML_NAMES.get(t, t.__name__) for t in expected))
                raise PolicyError(f"scanner {self.id!r}: params.{key} must be {names}, not {value!r}")

    def validate(self) -> None:
        """Check the policy's params cheaply at guard construction; raise PolicyError when they are wrong.
        Subclasses that check more call ``super().validate()`` (the names and types of ``check_params``)."""
        self.check_params()

    def warmup(self) -> None:
        """Load models now instead of on the first scan; idempotent and cheap once loaded (no-op for patterns)."""

    def known_labels(self) -> frozenset[str] | None:
        """The labels this scanner can report (``None``: not known); may load its model (see ``Guard.warmup``)."""
        return self.labels


def _close_labels(name: str, known: Collection[str]) -> list[str]:
    """The known labels ``name`` most likely meant: the same letters in another case, else the closest spellings."""
    return [k for k in known if k.lower() == name.lower()] or get_close_matches(name, known, n=2)


def check_label_names(names: Iterable[object], known: Collection[str], where: str) -> None:
    """Raise ``PolicyError`` at ``where`` if any of ``names`` is not in ``known``: a misspelt label never matches
    (nor does a number where a label belongs)."""
    unknown = sorted({str(name) for name in names if name not in known})
    if not unknown:
        return
    hints = [f"{name} → {', '.join(close)}" for name in unknown if (close := _close_labels(name, known))]
    shown = f"known: {sorted(known)}" if len(known) <= 12 else f"{len(known)} known"
    advice = f"; did you mean {'; '.join(hints)}" if hints else ""
    raise PolicyError(f"{where}: unknown label(s) {unknown} ({shown}){advice}")


@dataclass(frozen=True, slots=True)
class ScannerType:
    """A registered scanner type: where its class lives, imported only when a policy uses it."""

    name: str
    target: str
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> type[ScannerBase]:
        """Import and return the scanner class."""
        module_name, _, class_name = self.target.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(cls, type) and issubclass(cls, ScannerBase)):
            raise PolicyError(f"scanner type {self.name!r} points at {self.target}, which is not a ScannerBase")
        return cls


_REGISTRY: dict[str, ScannerType] = {}


def register(name: str, target: str, description: str = "") -> None:
    """Register a scanner type by name, lazily: ``target`` is ``"module:Class"``."""
    _REGISTRY[name] = ScannerType(name=name, target=target, description=description)


def scanner_types() -> Mapping[str, ScannerType]:
    """Every registered scanner type by name."""
    return dict(_REGISTRY)


def scanner_class(name: str) -> type[ScannerBase]:
    """The class registered under ``name``; PolicyError naming the known types otherwise."""
    try:
        entry = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise PolicyError(f"unknown scanner type {name!r} (known: {known})") from None
    return entry.load()


ScannerFactory = Callable[[str, Mapping[str, Any]], ScannerBase]

register("hygiene", "guards.scanners.hygiene:HygieneScanner", "invisible/bidi Unicode, control bytes, oversize")
register("pii", "guards.scanners.pii:PiiScanner", "personal data with presidio + spaCy and custom entities")
register("secrets", "guards.scanners.secrets:SecretsScanner", "API keys, tokens, private keys, passwords")
register("regex", "guards.scanners.patterns:PatternScanner", "custom regex patterns and deny-lists")
register("toxicity", "guards.scanners.classifiers:ToxicityScanner", "toxic, hateful, offensive text")
register("bias", "guards.scanners.classifiers:BiasScanner", "text that stereotypes a social group")
register("injection", "guards.scanners.classifiers:InjectionScanner", "prompt injection and jailbreaks")
register("topics", "guards.scanners.topics:TopicScanner", "closeness to topics the policy describes by example")
