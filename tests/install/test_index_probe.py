"""An extra package index that does not answer costs the install seconds, not pip's minutes of retries."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PROBE = Path(__file__).resolve().parents[2] / "scripts" / "index-if-reachable"


def probe(url: str) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(PROBE), url], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip(), time.monotonic() - started


def test_an_index_that_never_answers_is_left_out_within_seconds():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the connection, never says a word: a black-holed host
    try:
        printed, seconds = probe(f"http://127.0.0.1:{silent.getsockname()[1]}/whl/cpu")
    finally:
        silent.close()
    assert printed == ""
    assert seconds < 30  # pip itself would retry for minutes


def test_an_index_that_answers_is_used():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
        printed, _ = probe(url)
    finally:
        server.shutdown()
    assert printed == f"--extra-index-url {url}"  # even a 404 shows the host is there
