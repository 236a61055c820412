"""WebSocket connections to a Parley speech service, opened ahead and reused.

Opening a TLS WebSocket to a cloud GPU costs a few round trips (50-200 ms);
paying that at every utterance would add it to every reply. So finished
connections wait in a pool, WebSocket pings keep them (and the proxies between)
alive, and a dead one is dropped at checkout instead of failing a turn.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.protocol import State

log = logging.getLogger(__name__)


class ServiceUnavailable(ConnectionError):
    """The service could not be reached (after retries) or refused us."""


def websocket_url(base_url: str, path: str) -> str:
    """`https://x.modal.run` + `/v1/stt/stream` -> `wss://x.modal.run/v1/stt/stream`."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an http(s) or ws(s) URL: {base_url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, ""))


@dataclass(frozen=True)
class ServiceEndpoint:
    url: str  # ws(s)://host/path
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # credentials: never logged
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    keepalive_s: float = 10.0
    attempts: int = 3
    backoff_s: float = 0.2


class ConnectionPool:
    def __init__(self, endpoint: ServiceEndpoint, *, max_idle: int = 8) -> None:
        self.endpoint = endpoint
        self.max_idle = max_idle
        self._idle: list[ClientConnection] = []
        self._closing: set[asyncio.Task[None]] = set()
        self.connects = 0  # connections opened, for tests and stats

    async def acquire(self) -> ClientConnection:
        while self._idle:
            conn = self._idle.pop()
            if conn.state is State.OPEN:
                return conn
        return await self._connect()

    def release(self, conn: ClientConnection) -> None:
        """Hand back a connection that has nothing left to read for its last request."""
        if conn.state is State.OPEN and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            self.discard(conn)

    def discard(self, conn: ClientConnection) -> None:
        task = asyncio.get_running_loop().create_task(conn.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def warm(self) -> None:
        """Open one connection now, so the first utterance does not pay for it."""
        self.release(await self._connect())

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(conn.close() for conn in idle), *self._closing, return_exceptions=True)

    async def _connect(self) -> ClientConnection:
        ep = self.endpoint
        delay = ep.backoff_s
        for attempt in range(1, ep.attempts + 1):
            try:
                conn = await connect(
                    ep.url,
                    additional_headers=ep.headers,
                    open_timeout=ep.connect_timeout_s,
                    ping_interval=ep.keepalive_s,
                    ping_timeout=ep.keepalive_s,
                    close_timeout=1.0,
                    max_size=4 << 20,
                    max_queue=None,  # audio is read as fast as it comes; never stall the close handshake
                )
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):  # retrying will not fix credentials
                    raise ServiceUnavailable(f"{ep.url} refused the credentials (HTTP {status})") from exc
                error: Exception = exc
            except Exception as exc:  # refused, timed out, a proxy's garbage, a bad TLS certificate, ...
                error = exc
            else:
                self.connects += 1
                return conn
            log.warning("connecting to %s failed (attempt %d/%d): %s", ep.url, attempt, ep.attempts, error)
            if attempt < ep.attempts:
                await asyncio.sleep(delay)
                delay *= 3
        raise ServiceUnavailable(f"cannot reach {ep.url}: {error}") from error
