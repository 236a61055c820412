"""Run the Parley app on a local port inside the current event loop (demo, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def running_server(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, tls: tuple[Path, Path] | None = None
) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL. `tls`: (certificate, key) files for https."""
    port = port or free_port(host)
    certificate, key = tls or (None, None)
    config = uvicorn.Config(app, host=host, port=port, lifespan="on", log_level="warning", ws_max_size=1 << 20,
                            ssl_certfile=certificate, ssl_keyfile=key)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="parley-server")
    while not server.started:
        if task.done():
            task.result()  # startup failed: raise its error here
            raise RuntimeError("server stopped during startup")
        await asyncio.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        await task
