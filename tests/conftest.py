"""Shared test set-up: never touch the network, and share loaded guards across the session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from hypothesis import settings

# Property tests draw the same examples on every run, so a pass or a failure is reproducible; explore new ones with
# HYPOTHESIS_PROFILE=explore (and pin what it finds with @example).
settings.register_profile("reproducible", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))
