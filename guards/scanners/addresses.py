"""Street addresses, which presidio does not recognise: house numbers with street words, and unit designators.

Built on the same custom-entity machinery as policy-declared entities; covers common English, Romance,
Germanic, Nordic and Slavic street forms.
"""

from __future__ import annotations

import re

from guards.scanners.custom import CustomEntity

_SUFFIX = (
    r"Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|Way|Court|Ct\.?|Place|Pl\.?"
    r"|Terrace|Circle|Cir\.?|Highway|Hwy\.?|Parkway|Pkwy\.?|Square|Sq\.?|Crescent|Close|Row|Trail|Gardens"
)
_PREFIX = r"Avenida|Avenue|Rue|Calle|C/|Via|Viale|Rua|Strada|Chemin|Boulevard|Plaza|Praça|Piazza|ul\.|Al\.|Carrer"
_NATIVE = r"\w+(?:stra(?:ss|ß)e|str\.|gata|gatan|gate|vej|vei|weg|gasse|laan|straat|katu|utca|tee|iela|gatve)"
_WORD = r"[A-ZÀ-Þ][\w'’.-]*"
_NAME = rf"{_WORD}(?:[ -](?:{_WORD}|de|des|del|la|le|da|do|di|van|von))*"
_NUMBER = r"\d{1,6}[A-Za-z]?"
_UNIT = r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor|Fl\.)\s?#?\s?\d{1,5}[A-Za-z]?"

STREET_ADDRESS = CustomEntity(
    label="STREET_ADDRESS",
    patterns=(
        (re.compile(rf"\b{_NUMBER}(?:\s+{_WORD}){{1,4}}\s+(?:{_SUFFIX})(?!\w)(?:,?\s+{_UNIT})?"), 0.7),
        (re.compile(rf"(?<!\w)(?i:{_PREFIX})\s+{_NAME}(?:,?\s+{_NUMBER}\b)?(?:,?\s+{_UNIT})?"), 0.55),
        (re.compile(rf"\b{_NATIVE}\s+{_NUMBER}\b(?:,?\s+{_UNIT})?", re.IGNORECASE), 0.65),
        (re.compile(rf"\b{_UNIT}\b"), 0.5),
    ),
    context=("address", "live", "lives", "street", "deliver", "ship", "located", "mail to", "moved to"),
)
