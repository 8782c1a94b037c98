"""Fake platform APIs: real HTTP servers on 127.0.0.1 that the real client libraries talk to."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class _Server(ThreadingHTTPServer):
    # Connections waiting to be accepted, as a platform's servers keep: with the standard library's
    # 5, a client opening a hundred at once has some accepted seconds late, and its requests time out.
    request_queue_size = 1024


class LoopbackServer:
    """A threaded HTTP server on a free 127.0.0.1 port, for as long as the `with` block lasts."""

    limit: RateLimit | None = None  # the platform's rate limit, once `rate_limit()` sets one

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """http://127.0.0.1:PORT"""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def rate_limit(self, rate: float, burst: float | None = None) -> RateLimit:
        """Refuse requests beyond `rate` a second (bursts up to `burst`) with 429, as platforms do."""
        self.limit = RateLimit(rate, burst)
        return self.limit

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class RateLimit:
    """A token bucket like a platform's: `rate` requests a second, bursts of up to `burst`.

    `take()` says whether a request arriving now is within the limit; `refused` counts those
    that were not (answered 429), with the times they came, for benchmarks.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else rate  # a second's worth
        self._tokens = self.burst
        self._at = time.monotonic()
        self._lock = threading.Lock()
        self.refused: list[float] = []

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            self.refused.append(now)
            return False
