"""Operators and the pseudonym vault."""

from __future__ import annotations

import threading

import pytest

from guards import PolicyError
from guards.actions import OperatorKeys, Operators, Vault, decrypt, new_encryption_key
from guards.policy.decide import Redaction
from guards.policy.schema import OperatorSettings

TEXT = "card 4111 1111 1111 1111 for Jane"


def _ops(salt: bytes | None = b"pepper", key: bytes | None = None) -> Operators:
    return Operators(OperatorSettings(), OperatorKeys(salt, key))


def _red(operator: str, start: int = 5, end: int = 24, label: str = "CREDIT_CARD") -> Redaction:
    return Redaction(start, end, label, operator, "pii")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("replace", "card <CREDIT_CARD> for Jane"),
        ("mask", "card **** **** **** 1111 for Jane"),
        ("remove", "card  for Jane"),
    ],
)
def test_simple_operators(operator: str, expected: str) -> None:
    assert _ops().apply(TEXT, [_red(operator)], None) == expected


def test_hash_is_keyed_and_stable() -> None:
    one = _ops(b"a").apply(TEXT, [_red("hash")], None)
    assert one == _ops(b"a").apply(TEXT, [_red("hash")], None)
    assert one != _ops(b"b").apply(TEXT, [_red("hash")], None)
    assert "4111" not in one and one.startswith("card <CREDIT_CARD:")


def test_encrypt_round_trips() -> None:
    key = new_encryption_key()
    out = _ops(key=key.encode()).apply(TEXT, [_red("encrypt")], None)
    token = out.split("enc:")[1].split(">")[0]
    assert "4111" not in out
    assert decrypt(token, key) == "4111 1111 1111 1111"


def test_missing_or_bad_keys_fail_at_load() -> None:
    with pytest.raises(PolicyError, match="salt"):
        _ops(salt=None).check_available({"hash"}, "p.yaml")
    with pytest.raises(PolicyError, match="needs a key"):
        _ops().check_available({"encrypt"}, "p.yaml")
    with pytest.raises(PolicyError, match="32 url-safe"):
        _ops(key=b"short").check_available({"encrypt"}, "p.yaml")


def test_overlapping_spans_merge_into_one() -> None:
    out = _ops().apply(TEXT, [_red("replace", 5, 14, "A"), _red("replace", 10, 24, "B")], None)
    assert out == "card <A> for Jane"


def test_vault_pseudonyms_are_stable_and_restorable_only_for_inputs() -> None:
    vault = Vault()
    jane = vault.pseudonym("PERSON", "Jane")
    assert vault.pseudonym("PERSON", "Jane") == jane == "<PERSON_1>"
    bob = vault.pseudonym("PERSON", "Bob", restorable=False)
    assert vault.restore(f"{jane} met {bob}; PERSON_1 again") == "Jane met <PERSON_2>; Jane again"
    assert "Jane" not in repr(vault)


def test_vault_is_thread_safe() -> None:
    vault = Vault()

    def worker(n: int) -> None:
        for i in range(200):
            vault.pseudonym("EMAIL", f"user{i}@x.org")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(vault) == 200
    assert vault.restore("<EMAIL_200>").endswith("@x.org")
