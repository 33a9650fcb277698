"""Optional access control, configured from the environment only (never a file).

- ``RABBITCAM_WEB_TOKEN``: a bearer token. Clients send ``Authorization:
  Bearer <token>``; a browser opens any page once with ``?token=<token>`` and
  gets it as an HttpOnly cookie, so ``<img>`` streams work too.
- ``RABBITCAM_WEB_USER`` and ``RABBITCAM_WEB_PASSWORD``: HTTP basic auth
  (the browser asks for them).

Either, both or neither. ``/healthz`` stays open for load balancers.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass

from flask import Request

COOKIE = "rabbitcam_token"
OPEN_PATHS = ("/healthz",)


@dataclass(frozen=True)
class Auth:
    token: str = ""
    user: str = ""
    password: str = ""

    @classmethod
    def from_environment(cls) -> Auth:
        return cls(
            token=os.environ.get("RABBITCAM_WEB_TOKEN", ""),
            user=os.environ.get("RABBITCAM_WEB_USER", ""),
            password=os.environ.get("RABBITCAM_WEB_PASSWORD", ""),
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
        return bool(self.token and offered) and hmac.compare_digest(offered, self.token)

    def allows(self, request: Request) -> bool:
        if not self.enabled or request.path in OPEN_PATHS:
            return True
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and self.token_matches(header[7:].strip()):
            return True
        if self.token_matches(request.cookies.get(COOKIE)):
            return True
        basic = request.authorization
        return bool(
            self.user
            and basic is not None
            and basic.type == "basic"
            and hmac.compare_digest(basic.username or "", self.user)
            and hmac.compare_digest(basic.password or "", self.password)
        )

    def challenge(self) -> str:
        return 'Basic realm="rabbitcam"' if self.user else 'Bearer realm="rabbitcam"'
