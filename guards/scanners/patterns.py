"""The ``regex`` scanner: custom entities from the policy, without an NLP model."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

from guards.scanners.base import ParamTypes, ScanContext, ScannerBase
from guards.scanners.custom import CustomEntity, parse_custom_entities
from guards.types import Verdict


class PatternScanner(ScannerBase):
    """Finds the policy's ``params.entities`` (each: ``label``, ``patterns``, ``deny_list``, ``context``)."""

    type_name = "regex"
    params_types: ClassVar[ParamTypes] = {"entities": list}

    @cached_property
    def entities(self) -> tuple[CustomEntity, ...]:
        """The compiled custom entities."""
        return parse_custom_entities(self.params.get("entities", []), f"scanner {self.id!r}: params.entities")

    def validate(self) -> None:
        """Check the params and compile the patterns now, so that bad ones fail at policy load."""
        super().validate()
        _ = self.entities

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        """Every match of every custom entity."""
        return Verdict.of(self.id, [f for entity in self.entities for f in entity.find(text)])
