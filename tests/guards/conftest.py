"""Fixtures for guard tests: policies written on the fly, guards with an in-memory sink."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from guards import Guard, ListSink, parse_policy
from guards.policy import Policy


@pytest.fixture(scope="session")
def default_guard() -> Guard:
    """The shipped default policy, models loaded once for the whole session."""
    return Guard.from_policy("default").warmup()


@pytest.fixture
def make_policy() -> Callable[[str], Policy]:
    """Parse a policy from an indented YAML string."""

    def make(text: str) -> Policy:
        return parse_policy(textwrap.dedent(text), source="test.yaml")

    return make


@pytest.fixture
def make_guard(make_policy: Callable[[str], Policy]) -> Callable[..., tuple[Guard, ListSink]]:
    """A guard for a YAML policy string, recording into a fresh ListSink."""

    def make(text: str) -> tuple[Guard, ListSink]:
        sink = ListSink()
        return Guard(make_policy(text), audit=sink), sink

    return make
