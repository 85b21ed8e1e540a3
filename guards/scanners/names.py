"""Person names announced by the text itself, which the small spaCy model often labels as an organisation or a
place ("Hi, my name is Camila Castillo", "Thanks, Ji-yeon Park", "Dear Mr. Okafor").

Only the name is reported (the pattern's ``value`` group), never the cue; identity terms are not names.
"""

from __future__ import annotations

import regex

from guards.models.identities import IDENTITIES
from guards.scanners.custom import CustomEntity

_TOKEN = r"[A-ZÀ-Þ][a-zà-ÿ'’]+(?:-[A-Za-zÀ-ÿ][a-zà-ÿ'’]+)?"  # "Lena", "O'Neil", "Ji-yeon"
_INITIAL = r"[A-Z]\.?"
_NOT_IDENTITY = r"(?!(?i:" + "|".join(regex.escape(i) for i in sorted(IDENTITIES, key=len, reverse=True)) + r")\b)"
_NAME = rf"{_NOT_IDENTITY}{_TOKEN}(?:[ ](?:{_TOKEN}|{_INITIAL})){{0,3}}"
_FULL_NAME = rf"{_NOT_IDENTITY}{_TOKEN}(?:[ ](?:{_TOKEN}|{_INITIAL})){{1,3}}"  # first and last name at least
_TITLE = r"(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof)"
_SIGN_OFF = r"thanks|thank you|regards|kind regards|best regards|best|cheers|sincerely|yours"
_GENERIC = rf"(?!(?:{_TITLE}|Sir|Madam|Customer|Team|All|Friend|Friends|Colleague|Colleagues|Support|Everyone)\b)"
_LINE_START = r"(?:^|(?<=[.!?\n])\s*)"  # a sign-off or an introduction opens its sentence
_SENTENCE_START = rf"(?:{_LINE_START}|\b(?i:hi|hello|hey|good morning|good afternoon)[,!]?\s+)"
_END = r"(?=\s*(?:$|\n|[.!,;:)]))"

PERSON_CUES = CustomEntity(
    label="PERSON",
    patterns=(
        (regex.compile(rf"\b(?i:my name is|my name's|call me)\s+(?P<value>{_NAME})"), 0.85),
        (regex.compile(rf"{_SENTENCE_START}(?i:this is|i am|i'm)\s+(?P<value>{_FULL_NAME}){_END}"), 0.75),
        (regex.compile(rf"\b{_TITLE}\.?\s+(?P<value>{_NAME})"), 0.75),
        (regex.compile(rf"\b(?i:dear)\s+{_GENERIC}(?P<value>{_NAME}){_END}"), 0.7),
        (
            regex.compile(
                rf"{_LINE_START}(?i:{_SIGN_OFF})[,!.]?\s+"
                rf"{_GENERIC}(?P<value>{_NAME})\s*$"
            ),
            0.7,
        ),
    ),
)
