"""At capacity a caller hears a short busy message and the call ends cleanly; a Realtime client is told."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from agent_core.providers import Providers
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from tests.telephony.kit import phone_line
from tests.web.kit import talk_server


async def test_past_the_limit_a_caller_hears_busy_and_the_call_ends(tmp_path, jfk_opening):
    async with phone_line(tmp_path, max_conversations=1, stt=ScriptedStt(["Hello."])) as line:
        simulator = line.simulator()
        async with httpx.AsyncClient() as http:
            first = await simulator.post_webhook(http, "/twilio/voice", simulator.incoming_call_params("CA" + "1" * 32))
            second = await simulator.post_webhook(http, "/twilio/voice", simulator.incoming_call_params("CA" + "2" * 32))
        assert "<Connect><Stream" in first.text
        assert second.text.endswith("<Say>Sorry, all our lines are busy right now. Please call again in a few "
                                    "minutes.</Say><Hangup /></Response>")
        line.phone.conversations.release("phone", "CA" + "1" * 32)  # the first caller hung up before their stream
        report = await simulator.call(jfk_opening, quiet_after_reply_s=0.5)  # a place again: answered
        assert report.heard_after(report.caller_spoke_at_s).duration_s > 0.3


async def test_past_the_limit_a_realtime_client_gets_an_error_and_a_1013_close(tmp_path):
    providers = Providers(stt=ScriptedStt(), llm=ScriptedLlm(), tts=ScriptedTts())
    async with talk_server(tmp_path, providers, max_conversations=1) as url:
        socket_url = url.replace("http://", "ws://") + "/v1/realtime?model=parley"
        async with connect(socket_url) as first:
            assert '"session.created"' in await first.recv()
            async with connect(socket_url) as second:
                refusal = await second.recv()
                with pytest.raises(ConnectionClosed) as closed:
                    await second.recv()
    assert '"code":"server_busy"' in refusal.replace(" ", "") and '"type":"error"' in refusal.replace(" ", "")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
