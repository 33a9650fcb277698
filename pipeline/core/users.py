"""The site's users: who may watch which cameras, and who may change things.

A user has a role, ``admin`` (watches everything and changes zones, events and
users) or ``viewer`` (watches live and recorded, reads events; of every camera
or only of those listed), a password and any number of API tokens. They live
in one JSON file beside the events (``[web] users_file``), mode 0600, written
by ``files.replace_file`` under ``files.one_writer``; ``rabbitcam users`` edits
it and the streamer reads it again when it changes.

- Passwords are kept as scrypt hashes (``hashlib.scrypt``: memory-hard, n=2^14,
  r=8, p=1, 16 random bytes of salt), never as text.
- API tokens are random (32 bytes), shown once when made, and kept as SHA-256
  digests: a token is already a long random secret, so a fast digest is enough
  and a script's every request does not pay for scrypt.
- The file also keeps the secret that signs the streamer's session cookies,
  made when the file is; ``rabbitcam users rotate-secret`` logs everyone out.
- A change of password changes the user's ``generation``: sessions signed
  before it no longer hold.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.core.files import one_writer, replace_file

ROLES = ("admin", "viewer")
USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
MOST_USERS = 1000
MOST_TOKENS_PER_USER = 20
SHORTEST_PASSWORD = 8
LONGEST_PASSWORD = 1024  # scrypt's cost does not grow with it, but nothing needs more
MOST_FILE_BYTES = 4 * 1024 * 1024
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
TOKEN_PREFIX = "rct_"


class UserError(ValueError):
    """A change of the users that cannot be made (a name taken, a short password)."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT["n"], SCRYPT["r"], SCRYPT["p"])
    return "scrypt${n}${r}${p}${salt}${digest}".format(
        **SCRYPT, salt=_b64(salt), digest=_b64(digest)
    )


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant time)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt" or len(password) > LONGEST_PASSWORD:
            return False
        offered = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(offered, _unb64(digest))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt parameters out of range")
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p,
        maxmem=256 * 1024 * 1024, dklen=32,
    )  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password: str = ""  # the scrypt hash; empty: no password login (tokens only)
    cameras: tuple[str, ...] | None = None  # None: every camera
    tokens: tuple[tuple[str, str], ...] = ()  # (token name, SHA-256 of the token)
    generation: int = 0  # raised when the password changes: older sessions end

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def visible_cameras(self) -> tuple[str, ...] | None:
        """The cameras this user may see; None: every one."""
        return None if self.is_admin else self.cameras

    def may_see(self, camera: str) -> bool:
        return self.visible_cameras is None or camera in self.visible_cameras

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "password": self.password,
                "cameras": None if self.cameras is None else list(self.cameras),
                "tokens": [{"name": n, "sha256": d} for n, d in self.tokens],
                "generation": self.generation}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> User:
        if not isinstance(data, dict):
            raise ValueError("a user must be an object")
        name, role = data.get("name"), data.get("role")
        if not isinstance(name, str) or not USER_NAME_PATTERN.fullmatch(name):
            raise ValueError(f"user name {name!r} must match {USER_NAME_PATTERN.pattern}")
        if role not in ROLES:
            raise ValueError(f"user {name}: role must be one of {', '.join(ROLES)}")
        cameras = data.get("cameras")
        if cameras is not None and not (
            isinstance(cameras, list) and all(isinstance(c, str) for c in cameras)
        ):
            raise ValueError(f"user {name}: cameras must be a list of camera ids or null")
        tokens = data.get("tokens") or []
        if not isinstance(tokens, list) or not all(
            isinstance(t, dict) and isinstance(t.get("name"), str)
            and isinstance(t.get("sha256"), str) for t in tokens
        ):  # fmt: skip
            raise ValueError(f"user {name}: tokens must be a list of {{name, sha256}}")
        password, generation = data.get("password", ""), data.get("generation", 0)
        if not isinstance(password, str) or not isinstance(generation, int):
            raise ValueError(f"user {name}: password and generation must be a string and a number")
        return cls(name, role, password, None if cameras is None else tuple(cameras),
                   tuple((t["name"], t["sha256"]) for t in tokens), generation)  # fmt: skip


@dataclass(frozen=True)
class Users:
    """The users file as read: its users and the secret that signs sessions."""

    users: dict[str, User] = field(default_factory=dict)
    secret: str = ""

    def get(self, name: str) -> User | None:
        return self.users.get(name)

    def by_token(self, token: str) -> User | None:
        """The user an API token belongs to (every token compared, in constant time)."""
        offered = token_digest(token)
        found = None
        for user in self.users.values():
            for _name, digest in user.tokens:
                if hmac.compare_digest(offered, digest):
                    found = user
        return found

    def check_password(self, name: str, password: str) -> User | None:
        """The user, if ``password`` is theirs. An unknown name costs the same scrypt,
        so the time taken does not say which names exist."""
        user = self.users.get(name)
        if user is None or not user.password:
            password_matches(password, DUMMY_HASH)
            return None
        return user if password_matches(password, user.password) else None


DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + _b64(bytes(32))


def read_users(path: Path) -> Users:
    """The users in ``path``; no file: no users. ValueError naming what is wrong."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Users()
    if len(raw) > MOST_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MOST_FILE_BYTES} bytes")
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("users", []), list):
            raise ValueError("must be an object with a list of users")
        users = [User.from_json(item) for item in data.get("users", [])]
        secret = data.get("secret", "")
        if not isinstance(secret, str):
            raise ValueError("secret must be a string")
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{path}: {error}") from None
    return Users({user.name: user for user in users}, secret)


def _write(path: Path, users: Users) -> None:
    data = {"secret": users.secret, "users": [u.to_json() for u in users.users.values()]}
    replace_file(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"), new_mode=0o600)


class UserFile:
    """Changes to the users file: each a read, a change and a write under one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Users:
        return read_users(self.path)

    def _change(self, change: Any) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with one_writer(self.path):
            users = read_users(self.path)
            if not users.secret:
                users = replace(users, secret=secrets.token_urlsafe(32))
            table = dict(users.users)
            result = change(table)
            if len(table) > MOST_USERS:
                raise UserError(f"a site has at most {MOST_USERS} users")
            _write(self.path, replace(users, users=table))
            return result

    def add(self, name: str, role: str, password: str = "",
            cameras: tuple[str, ...] | None = None) -> None:  # fmt: skip
        _check_name(name)
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if password:
            _check_password(password)

        def add(table: dict[str, User]) -> None:
            if name in table:
                raise UserError(f"user {name!r} exists already")
            table[name] = User(name, role, hash_password(password) if password else "",
                               None if role == "admin" else cameras)  # fmt: skip

        self._change(add)

    def add_first_admin(self, name: str, password: str) -> bool:
        """An admin, only when the file has no user yet (two streamers starting at
        once make one); whether it was made."""

        def add(table: dict[str, User]) -> bool:
            if table:
                return False
            table[name] = User(name, "admin", hash_password(password))
            return True

        return self._change(add)

    def remove(self, name: str) -> None:
        def remove(table: dict[str, User]) -> None:
            _existing(table, name)
            del table[name]

        self._change(remove)

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)

        def change(table: dict[str, User]) -> None:
            user = _existing(table, name)
            table[name] = replace(user, password=hash_password(password),
                                  generation=user.generation + 1)  # fmt: skip

        self._change(change)

    def set_access(self, name: str, role: str, cameras: tuple[str, ...] | None) -> None:
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")

        def change(table: dict[str, User]) -> None:
            user = _existing(table, name)
            table[name] = replace(user, role=role, cameras=None if role == "admin" else cameras,
                                  generation=user.generation + 1)  # fmt: skip

        self._change(change)

    def add_token(self, name: str, token_name: str) -> str:
        """A new API token for user ``name``; returned once, kept only as its digest."""
        if not USER_NAME_PATTERN.fullmatch(token_name):
            raise UserError(f"a token's name must match {USER_NAME_PATTERN.pattern}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)

        def change(table: dict[str, User]) -> None:
            user = _existing(table, name)
            if any(existing == token_name for existing, _ in user.tokens):
                raise UserError(f"user {name!r} has a token named {token_name!r} already")
            if len(user.tokens) >= MOST_TOKENS_PER_USER:
                raise UserError(f"a user has at most {MOST_TOKENS_PER_USER} tokens")
            table[name] = replace(user, tokens=(*user.tokens, (token_name, token_digest(token))))

        self._change(change)
        return token

    def remove_token(self, name: str, token_name: str) -> None:
        def change(table: dict[str, User]) -> None:
            user = _existing(table, name)
            kept = tuple(t for t in user.tokens if t[0] != token_name)
            if len(kept) == len(user.tokens):
                raise UserError(f"user {name!r} has no token named {token_name!r}")
            table[name] = replace(user, tokens=kept)

        self._change(change)

    def rotate_secret(self) -> None:
        """A new session secret: every session signed with the old one ends."""
        with one_writer(self.path):
            users = read_users(self.path)
            _write(self.path, replace(users, secret=secrets.token_urlsafe(32)))

    def ensure_secret(self) -> str:
        """The secret that signs sessions, made (and the file with it) if missing."""
        if not self.read().secret:
            self._change(lambda table: None)  # a change makes the secret
        return self.read().secret


def _existing(table: dict[str, User], name: str) -> User:
    if name not in table:
        raise UserError(f"no user {name!r}")
    return table[name]


def _check_name(name: str) -> None:
    if not USER_NAME_PATTERN.fullmatch(name):
        raise UserError(f"a user name must match {USER_NAME_PATTERN.pattern}, got {name!r}")


def _check_password(password: str) -> None:
    if not SHORTEST_PASSWORD <= len(password) <= LONGEST_PASSWORD:
        raise UserError(
            f"a password must have {SHORTEST_PASSWORD} to {LONGEST_PASSWORD} characters"
        )


def generated_password() -> str:
    """A password for the first admin: 20 characters, about 119 bits."""
    return secrets.token_urlsafe(15)
