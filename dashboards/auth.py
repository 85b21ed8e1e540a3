"""Dashboard access control: operator-configured users with hashed passwords, roles, and trusted SSO headers.

Users live in a TOML file named by ``OMBUD_DASHBOARD_USERS`` (``ombud dashboard add-user`` writes it)::

    [users.alice]
    role = "auditor"                       # officer: read; auditor: also record feedback and export
    password = "scrypt$16384$8$1$<salt>$<hash>"

Behind an SSO reverse proxy (oauth2-proxy, ...), ``OMBUD_DASHBOARD_TRUST_PROXY=1`` makes the dashboard take the user
from ``X-Forwarded-User`` and the role from ``X-Forwarded-Groups`` through ``OMBUD_DASHBOARD_GROUP_ROLES``
(``"grc-auditors=auditor,grc=officer"``); see ``docs/dashboard.md``.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import logging
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

USERS_ENV = "OMBUD_DASHBOARD_USERS"
TRUST_PROXY_ENV = "OMBUD_DASHBOARD_TRUST_PROXY"
USER_HEADER_ENV = "OMBUD_DASHBOARD_USER_HEADER"
GROUPS_HEADER_ENV = "OMBUD_DASHBOARD_GROUPS_HEADER"
GROUP_ROLES_ENV = "OMBUD_DASHBOARD_GROUP_ROLES"
DEFAULT_USER_HEADER = "X-Forwarded-User"
DEFAULT_GROUPS_HEADER = "X-Forwarded-Groups"

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
BAD_NAME = "user names are 1-64 letters, digits or . _ @ -"
NO_USERS = (
    "No dashboard users are configured. Ask the operator to run `ombud dashboard add-user NAME --role officer` "
    f"and to start the dashboard with `--users FILE` (or ${USERS_ENV})."
)


READ_ONLY_ENV = "OMBUD_DASHBOARD_READ_ONLY"
"""Set to 1 (``ombud dashboard --read-only``) to browse a log without writing to it: an evidence copy on
write-protected media, or a database role that may only read. No one can record feedback then."""


def read_only() -> bool:
    """Whether the dashboard opens its store read-only (``$OMBUD_DASHBOARD_READ_ONLY``)."""
    return os.environ.get(READ_ONLY_ENV, "").strip().lower() not in ("", "0", "false", "no")


class Role(enum.StrEnum):
    """What a user may do: officers read; auditors also record reviewer feedback and export reports."""

    OFFICER = "officer"
    AUDITOR = "auditor"

    @property
    def can_review(self) -> bool:
        """May record reviewer feedback on decisions."""
        return self is Role.AUDITOR

    @property
    def can_export(self) -> bool:
        """May generate and download report bundles."""
        return self is Role.AUDITOR


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in dashboard user."""

    name: str
    role: Role
    via: str = "password"


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the users-file format ``scrypt$N$r$p$salt$hash``."""
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (scrypt or ``pbkdf2_sha256$iterations$salt$hash``)."""
    try:
        scheme, *fields = stored.split("$")
        if scheme == "scrypt":
            n, r, p, salt, expected = fields
            digest = hashlib.scrypt(
                password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
            )
        elif scheme == "pbkdf2_sha256":
            iterations, salt, expected = fields
            digest = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
        else:
            return False
        return hmac.compare_digest(digest, base64.b64decode(expected))
    except (ValueError, TypeError):
        log.warning("unreadable password hash in the dashboard users file")
        return False


_DUMMY_HASH = hash_password(secrets.token_hex(8))


@dataclass(frozen=True, slots=True)
class _Account:
    role: Role
    password: str


def load_users(path: str | Path) -> dict[str, _Account]:
    """The accounts of a users file; raises ``ValueError`` naming the first invalid entry."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    accounts: dict[str, _Account] = {}
    for name, entry in data.get("users", {}).items():
        try:
            accounts[name] = _Account(Role(entry["role"]), str(entry["password"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: user {name!r} needs role = officer|auditor and a password hash") from exc
    return accounts


def users_file() -> Path | None:
    """The users file named by ``OMBUD_DASHBOARD_USERS``, if set."""
    value = os.environ.get(USERS_ENV)
    return Path(value) if value else None


def authenticate(name: str, password: str, path: str | Path) -> User | None:
    """The user when ``name``/``password`` match the users file, else None (same work either way)."""
    account = load_users(path).get(name)
    ok = verify_password(password, account.password if account else _DUMMY_HASH)
    if account is None or not ok:
        log.info("dashboard login failed for %r", name)
        return None
    log.info("dashboard login: %s (%s)", name, account.role)
    return User(name, account.role)


def add_user(path: str | Path, name: str, *, role: Role, password: str) -> None:
    """Add or replace ``name`` in the users file (created if missing), storing only the password hash."""
    if not _NAME.match(name):
        raise ValueError(BAD_NAME)
    file = Path(path)
    accounts = load_users(file) if file.exists() else {}
    accounts[name] = _Account(role, hash_password(password))
    lines = ["# ombud dashboard users (written by `ombud dashboard add-user`; passwords are scrypt hashes)"]
    for user, account in sorted(accounts.items()):
        lines += ["", f'[users."{user}"]', f'role = "{account.role.value}"', f'password = "{account.password}"']
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    file.chmod(0o600)


def proxy_user(headers: Mapping[str, str]) -> User | None:
    """The user a trusted SSO proxy names in the request headers, when ``OMBUD_DASHBOARD_TRUST_PROXY`` is on.

    The role is the highest one any of the user's groups maps to; a user with no mapped group gets no access.
    """
    if os.environ.get(TRUST_PROXY_ENV, "").lower() not in ("1", "true", "yes"):
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    name = lowered.get(os.environ.get(USER_HEADER_ENV, DEFAULT_USER_HEADER).lower(), "").strip()
    if not name:
        return None
    groups = {
        g.strip() for g in lowered.get(os.environ.get(GROUPS_HEADER_ENV, DEFAULT_GROUPS_HEADER).lower(), "").split(",")
    }
    roles = set()
    for pair in os.environ.get(GROUP_ROLES_ENV, "").split(","):
        group, _, role = pair.partition("=")
        if group.strip() in groups and role.strip() in Role.__members__.values():
            roles.add(Role(role.strip()))
    if not roles:
        log.info("SSO user %r has no group mapped to a dashboard role", name)
        return None
    return User(name, Role.AUDITOR if Role.AUDITOR in roles else Role.OFFICER, via="sso")
