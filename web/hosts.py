"""Which Host a request may name, and where a request that changes something may
come from: the defence against DNS rebinding and cross-site requests.

A page on another site can make a browser send requests to this streamer by
pointing a name of its own at the streamer's address (DNS rebinding); the
browser then sends that name in ``Host`` and lets the page read the answers.
So the streamer answers only to names it knows: any IP address (no site can
rebind an address), ``localhost``, the host of ``[web] public_url`` and those in
``[web] allowed_hosts`` (``"*"``: any, for a proxy that checks names itself).
A request that changes something (``DELETE``, ``POST``, ``PUT``, ``PATCH``)
sent by a browser from another origin is refused as well.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from flask import abort, request

from pipeline.core.config import WebConfig

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port (``[::1]:8000`` → ``::1``)."""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    def __init__(self, web: WebConfig) -> None:
        names = {"localhost", *(name.lower().rstrip(".") for name in web.allowed_hosts)}
        if web.public_url:
            names.add((urlsplit(web.public_url).hostname or "").lower())
        self.any_name = "*" in names
        self.names = frozenset(names - {"*", ""})
        # Behind a proxy that passes its own Host on, the pages' origin is public_url's.
        self.public_origin = web.public_url.lower() if web.public_url else None

    def allows(self, name: str) -> bool:
        name = name.rstrip(".")
        return (
            self.any_name or _is_address(name) or name in self.names or name.endswith(".localhost")
        )

    def guard(self) -> Any:
        """``app.before_request``: 400 for an unknown Host, 403 for a cross-origin change."""
        name = host_name(request.host)
        if not self.allows(name):
            abort(400, description="this streamer does not answer to that host name "
                                   "(add it to [web] allowed_hosts)")  # fmt: skip
        if request.method in SAFE_METHODS:
            return None
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        cross_site = fetch_site == "cross-site"
        # A form posted from our own page says "Origin: null" under our no-referrer
        # policy; the browser's own Sec-Fetch-Site (no page can set it) says where from.
        ours = origin == "null" and fetch_site == "same-origin"
        foreign = origin is not None and not (
            ours or _same_origin(origin, request.host) or origin.lower() == self.public_origin
        )
        if cross_site or foreign:
            abort(403, description="a change must come from this streamer's own pages")
        return None


def _same_origin(origin: str, host_header: str) -> bool:
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host_header.strip().lower()
