"""The identity terms (gender, sexuality, religion, ethnicity, age, disability) that fairness work keys on."""

from __future__ import annotations

import re

IDENTITIES: tuple[str, ...] = (
    "gay", "lesbian", "bisexual", "transgender", "trans", "queer", "nonbinary", "straight", "heterosexual",
    "homosexual", "lgbt", "lgbtq", "muslim", "jewish", "christian", "catholic", "protestant", "buddhist",
    "hindu", "sikh", "atheist", "mormon", "black", "white", "asian", "latino", "latina", "latinx", "hispanic",
    "african american", "african", "european", "mexican", "chinese", "japanese", "indian", "arab",
    "middle eastern", "native american", "american", "canadian", "immigrant", "old", "elderly", "young",
    "teenage", "middle aged", "millennial", "blind", "deaf", "disabled", "autistic", "male", "female",
    "man", "woman", "feminist",
)  # fmt: skip

IDENTITY_RE = re.compile(r"\b(" + "|".join(sorted((re.escape(i) for i in IDENTITIES), key=len, reverse=True)) + r")\b")
