"""The OpenAI-compatible LLM backend against a real HTTP server speaking the chat-completions SSE format."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_core.llm.base import TextDelta, ToolCall
from agent_core.llm.openai_chat import OpenAiChatLlm


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []
    stall_s = 0.0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        time.sleep(Handler.stall_s)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if body.get("tools"):
            pieces = [
                chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                            "function": {"name": "hang_up", "arguments": ""}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
                chunk({}, "tool_calls"),
            ]
        else:
            pieces = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Paris"}),
                      chunk({"content": " it is."}), chunk({}, "stop")]
        for piece in pieces:
            self.wfile.write(f"data: {json.dumps(piece)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Handler.requests = []
    Handler.stall_s = 0.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


async def test_streams_text_from_an_openai_compatible_server(server):
    llm = OpenAiChatLlm(base_url=server, model="test-model", api_key="sk-test", temperature=0.1, max_tokens=20)
    events = [e async for e in llm.stream([{"role": "user", "content": "Capital of France?"}])]
    assert events == [TextDelta("Paris"), TextDelta(" it is.")]
    [request] = Handler.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["stream"] is True and request["body"]["model"] == "test-model"
    assert request["body"]["max_tokens"] == 20
    await llm.aclose()


async def test_tool_calls_come_back_whole(server):
    llm = OpenAiChatLlm(base_url=server, model="m")
    tools = [{"type": "function", "function": {"name": "hang_up", "description": "End.", "parameters": {"type": "object"}}}]
    events = [e async for e in llm.stream([{"role": "user", "content": "bye"}], tools)]
    assert events == [ToolCall("call_1", "hang_up", "{}")]
    assert Handler.requests[0]["body"]["tools"] == tools
    await llm.aclose()


async def test_a_stalled_server_is_an_error_not_a_hang(server):
    Handler.stall_s = 2.0
    llm = OpenAiChatLlm(base_url=server, model="m", read_timeout_s=0.3)
    llm._client = llm._client.with_options(max_retries=0)
    started = time.monotonic()
    with pytest.raises(Exception, match="(?i)time"):
        [e async for e in llm.stream([{"role": "user", "content": "hi"}])]
    assert time.monotonic() - started < 1.5
    await llm.aclose()


async def test_a_dead_server_is_an_error(unused_tcp_port):
    llm = OpenAiChatLlm(base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", model="m", connect_timeout_s=0.5)
    with pytest.raises(Exception, match="(?i)connect"):
        [e async for e in llm.stream([{"role": "user", "content": "hi"}])]
    await llm.aclose()
