"""Who is asking, and what they may do: the streamer's access control.

Every request but ``/healthz``, the login page and the static files is made
by someone (a ``User``), found in this order:

1. an API token (``Authorization: Bearer …``): a user's token from
   ``rabbitcam users token``, or ``RABBITCAM_WEB_TOKEN`` (an admin);
2. the session cookie the login page gives (HttpOnly, SameSite=Lax, signed
   with the users file's secret, ending after ``[web] session_hours``, at
   logout, or when the user's password or role changes);
3. ``RABBITCAM_WEB_TOKEN`` as a cookie (a browser that opened a page once
   with ``?token=``) or ``RABBITCAM_WEB_USER``/``RABBITCAM_WEB_PASSWORD`` as
   HTTP basic auth: both admins, as before there were users;
4. the user a reverse proxy names in ``[web] proxy_user_header``, believed
   only from ``[web] trusted_proxy`` and only for a user of the users file;
5. nobody: with ``[web] anonymous = "loopback"`` (the default) and the
   streamer bound to a loopback address only, a request from this machine
   (not relayed by a proxy) may watch as a viewer of every camera; anything
   else logs in (pages redirect to ``/login``, the API answers 401).

Only an admin changes anything (zones, events): every request that is not a
GET, HEAD or OPTIONS, but logging in and out, needs one. A viewer with a
list of cameras sees only those (``web.state``). Secrets are compared as
bytes in constant time; passwords are checked with scrypt, at most two at a
time, and failed logins are slowed per address and per user name.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Request, Response, abort, g, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from pipeline.core.config import Config
from pipeline.core.environment import environment
from pipeline.core.users import User, UserFile, Users, generated_password, read_users

LOGGER = logging.getLogger(__name__)

COOKIE = "rabbitcam_token"
SESSION_COOKIE = "rabbitcam_session"
OPEN_PATHS = ("/healthz", "/login", "/logout")
OPEN_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Requests that a proxy relayed: a loopback address behind them is the proxy's.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
ANONYMOUS = User("anonymous", "viewer")
ENV_ADMIN = "admin (environment)"


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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class UserDirectory:
    """The users file as the streamer reads it: again as soon as it changes
    (``rabbitcam users`` edits it while the site runs; a ``stat`` per request tells)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.users = Users()
        self.stamp: tuple[int, int, int] | None = None

    def current(self) -> Users:
        if self.path is None:
            return self.users
        with self.lock:
            try:
                facts = self.path.stat()
                stamp = (facts.st_ino, facts.st_mtime_ns, facts.st_size)
            except OSError:
                stamp = None
            if stamp != self.stamp:
                try:
                    self.users = read_users(self.path)
                    self.stamp = stamp
                except (OSError, ValueError) as error:  # keep the last good one
                    LOGGER.error("stream: users file not read, keeping the last: %s", error)
            return self.users


class Throttle:
    """Failed logins per key (an address, a user name): after ``allowed`` in
    ``window_s``, the next waits until the oldest of them is that old. Keeps at most
    ``most_keys`` keys (the longest idle go first): a flood of names costs memory
    once."""

    def __init__(self, allowed: int = 5, window_s: float = 300.0, most_keys: int = 10_000) -> None:
        self.allowed, self.window_s, self.most_keys = allowed, window_s, most_keys
        self.failures: OrderedDict[str, list[float]] = OrderedDict()
        self.lock = threading.Lock()

    def wait_s(self, key: str) -> float:
        """How long ``key`` must wait before it may try again (0: now)."""
        with self.lock:
            recent = self._recent(key)
            if len(recent) < self.allowed:
                return 0.0
            return max(0.0, recent[0] + self.window_s - time.monotonic())

    def failed(self, key: str) -> None:
        with self.lock:
            recent = self._recent(key)
            recent.append(time.monotonic())
            del recent[: -self.allowed]
            self.failures[key] = recent
            self.failures.move_to_end(key)
            while len(self.failures) > self.most_keys:
                self.failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self.lock:
            self.failures.pop(key, None)

    def _recent(self, key: str) -> list[float]:
        now = time.monotonic()
        return [at for at in self.failures.get(key, []) if now - at < self.window_s]


