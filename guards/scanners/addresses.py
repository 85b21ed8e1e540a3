"""Street addresses, which presidio does not recognise: house numbers with street words, and unit designators.

Built on the same custom-entity machinery as policy-declared entities; covers common English, Romance,
Germanic, Nordic, Finnish, Hungarian and Slavic street forms, post office boxes and US military mail addresses.
"""

from __future__ import annotations

import regex

from guards.scanners.custom import CustomEntity

_SUFFIX = (
    r"Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|Way|Court|Ct\.?|Place|Pl\.?"
    r"|Terrace|Circle|Cir\.?|Highway|Hwy\.?|Parkway|Pkwy\.?|Square|Sq\.?|Crescent|Close|Row|Trail|Gardens"
)
_PREFIX = r"Avenida|Avenue|Rue|Calle|C/|Viale|Rua|Strada|Chemin|Boulevard|Plaza|Praça|Piazza|ul\.|Al\.|Carrer"
# A street type before the name; "Via" capitalised only: lower-case "via" is the English preposition ("via email").
_LEAD = rf"(?:(?i:{_PREFIX})|Via)"
_NATIVE = (
    r"\w+(?:stra(?:ss|ß)e|str\.|gata|gatan|gate|vej|vei|weg|gasse|laan|straat|katu|utca|iela|gatve"
    r"|tie|kuja|polku|gade|stræde|vænget|vägen|väg|veien|vegen|stien|stræti|straeti|braut|allee|platz|plein|gracht)"
)
# Street types written as a word of their own after the name ("Villacher Strasse 89", "Erzsébet tér 19.").
_TYPE_WORD = (
    r"Stra(?:ss|ß)e|Str\.|Allee|Platz|Gasse|Weg|utca|u\.|út|útja|tér|körút|kapu|ulica|ul\.|náměstí|gade|vej|gate|gata"
    r"|gatan|vei|veien|vägen|baan|tee|mnt\.?"
)
_WORD = r"[A-ZÀ-Þ][\w'’.-]*"
_PARTICLE = r"de|des|del|la|le|da|do|di|van|von"
# At most five words: a bounded name keeps every pattern linear in the text's length (an unbounded chain of
# capitalised words before a street type that never comes is quadratic).
_NAME = rf"(?:(?:{_PARTICLE})\s+){{0,2}}{_WORD}(?:[ -](?:{_WORD}|{_PARTICLE})){{0,4}}"
_NUMBER = r"\d{1,6}[A-Za-z]?"
_UNIT = r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor|Fl\.)\s?#?\s?\d{1,5}[A-Za-z]?"
_HOUSE = r"(?:\d{1,6}[A-Za-z]?\s+)?"  # a house number written before a street that puts its number after
# Post office boxes ("P.O. Box 242") and US military mail: "PSC 1234, Box 5678" / "Unit 1234 Box 5678", then
# "APO AE 09012"; ships: "USNS Name, FPO AP 96612".
_BOX = (
    r"\b(?:P\.?\s?O\.?\s+Box\s+\d{1,6}|(?:PSC|CMR|Unit)\s+\d{3,5},?\s+Box\s+\d{3,5}|(?:USNS|USS|USCGC)\s+[A-Z][a-z]+)"
    r"(?:,?\s+(?:APO|FPO|DPO)\s+A[AEP]\s+\d{5})?"
)

STREET_ADDRESS = CustomEntity(
    label="STREET_ADDRESS",
    patterns=(
        (regex.compile(rf"\b{_NUMBER}(?:\s+{_WORD}){{1,4}}\s+(?:{_SUFFIX})(?!\w)(?:,?\s+{_UNIT})?"), 0.7),
        (regex.compile(rf"(?<!\w){_HOUSE}{_LEAD}\s+{_NAME}(?:,?\s+{_NUMBER}\b)?(?:,?\s+{_UNIT})?"), 0.55),
        (regex.compile(rf"\b{_HOUSE}{_NATIVE}\s+{_NUMBER}\b\.?(?:,?\s+{_UNIT})?", regex.IGNORECASE), 0.65),
        (regex.compile(rf"\b{_HOUSE}{_NAME}\s+(?:{_TYPE_WORD})\s+{_NUMBER}\b\.?(?:,?\s+{_UNIT})?"), 0.6),
        (regex.compile(_BOX), 0.6),
        (regex.compile(rf"\b{_UNIT}\b"), 0.5),
    ),
    context=("address", "live", "lives", "street", "deliver", "ship", "located", "mail to", "moved to"),
)
