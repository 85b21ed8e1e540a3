"""The validated shape of a policy file: which scanners run, on which stages, with what thresholds and actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from guards.types import Action, Stage

OperatorName = Literal["replace", "mask", "hash", "encrypt", "pseudonymize", "remove"]
ErrorMode = Literal["block", "flag", "allow"]
MEDIA_SCANNER = "media"
"""The scanner name of decisions on content parts no scanner can read (the policy's ``media`` rule); reserved."""
Number = Annotated[float, Strict()]
"""A number as YAML writes one: ``yes`` (a boolean) or ``"0.5"`` (a string) is refused, never read as 1.0 or 0.5."""
Count = Annotated[int, Strict()]
"""A whole number as YAML writes one (not a boolean, a string or a fraction)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _thresholds_in_range(value: dict[Action, Number] | None) -> dict[Action, Number] | None:
    for action, threshold in (value or {}).items():
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold for {action.value!r} must be in [0, 1], got {threshold}")
    return value


class LabelRule(_Strict):
    """Overrides for one label (for PII: one entity type) of a scanner."""

    action: Action | None = None
    threshold: Number | None = Field(default=None, ge=0.0, le=1.0)
    thresholds: dict[Action, Number] | None = None
    operator: OperatorName | None = None

    _check_thresholds = field_validator("thresholds")(_thresholds_in_range)


class ScannerSpec(_Strict):
    """One scanner entry of a policy.

    A finding fires the strictest action whose threshold its score reaches: ``thresholds``
    (e.g. ``{flag: 0.5, block: 0.85}``) or the ``threshold`` + ``action`` shorthand.
    ``labels`` override any of these per label. ``roles`` limits the scanner, for prompts given as chat
    messages, to the messages of those roles (e.g. ``[user]``: an injection detector need not judge the
    application's own system prompt); text without a role is always scanned.
    """

    id: str = ""
    type: str
    enabled: bool = True
    stages: tuple[Stage, ...] = (Stage.INPUT, Stage.OUTPUT)
    roles: tuple[str, ...] | None = None
    action: Action = Action.FLAG
    threshold: Number = Field(default=0.5, ge=0.0, le=1.0)
    thresholds: dict[Action, Number] | None = None
    operator: OperatorName = "replace"
    labels: dict[str, LabelRule] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    on_error: ErrorMode | None = None
    timeout_ms: Number | None = Field(default=None, gt=0)

    _check_thresholds = field_validator("thresholds")(_thresholds_in_range)

    @model_validator(mode="after")
    def _default_id(self) -> ScannerSpec:
        if not self.id:
            object.__setattr__(self, "id", self.type)
        return self

    @field_validator("stages")
    @classmethod
    def _stages_not_empty(cls, value: tuple[Stage, ...]) -> tuple[Stage, ...]:
        if not value:
            raise ValueError("a scanner needs at least one stage (input, output)")
        return value

    @field_validator("roles")
    @classmethod
    def _roles_not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("roles, when given, must name at least one chat role (e.g. [user])")
        return value

    def scans(self, stage: Stage, role: str | None) -> bool:
        """Whether this scanner runs on a text of ``stage`` from a message of ``role`` (None: no role)."""
        return stage in self.stages and (role is None or self.roles is None or role in self.roles)


class OperatorSettings(_Strict):
    """Secrets and shapes for the text operators; secrets are read from the named environment variables."""

    hash_salt_env: str = "OMBUD_HASH_SALT"
    encryption_key_env: str = "OMBUD_ENCRYPTION_KEY"
    mask_char: str = Field(default="*", min_length=1, max_length=1)
    mask_keep_last: Count = Field(default=4, ge=0)


class AuditSettings(_Strict):
    """What the audit store keeps and for how long."""

    retention_days: Count = Field(default=183, ge=1)
    store_raw_text: bool = False
    on_error: ErrorMode = "block"


class FairnessSettings(_Strict):
    """Thresholds that turn fairness metrics into pass / fail findings."""

    min_group_size: Count = Field(default=30, ge=1)
    demographic_parity_ratio_min: Number = Field(default=0.8, ge=0.0, le=1.0)
    equalized_odds_difference_max: Number = Field(default=0.1, ge=0.0, le=1.0)


class PolicyModel(_Strict):
    """A whole policy document."""

    name: str = Field(min_length=1)
    version: str = "1"
    description: str = ""
    on_error: ErrorMode = "block"
    fail_fast: bool = True
    on_block: Literal["raise", "message"] = "raise"
    block_message: str = "Sorry, I can't help with that request."
    restore_pseudonyms: bool = True
    media: ErrorMode = "block"
    """Chat content parts without text (images, audio, files), which no scanner can read: block the message (fail
    closed), flag it (pass them on and record it) or allow them silently."""
    scanners: tuple[ScannerSpec, ...]
    operators: OperatorSettings = OperatorSettings()
    audit: AuditSettings = AuditSettings()
    fairness: FairnessSettings = FairnessSettings()

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicyModel:
        seen: set[str] = set()
        for spec in self.scanners:
            if spec.id == MEDIA_SCANNER:
                raise ValueError(f"the scanner id {MEDIA_SCANNER!r} is reserved for the `media` rule's decisions")
            if spec.id in seen:
                raise ValueError(f"two scanners share the id {spec.id!r}: give each an explicit `id`")
            seen.add(spec.id)
        return self
