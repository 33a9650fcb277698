"""A TCP proxy for tests that can cut the network silently: it stops passing bytes
without closing anything, as a dead switch or a pulled cable does."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading


class SilentCutProxy:
    def __init__(self, target: tuple[str, int], listen: str = "127.0.0.1") -> None:
        self.target = target
        self.listener = socket.create_server((listen, 0))
        self.port = self.listener.getsockname()[1]
        self.passing = threading.Event()
        self.passing.set()
        self.stop = threading.Event()
        self.accepted = 0
        self.clients: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self.passing.clear()

    def restore(self) -> None:
        self.passing.set()

    def reset(self) -> None:
        """Reset every client connection (RST, as a rebooted router or NAT does)."""
        for client in list(self.clients):
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.clients.add(client)
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        pairs = {client: upstream, upstream: client}
        try:
            while not self.stop.is_set():
                readable, _, _ = select.select(list(pairs), [], [], 0.2)
                if not self.passing.is_set():
                    continue  # bytes stay unread: a black hole, no FIN, no RST
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    pairs[source].sendall(data)
        except (OSError, ValueError):  # ValueError: a socket that reset() closed meanwhile
            return
        finally:
            self.clients.discard(client)
            for sock in pairs:
                with contextlib.suppress(OSError):
                    sock.close()
