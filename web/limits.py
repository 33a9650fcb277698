"""How many live streams the streamer holds open, in all and per client address.

Each MJPEG viewer holds a server thread for as long as it watches. Without a
bound, a few hundred connections that ask for a stream (and then never read)
take every thread, and the dashboard, the API and ``/healthz`` stop answering.
So streams get at most ``[web] max_streams`` threads (by default all but an
eighth of them) and one client address at most ``max_streams_per_client``;
beyond either, a stream request is answered at once with 503 and
``Retry-After``. A viewer that stops reading is cut off by the server after
``[web] stall_s`` (``web.server``), which gives its slot back.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator

RETRY_AFTER_S = 5


class StreamSlots:
    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client  # 0: no per-client bound
        self.lock = threading.Lock()
        self.by_client: Counter[str] = Counter()
        self.refused = 0

    @property
    def open(self) -> int:
        return sum(self.by_client.values())

    def acquire(self, client: str) -> str | None:
        """Take a slot for ``client``; None when taken, else why not."""
        with self.lock:
            if sum(self.by_client.values()) >= self.total:
                why = f"the streamer serves {self.total} streams at most"
            elif self.per_client and self.by_client[client] >= self.per_client:
                why = f"one address may open {self.per_client} streams at most"
            else:
                self.by_client[client] += 1
                return None
            self.refused += 1
            return why

    def release(self, client: str) -> None:
        with self.lock:
            self.by_client[client] -= 1
            if self.by_client[client] <= 0:
                del self.by_client[client]


class SlotStream:
    """A stream that gives its slot back when the server closes it.

    The server calls ``close()`` on every response body it took, even one it
    never started (a client gone at once) or one cut off mid-frame; a plain
    generator's ``finally`` would not run in the first case.
    """

    def __init__(self, stream: Iterator[bytes], release: Callable[[], None]) -> None:
        self.stream = stream
        self.release = release
        self.closed = False

    def __iter__(self) -> SlotStream:
        return self

    def __next__(self) -> bytes:
        return next(self.stream)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                close = getattr(self.stream, "close", None)
                if close is not None:
                    close()
            finally:
                self.release()
