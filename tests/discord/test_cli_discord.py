"""`parley discord`: clear errors for a missing or refused token."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import discord
from typer.testing import CliRunner

from parley.cli import app


def test_missing_token_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["discord"])
    assert result.exit_code == 2
    assert "DISCORD_TOKEN is not set" in " ".join(result.output.split())


class Unauthorized(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"message": "401: Unauthorized", "code": 0}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_refused_token_is_a_clear_error(monkeypatch, tmp_path):
    """Discord's API answers 401 to a bad token (here a local stand-in for discord.com)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{server.server_address[1]}/api/v10")
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["discord"])
    server.shutdown()
    assert result.exit_code == 3
    assert "Discord refused DISCORD_TOKEN" in " ".join(result.output.split())