@dataclass
class Auth:
    token: str = ""  # RABBITCAM_WEB_TOKEN: an admin token
    user: str = ""  # RABBITCAM_WEB_USER and _PASSWORD: an admin by basic auth
    password: str = ""
    users_path: Path | None = None
    anonymous: bool = False  # anyone on this machine may watch (see the module's doc)
    session_s: float = 12 * 3600.0
    proxy_header: str = ""
    trusted_proxy: str = ""
    directory: UserDirectory = field(init=False)
    by_address: Throttle = field(default_factory=Throttle, init=False)
    by_name: Throttle = field(default_factory=Throttle, init=False)
    logged_out: dict[str, float] = field(default_factory=dict, init=False)
    checks: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(2), init=False
    )
    fallback_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), init=False)

    def __post_init__(self) -> None:
        self.directory = UserDirectory(self.users_path)

    @classmethod
    def from_environment(cls, **site: Any) -> Auth:
        environ = environment()
        auth = cls(
            token=environ.web_token,
            user=environ.web_user,
            password=environ.web_password,
            **site,
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

    @classmethod
    def for_site(cls, config: Config, bind: str | None = None) -> Auth:
        """The site's access control: the environment's credentials, its users file,
        and anonymous viewing where ``[web] anonymous`` and the bind allow it."""
        web = config.web
        host = (bind or web.bind).rsplit(":", 1)[0]
        return cls.from_environment(
            users_path=config.users_path,
            anonymous=web.anonymous == "loopback" and is_loopback(host) and not web.trusted_proxy,
            session_s=web.session_hours * 3600,
            proxy_header=web.proxy_user_header,
            trusted_proxy=web.trusted_proxy,
        )

    # --- the start ---------------------------------------------------------------------

    def prepare(self, login_url: str) -> None:
        """At the streamer's start: a site that nobody could change gets its first
        admin, whose generated password is logged once (Frigate, Grafana and Jupyter
        do the same); and the secret that signs sessions is made if missing."""
        if self.users_path is None:
            return
        users = UserFile(self.users_path)
        if not users.read().users and not (self.token or self.user):
            password = generated_password()
            if users.add_first_admin("admin", password):
                LOGGER.warning(
                    "stream: made the first user: name admin, password %s (shown once). Log in "
                    "at %s and change it: rabbitcam users passwd admin", password, login_url,
                )  # fmt: skip
        users.ensure_secret()

    def describe(self) -> str:
        """For the start-up log line: how people get in (never the secrets)."""
        kinds = [name for name, on in (("token", self.token), ("basic", self.user)) if on]
        users = len(self.directory.current().users)
        parts = [f"{users} user{'s' if users != 1 else ''}", *kinds]
        if self.proxy_header and self.trusted_proxy:
            parts.append(f"proxy header {self.proxy_header}")
        watch = (
            "anyone on this machine may watch" if self.anonymous else "everyone logs in to watch"
        )
        return f"access control on ({' and '.join(parts)}; {watch}; only admins change things)"

    def client_headers(self) -> dict[str, str]:
        """What a client of this streamer (``rabbitcam status``) sends to be let in."""
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.user and self.password:
            pair = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}

    # --- who is asking -------------------------------------------------------------------

    def token_matches(self, offered: str | None) -> bool:
        """A token from the query string (decoded as UTF-8 by Flask)."""
        return _same(_utf8(offered), self.token)

    def identify(self, request: Request) -> User | None:
        """Who made ``request``; None when nobody we know did."""
        users = self.directory.current()
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            offered = header[7:].strip()
            if _same(_as_sent(offered), self.token):
                return User(ENV_ADMIN, "admin")
            return users.by_token(offered) if offered else None
        if (who := self._session_user(request, users)) is not None:
            return who
        if _same(_utf8(request.cookies.get(COOKIE)), self.token):
            return User(ENV_ADMIN, "admin")
        basic = request.authorization
        if self.user and basic is not None and basic.type == "basic":
            # Both compared, always: how long it takes says nothing of which was wrong.
            user_ok = _same(_utf8(basic.username or ""), self.user)
            password_ok = _same(_utf8(basic.password or ""), self.password)
            if user_ok and password_ok:
                return User(ENV_ADMIN, "admin")
            return None
        if self.proxy_header and self.trusted_proxy and self._from_proxy(request):
            name = request.headers.get(self.proxy_header, "")
            return users.get(name) if name else None
        if self.anonymous and self._from_this_machine(request):
            return ANONYMOUS
        return None

    def _from_proxy(self, request: Request) -> bool:
        # waitress believes X-Forwarded-For only from trusted_proxy (and clears it from
        # anyone else), putting the client's address in REMOTE_ADDR: a request that still
        # carries it came through the proxy; one without it did when the proxy is the peer.
        peer = request.environ.get("REMOTE_ADDR", "")
        return bool(request.headers.get("X-Forwarded-For")) or peer == self.trusted_proxy

    @staticmethod
    def _from_this_machine(request: Request) -> bool:
        if any(request.headers.get(name) for name in FORWARDING_HEADERS):
            return False  # relayed: a proxy on this machine speaks for someone elsewhere
        return is_loopback(request.remote_addr or "")

    # --- sessions ------------------------------------------------------------------------

    def _signer(self, users: Users) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            users.secret or self.fallback_secret, salt="rabbitcam-session"
        )

    def _session_user(self, request: Request, users: Users) -> User | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie or len(cookie) > 512:
            return None
        try:
            data = self._signer(users).loads(cookie, max_age=self.session_s)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or data.get("n") in self.logged_out:
            return None
        name, generation = data.get("u"), data.get("g")
        if name == ENV_ADMIN and self.user:
            return User(ENV_ADMIN, "admin") if generation == -1 else None
        user = users.get(name) if isinstance(name, str) else None
        return user if user is not None and user.generation == generation else None

    def session_cookie(self, user: User) -> str:
        generation = -1 if user.name == ENV_ADMIN else user.generation
        data = {"u": user.name, "g": generation, "n": secrets.token_urlsafe(12)}
        return self._signer(self.directory.current()).dumps(data)

    def end_session(self, request: Request) -> None:
        """Logout: this session's cookie no longer holds, even if someone kept a copy."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return
        try:
            data = self._signer(self.directory.current()).loads(cookie, max_age=self.session_s)
        except (BadSignature, ValueError, TypeError):
            return
        now = time.time()
        self.logged_out = {n: t for n, t in self.logged_out.items() if t > now}
        if (
            isinstance(data, dict)
            and isinstance(data.get("n"), str)
            and len(self.logged_out) < 100_000
        ):
            self.logged_out[data["n"]] = now + self.session_s

    def log_in(self, name: str, password: str, address: str) -> tuple[User | None, float]:
        """The user these credentials are, or None and how long to wait before trying
        again (0: now), as the throttles say."""
        wait = max(self.by_address.wait_s(address), self.by_name.wait_s(name))
        if wait > 0:
            return None, wait
        with self.checks:  # scrypt costs memory and CPU: two at a time
            user = self.directory.current().check_password(name, password)
        if user is None and self.user:
            user_ok = _same(_utf8(name), self.user)
            if user_ok and _same(_utf8(password), self.password):
                user = User(ENV_ADMIN, "admin")
        if user is None:
            self.by_address.failed(address)
            self.by_name.failed(name)
            return None, 0.0
        self.by_address.succeeded(address)
        self.by_name.succeeded(name)
        return user, 0.0

    # --- the check before every request -------------------------------------------------

    def guard(self) -> Any:
        """The app-wide check before every request (``app.before_request``): find who
        asks, trade a ``?token=`` for a cookie, and refuse what they may not do."""
        path = request.path
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            g.visitor = self.identify(request)
            return None
        token = request.args.get("token")
        if token is not None and self.token_matches(token):
            # Trade the token in the URL for a cookie, and drop it from the address bar.
            args = {k: v for k, v in request.args.items() if k != "token"}
            target = path + (f"?{urlencode(args)}" if args else "")
            response = redirect(target)
            response.set_cookie(
                COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure
            )
            return response
        visitor = self.identify(request)
        if visitor is None:
            if request.method == "GET" and wants_page(request):
                return redirect("/login?" + urlencode({"next": request.full_path.rstrip("?")}))
            return Response(
                "authentication required\n",
                401,
                {"WWW-Authenticate": self.challenge(), "Content-Type": "text/plain"},
            )
        g.visitor = visitor
        if request.method not in SAFE_METHODS and not visitor.is_admin:
            abort(403, description="only an admin may change this site")
        return None

    def challenge(self) -> str:
        return 'Basic realm="rabbitcam"' if self.user else 'Bearer realm="rabbitcam"'


PAGE_PREFIXES = ("/api/", "/video/", "/snapshot/", "/mux", "/metrics")


def wants_page(request: Request) -> bool:
    """Whether a refused request came from a person opening a page (sent to the login
    page) rather than a script or an element of a page (answered 401)."""
    if request.path.startswith(PAGE_PREFIXES) or "/clip.mp4" in request.path:
        return False
    return "text/html" in request.headers.get("Accept", "text/html")
