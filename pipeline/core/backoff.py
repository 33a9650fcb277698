"""Capped exponential backoff, shared by broker reconnects and camera reopens."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, with a little jitter.

    Jitter keeps many workers that lost the same broker from reconnecting in
    lock-step; ``reset`` starts over once things work again.
    """

    def __init__(self, initial: float = 0.25, maximum: float = 5.0, jitter: float = 0.1) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.failures = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * (2**self.failures))
        self.failures = min(self.failures + 1, 32)
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.failures = 0
