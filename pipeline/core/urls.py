"""URLs as operators write them: checked before use, shown without their secrets."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

# Query parameters that carry credentials in camera and broker URLs
# (``snapshot.cgi?user=admin&pwd=secret``, signed stream links).
SECRET_QUERY_KEYS = re.compile(
    r"^(user(name)?|login|pass(word|wd)?|pwd|secret|token|access_token|auth|api_?key|key|"
    r"sig(nature)?|credentials?)$",
    re.IGNORECASE,
)

# RabbitMQ's URI spec names for TLS settings (see pipeline.core.broker.tls_options).
TLS_PARAMETERS = ("cacertfile", "certfile", "keyfile", "verify", "server_name_indication")


def redact_url(url: str) -> str:
    """A URL fit for a log line or a page: no password, no credential in its query.

    Parsed, not pattern-matched: a password may hold ``/``, ``@`` or ``:``
    (``rtsp://admin:p@ss/w@cam``), so everything before the *last* ``@`` ahead
    of the query is user information. The user name is kept for operators
    (``user:***@``); a URL with a password but no user shows ``***@``.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    address, qmark, query = rest.partition("?")
    query, hash_mark, fragment = query.partition("#") if qmark else ("", "", "")
    if not qmark:
        address, hash_mark, fragment = address.partition("#")
    if "@" in address:
        userinfo, _, address = address.rpartition("@")
        user = userinfo.split(":", 1)[0] if ":" in userinfo else userinfo
        # A "user" holding a slash is a password that did not parse as one.
        user = user if user and "/" not in user else ""
        address = f"{user}:***@{address}" if user else f"***@{address}"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_QUERY_KEYS.match(key) for key, _ in pairs):
            query = urlencode(
                [(k, "***" if SECRET_QUERY_KEYS.match(k) else v) for k, v in pairs], safe="*"
            )
    return f"{scheme}://{address}{qmark}{query}{hash_mark}{fragment}"


def amqp_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be a broker URL (scheme, port, TLS files), or None."""
    if not value.startswith(("amqp://", "amqps://")):
        return f"must be an amqp:// or amqps:// URL, got {redact_url(value)!r}"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        return f"malformed URL {redact_url(value)!r}: {error}"
    for key, setting in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("cacertfile", "certfile", "keyfile") and not Path(setting).is_file():
            return f"{key} not found: {setting}"
        if key == "verify" and setting not in ("verify_peer", "verify_none"):
            return f"verify must be verify_peer or verify_none, got {setting!r}"
    return None
