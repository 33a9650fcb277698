"""Optional access control, configured from the environment only (never a file).

- ``RABBITCAM_WEB_TOKEN``: a bearer token. Clients send ``Authorization:
  Bearer <token>``; a browser opens any page once with ``?token=<token>`` and
  gets it as an HttpOnly cookie, so ``<img>`` streams work too.
- ``RABBITCAM_WEB_USER`` and ``RABBITCAM_WEB_PASSWORD``: HTTP basic auth
  (the browser asks for them).

Either, both or neither. ``/healthz`` stays open for load balancers. A user
without a password (or a password without a user) is refused at start, never
read as "no auth". Secrets are compared as bytes in constant time, so a
non-ASCII guess is a 401 like any other wrong one.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Request, Response, redirect, request

COOKIE = "rabbitcam_token"
OPEN_PATHS = ("/healthz",)


class AuthError(ValueError):
    """Access control configured by halves: the streamer must not start open."""


def _same(offered: bytes | None, expected: str) -> bool:
    """Constant-time comparison of a secret as sent with the configured one, as bytes
    (``compare_digest`` refuses str holding anything but ASCII)."""
    if not expected or offered is None:
        return False
    return hmac.compare_digest(offered, expected.encode("utf-8"))


def _as_sent(text: str) -> bytes:
    """A header's bytes as they came: WSGI hands headers over decoded as Latin-1."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _utf8(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Auth:
    token: str = ""
    user: str = ""
    password: str = ""

    @classmethod
    def from_environment(cls) -> Auth:
        auth = cls(
            token=os.environ.get("RABBITCAM_WEB_TOKEN", ""),
            user=os.environ.get("RABBITCAM_WEB_USER", ""),
            password=os.environ.get("RABBITCAM_WEB_PASSWORD", ""),
        )
        if bool(auth.user) != bool(auth.password):
            given, missing = (
                ("RABBITCAM_WEB_USER", "RABBITCAM_WEB_PASSWORD")
                if auth.user
                else ("RABBITCAM_WEB_PASSWORD", "RABBITCAM_WEB_USER")
            )
            raise AuthError(
                f"environment {missing}: must be set (and not empty) when {given} is; "
                "the streamer will not start with half its access control"
            )
        return auth

    def describe(self) -> str:
        """For the start-up log line: which access control is on (never the secrets)."""
        kinds = [name for name, on in (("token", self.token), ("basic", self.user)) if on]
        return (
            f"access control on ({' and '.join(kinds)})"
            if kinds
            else ("access control OFF: anyone who reaches the port sees every camera")
        )

    def client_headers(self) -> dict[str, str]:
        """What a client of this streamer (``rabbitcam status``) sends to be let in."""
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.user and self.password:
            pair = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}

    @property
    def enabled(self) -> bool:
        return bool(self.token or (self.user and self.password))

    def token_matches(self, offered: str | None) -> bool:
        """A token from the query string (decoded as UTF-8 by Flask)."""
        return _same(_utf8(offered), self.token)

    def allows(self, request: Request) -> bool:
        if not self.enabled or request.path in OPEN_PATHS:
            return True
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and _same(_as_sent(header[7:].strip()), self.token):
            return True
        if _same(_utf8(request.cookies.get(COOKIE)), self.token):
            return True
        basic = request.authorization
        if not self.user or basic is None or basic.type != "basic":
            return False
        # Both compared, always: how long it takes says nothing of which was wrong.
        user_ok = _same(_utf8(basic.username or ""), self.user)
        password_ok = _same(_utf8(basic.password or ""), self.password)
        return user_ok and password_ok

    def challenge(self) -> str:
        return 'Basic realm="rabbitcam"' if self.user else 'Bearer realm="rabbitcam"'

    def guard(self) -> Any:
        """The app-wide check before every request (``app.before_request``): let it
        through, trade a ``?token=`` for a cookie, or answer 401."""
        token = request.args.get("token")
        if token is not None and self.token_matches(token):
            # Trade the token in the URL for a cookie, and drop it from the address bar.
            args = {k: v for k, v in request.args.items() if k != "token"}
            target = request.path + (f"?{urlencode(args)}" if args else "")
            response = redirect(target)
            response.set_cookie(
                COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure
            )
            return response
        if not self.allows(request):
            return Response(
                "authentication required\n",
                401,
                {"WWW-Authenticate": self.challenge(), "Content-Type": "text/plain"},
            )
        return None
