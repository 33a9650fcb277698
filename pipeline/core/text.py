"""Text from cameras, the wire and browsers, made safe to print."""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 control characters (terminal escapes among them), DEL, and the
# bidirectional overrides that make a line read differently from what it holds.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with control characters (terminal escapes) replaced, for a terminal or a log."""
    text = text[:limit] if limit is not None else text
    return _UNPRINTABLE.sub("\ufffd", text)


def is_number(value: Any) -> bool:
    """An int or a float as msgpack or JSON gives it (a boolean is none)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
