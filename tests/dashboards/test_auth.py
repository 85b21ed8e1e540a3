"""Dashboard users: password hashing, the users file, trusted SSO headers, and the ``ombud dashboard`` commands."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest

from dashboards import auth, cli
from guards.cli import main

from .conftest import PASSWORDS


def test_hash_is_salted_and_verifies() -> None:
    first, second = auth.hash_password("s3cret!"), auth.hash_password("s3cret!")
    assert first != second and first.startswith("scrypt$") and "s3cret" not in first
    assert auth.verify_password("s3cret!", first) and not auth.verify_password("s3cret?", first)


def test_pbkdf2_hashes_are_accepted() -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 100_000)
    stored = f"pbkdf2_sha256$100000${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert auth.verify_password("pw", stored) and not auth.verify_password("px", stored)


@pytest.mark.parametrize("stored", ["", "plain-text", "scrypt$1$2", "md5$abc$def"])
def test_unreadable_hashes_never_match(stored: str) -> None:
    assert not auth.verify_password("anything", stored)


def test_users_file(users_file: Path) -> None:
    text = users_file.read_text()
    assert not [p for p in PASSWORDS.values() if p in text]
    assert auth.authenticate("arthur", PASSWORDS["arthur"], users_file) == auth.User("arthur", auth.Role.AUDITOR)
    assert auth.authenticate("olivia", PASSWORDS["olivia"], users_file) == auth.User("olivia", auth.Role.OFFICER)
    assert auth.authenticate("arthur", PASSWORDS["olivia"], users_file) is None
    assert auth.authenticate("nobody", "x", users_file) is None
    assert users_file.stat().st_mode & 0o777 == 0o600


def test_bad_users(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="user names"):
        auth.add_user(tmp_path / "u.toml", 'bad"name', role=auth.Role.OFFICER, password="x")
    bad = tmp_path / "bad.toml"
    bad.write_text('[users.eve]\nrole = "admin"\npassword = "x"\n')
    with pytest.raises(ValueError, match="eve"):
        auth.load_users(bad)


def test_roles() -> None:
    assert auth.Role.AUDITOR.can_review and auth.Role.AUDITOR.can_export
    assert not auth.Role.OFFICER.can_review and not auth.Role.OFFICER.can_export


HEADERS = {"X-Forwarded-User": "sam@example.org", "X-Forwarded-Groups": "staff, grc-auditors"}


@pytest.mark.parametrize(
    ("env", "headers", "expected"),
    [
        ({}, HEADERS, None),  # headers are ignored unless the operator trusts the proxy
        ({"OMBUD_DASHBOARD_TRUST_PROXY": "1"}, HEADERS, None),  # no group mapped to a role
        (
            {"OMBUD_DASHBOARD_TRUST_PROXY": "1", "OMBUD_DASHBOARD_GROUP_ROLES": "grc=officer,grc-auditors=auditor"},
            HEADERS,
            auth.User("sam@example.org", auth.Role.AUDITOR, via="sso"),
        ),
        (
            {"OMBUD_DASHBOARD_TRUST_PROXY": "true", "OMBUD_DASHBOARD_GROUP_ROLES": "staff=officer"},
            {"x-forwarded-user": "kim", "x-forwarded-groups": "staff"},
            auth.User("kim", auth.Role.OFFICER, via="sso"),
        ),
        (
            {
                "OMBUD_DASHBOARD_TRUST_PROXY": "1",
                "OMBUD_DASHBOARD_USER_HEADER": "X-Auth-Request-Email",
                "OMBUD_DASHBOARD_GROUPS_HEADER": "X-Auth-Request-Groups",
                "OMBUD_DASHBOARD_GROUP_ROLES": "grc=officer",
            },
            {"X-Auth-Request-Email": "lee@example.org", "X-Auth-Request-Groups": "grc"},
            auth.User("lee@example.org", auth.Role.OFFICER, via="sso"),
        ),
        ({"OMBUD_DASHBOARD_TRUST_PROXY": "1", "OMBUD_DASHBOARD_GROUP_ROLES": "staff=officer"}, {}, None),
    ],
)
def test_proxy_user(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], headers: dict[str, str], expected) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert auth.proxy_user(headers) == expected


def test_cli_add_user_and_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "users.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("pa55word\n"))
    assert main(["dashboard", "add-user", "dana", "--role", "auditor", "--users", str(path), "--password-stdin"]) == 0
    assert auth.authenticate("dana", "pa55word", path) == auth.User("dana", auth.Role.AUDITOR)
    monkeypatch.setattr("sys.stdin", io.StringIO("pa55word\n"))
    assert main(["dashboard", "hash-password", "--password-stdin"]) == 0
    assert auth.verify_password("pa55word", capsys.readouterr().out.splitlines()[-1])


def test_streamlit_command_binds_loopback() -> None:
    command = cli.streamlit_command(8600)
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8600"
    assert flags["--server.headless"] == "true" and flags["--browser.gatherUsageStats"] == "false"


def test_a_read_only_dashboard_refuses_a_log_it_cannot_read_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main(["dashboard", "--read-only", "--db", f"sqlite:///{missing}"]) == 2
    assert capsys.readouterr().err.strip() == f"ombud: error: no audit database at {missing}"
    assert not missing.exists()
