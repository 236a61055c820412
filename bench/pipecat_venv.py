"""The benchmark venv for bench/vs_pipecat.py: Pipecat and the tools, never Parley dependencies.

.bench/pipecat-venv (git-ignored) gets Pipecat 1.14 with the extras its Twilio example
needs (FastAPI WebSocket transport, Silero VAD; the Twilio serializer is in the core),
the same uvicorn as Parley's venv with the same extras (uvloop, httptools, websockets), so
both servers run on the same HTTP/WebSocket stack, plus matplotlib for the plot and py-spy
for profiles. Built with the Python that runs Parley's venv, so both run one interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench" / "pipecat-venv"
PYTHON = VENV / "bin" / "python"


def requirements() -> list[str]:
    return [
        "pipecat-ai[websocket,silero]==1.14.0",
        f"uvicorn[standard]=={version('uvicorn')}",
        "matplotlib",
        "py-spy",
    ]


def ensure() -> Path:
    """Create or update the venv when its recorded requirements differ; returns its python."""
    wanted = "\n".join(requirements())
    marker = VENV / "bench-requirements.txt"
    if PYTHON.exists() and marker.exists() and marker.read_text() == wanted:
        return PYTHON
    interpreter = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not PYTHON.exists():
        print(f"creating {VENV} with {interpreter}", file=sys.stderr)
        subprocess.run([interpreter, "-m", "venv", str(VENV)], check=True)
    print(f"installing into {VENV}: {', '.join(requirements())}", file=sys.stderr)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", *requirements()], check=True)
    marker.write_text(wanted)
    return PYTHON


def py_spy() -> Path:
    return VENV / "bin" / "py-spy"


if __name__ == "__main__":
    print(ensure())
