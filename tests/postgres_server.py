"""A real PostgreSQL server for the tests: Debian's `postgresql`, initdb in a temp dir, a random port.

`make test` installs the package when missing. initdb refuses to run as root, so as root the
server runs as the `postgres` user the package creates. Each test gets a database of its own.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import asyncpg


def _binary(name: str) -> str:
    """Debian keeps the server binaries in /usr/lib/postgresql/<major>/bin, off the PATH."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: apt-get install postgresql (make test does)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        self.port = _free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._names = itertools.count()

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_postgres, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Create the cluster on first start; later starts bring the same one back on the same port."""
        data = self.root / "data"
        if not data.exists():
            if self._as_postgres:
                shutil.chown(self.root, "postgres", "postgres")
            self._run(_binary("initdb"), "-D", str(data), "-U", "parley", "--auth=trust", "-E", "UTF8", "--no-sync")
        # Durability is not under test; fsync off makes each test's CREATE DATABASE quick.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def pause(self) -> None:
        """Take the server down, keeping its data: a database outage."""
        self._run(_binary("pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        try:
            self.pause()
        except subprocess.CalledProcessError:
            pass  # already down (a test took it down and left it so)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    async def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        admin = await asyncpg.connect(host="127.0.0.1", port=self.port, user="parley", database="postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return f"postgresql+asyncpg://parley@127.0.0.1:{self.port}/{name}"
