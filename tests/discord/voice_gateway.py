"""A Discord voice server on loopback: the voice websocket, the UDP socket and the DAVE group's external sender.

discord.py's real voice code runs against it: `Connectable.connect` creates the
client, `VoiceConnectionState` does the handshake, `DiscordVoiceWebSocket`
handles ops 2-31 (its `receive()` reads from `FakeWebSocket`), and
`SocketReader` reads a real UDP socket. The other members are plain `davey`
sessions. Only the main Discord gateway (voice state/server updates) and the
aiohttp socket object are stood in for.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiohttp
import davey
import discord

from tests.discord.mls_external_sender import ExternalSender, proposals_payload, split_commit_welcome
from tests.discord.voicekit import rtp_packet

MODE = "aead_xchacha20_poly1305_rtpsize"
APPEND = davey.ProposalsOperationType.append


class FakeWebSocket:
    """The aiohttp socket under discord.py's DiscordVoiceWebSocket; the gateway answers what it sends."""

    def __init__(self, gateway: VoiceGateway) -> None:
        self.gateway = gateway
        self.inbox: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self.close_code: int | None = None
        self.closed = False
        self.sequence = 0

    async def receive(self) -> aiohttp.WSMessage:
        return await self.inbox.get()

    async def send_str(self, text: str) -> None:
        self._check_open()
        await self.gateway.on_json(self, json.loads(text))

    async def send_bytes(self, data: bytes) -> None:
        self._check_open()
        await self.gateway.on_binary(self, data)

    def _check_open(self) -> None:
        # as aiohttp's writer: discord.py's heartbeat thread stops on this once its socket has closed
        if self.closed:
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if not self.closed:
            self.closed, self.close_code = True, code
            self.inbox.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.CLOSED, None, None))
        return True

    def push(self, op: int, data: dict) -> None:
        self.sequence += 1
        message = json.dumps({"op": op, "d": data, "seq": self.sequence})
        self.inbox.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, message, None))

    def push_binary(self, op: int, payload: bytes) -> None:
        self.sequence += 1
        self.inbox.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.BINARY, struct.pack(">HB", self.sequence, op) + payload, None))

    def server_close(self, code: int) -> None:
        """The voice server hangs up with `code` (4006 session invalid, 4014 disconnected, 4015 crashed)."""
        self.closed, self.close_code = True, code
        self.inbox.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.CLOSE, code, ""))


@dataclass
class Member:
    user_id: int
    ssrc: int
    session: davey.DaveSession
    sequence: int = 0

    def next_packet_numbers(self) -> tuple[int, int]:
        self.sequence += 1
        return self.sequence, 960 * self.sequence


@dataclass
class _Round:
    joining: set[int]
    bot_commit: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, gateway: VoiceGateway) -> None:
        self.gateway = gateway

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) == 74 and data[1] == 0x01:  # IP discovery: tell the client its address
            self.gateway.bot_address = addr
            ip = addr[0].encode().ljust(64, b"\x00")
            reply = struct.pack(">HHI", 2, 70, struct.unpack_from(">I", data, 4)[0]) + ip + struct.pack(">H", addr[1])
            self.transport.sendto(reply, addr)
        else:
            self.gateway.from_bot.append(data)

    def connection_made(self, transport) -> None:
        self.transport = transport


class VoiceGateway:
    def __init__(self, channel_id: int, bot_id: int) -> None:
        self.channel_id, self.bot_id = channel_id, bot_id
        self.external = ExternalSender()
        self.members: dict[int, Member] = {}  # the people (plain davey sessions) in the group
        self.bot_ws: FakeWebSocket | None = None
        self.bot_ssrc = 0xB07
        self.bot_in_group = False
        self.epoch = 0
        self.secret_key = os.urandom(32)
        self.counter = 0
        self.bot_address = None
        self.from_bot: list[bytes] = []
        self.announce_speaking = True  # op 5 for present members during the handshake
        self.sent_ops: list[int] = []  # what discord.py sent us
        self.prefer_bot_commit = False  # let the bot's op 28 win the next round
        self.leaves: list[int | None] = []  # user id at each leaf index of the group
        self._round: _Round | None = None
        self._rounds = asyncio.Lock()
        self._transition = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.udp, _ = await loop.create_datagram_endpoint(lambda: _UdpServer(self), local_addr=("127.0.0.1", 0))
        self.udp_port = self.udp.get_extra_info("sockname")[1]

    def close(self) -> None:
        self.udp.close()

    # ----- members --------------------------------------------------------------------

    def new_member(self, user_id: int, ssrc: int) -> Member:
        session = davey.DaveSession(davey.DAVE_PROTOCOL_VERSION, user_id, self.channel_id)
        session.set_external_sender(self.external.package())
        return Member(user_id, ssrc, session)

    async def member_joins(self, member: Member, *, announce: bool = True) -> None:
        async with self._rounds:
            committers = list(self.members.values())
            self.members[member.user_id] = member
            if not committers and not self.bot_in_group:
                self.leaves = [member.user_id]  # alone: the founder of a group of one
                return
            key_package = member.session.get_serialized_key_package()
            await self._commit_round([self.external.add(self.channel_id, self.epoch, key_package)], [member.user_id],
                                     committers)
        if announce and self.bot_ws is not None:
            self.bot_ws.push(5, {"user_id": str(member.user_id), "ssrc": member.ssrc, "speaking": 1})

    async def member_leaves(self, member: Member) -> None:
        async with self._rounds:
            del self.members[member.user_id]
            await self._remove(member.user_id)
        if self.bot_ws is not None:
            self.bot_ws.push(13, {"user_id": str(member.user_id)})

    async def _remove(self, user_id: int) -> None:
        leaf = self.leaves.index(user_id)
        proposal = self.external.remove(self.channel_id, self.epoch, leaf)
        await self._commit_round([proposal], [], list(self.members.values()), removed=(leaf,))

    def speak(self, member: Member, opus_frames: list[bytes], *, encrypt: bool = True) -> None:
        """The member's frames as Discord relays them: DAVE by the sender, transport-encrypted for the bot."""
        for frame in opus_frames:
            payload = member.session.encrypt_opus(frame) if encrypt else frame
            sequence, timestamp = member.next_packet_numbers()
            self.counter += 1
            packet = rtp_packet(bytes(payload), ssrc=member.ssrc, sequence=sequence & 0xFFFF, timestamp=timestamp,
                                counter=self.counter, key=self.secret_key, extension=b"\x00" * 4)
            self.udp.sendto(packet, self.bot_address)

    async def speak_paced(self, member: Member, opus_frames: list[bytes], *, frames_per_tick: int = 10,
                          tick_s: float = 0.02) -> None:
        """Like `speak`, paced (here 5x real time): a burst of hundreds of packets overflows the bot's UDP buffer."""
        for start in range(0, len(opus_frames), frames_per_tick):
            self.speak(member, opus_frames[start:start + frames_per_tick])
            await asyncio.sleep(tick_s)

    # ----- MLS rounds ---------------------------------------------------------------------

    async def _commit_round(
        self, proposals: list[bytes], joining: list[int], committers: list[Member], removed: tuple[int, ...] = ()
    ) -> None:
        """op 27 to every member; the first commit wins (a member's, else the bot's); op 29/30 apply it."""
        payload = proposals_payload(*proposals)
        self._round = _Round(set(joining))
        if self.bot_in_group and self.bot_ws is not None:
            self.bot_ws.push_binary(27, bytes([0]) + payload)
        commit = welcome = None
        for member in committers:
            result = member.session.process_proposals(APPEND, payload)
            if result is not None and commit is None and not self.prefer_bot_commit:
                commit, welcome = result.commit, result.welcome
        if commit is None:
            commit, welcome = await asyncio.wait_for(self._round.bot_commit, 5)
        self._round = None
        self._transition += 1
        for member in committers:
            member.session.process_commit(commit)
        if self.bot_in_group and self.bot_ws is not None:
            self.bot_ws.push_binary(29, struct.pack(">H", self._transition) + commit)
        self._apply_to_leaves(list(removed), joining)
        for user_id in joining:
            if user_id == self.bot_id:
                self.bot_ws.push_binary(30, struct.pack(">H", self._transition) + welcome)
                self.bot_in_group = True
            else:
                self.members[user_id].session.process_welcome(welcome)
        self.epoch += 1

    def _apply_to_leaves(self, removed: list[int], joining: list[int]) -> None:
        """Discord's own bookkeeping of leaf indexes: a remove blanks a leaf, an add fills the leftmost blank."""
        for leaf in removed:
            self.leaves[leaf] = None
        for user_id in joining:
            if None in self.leaves:
                self.leaves[self.leaves.index(None)] = user_id
            else:
                self.leaves.append(user_id)

    # ----- discord.py's side of the websocket ----------------------------------------------------

    async def on_json(self, ws: FakeWebSocket, message: dict) -> None:
        op, data = message["op"], message.get("d")
        self.sent_ops.append(op)
        if op == 0:  # IDENTIFY: a new voice session
            if self.bot_id in self.leaves:  # a reconnect: the old connection's leaf goes
                asyncio.get_running_loop().create_task(self._drop_bot())
            self.bot_ws, self.bot_in_group = ws, False
            self.secret_key = os.urandom(32)  # every session gets its own transport key
            ws.push(8, {"heartbeat_interval": 41250})
            ws.push(2, {"ssrc": self.bot_ssrc, "ip": "127.0.0.1", "port": self.udp_port, "modes": [MODE]})
        elif op == 7:  # RESUME: same session, same key
            self.bot_ws = ws
            ws.push(8, {"heartbeat_interval": 41250})
            ws.push(9, None)
        elif op == 1:  # SELECT_PROTOCOL
            ws.push(4, {"mode": MODE, "secret_key": list(self.secret_key), "dave_protocol_version": 1})
            if self.announce_speaking:
                for member in self.members.values():  # once, during the handshake
                    ws.push(5, {"user_id": str(member.user_id), "ssrc": member.ssrc, "speaking": 1})
            ws.push_binary(25, self.external.package())
        elif op == 3:
            ws.push(6, {"t": data})
        elif op == 23:  # TRANSITION_READY
            ws.push(22, {"transition_id": data["transition_id"]})

    async def on_binary(self, ws: FakeWebSocket, data: bytes) -> None:
        op = data[0]
        self.sent_ops.append(op)
        if op == 26:  # the bot's key package: add it to the group
            asyncio.get_running_loop().create_task(self._add_bot(data[1:]))
        elif op == 28 and self._round is not None and not self._round.bot_commit.done():
            self._round.bot_commit.set_result(split_commit_welcome(data[1:]))

    async def _add_bot(self, key_package: bytes) -> None:
        async with self._rounds:
            if self.members:
                proposal = self.external.add(self.channel_id, self.epoch, key_package)
                await self._commit_round([proposal], [self.bot_id], list(self.members.values()))

    async def _drop_bot(self) -> None:
        async with self._rounds:
            await self._remove(self.bot_id)


class FakeGuild:
    """The main gateway's part: voice state and voice server updates, delivered as Discord does (later)."""

    def __init__(self, guild_id: int, gateway: VoiceGateway, members: dict[int, str]) -> None:
        self.id, self.gateway = guild_id, gateway
        self.me = SimpleNamespace(id=gateway.bot_id, voice=None)  # discord.py reads me.voice when it reconnects
        self._members = {uid: SimpleNamespace(id=uid, display_name=name, bot=False) for uid, name in members.items()}
        self.state: FakeClientState | None = None
        self.voice_state_requests = 0  # gateway op 4s: join, leave, rejoin

    @property
    def voice_client(self):
        return self.state.voice_clients.get(self.id) if self.state else None

    def get_member(self, user_id: int):
        return self._members.get(user_id)

    def get_channel(self, channel_id: int):
        return self.channel if channel_id == self.channel.id else None

    async def change_voice_state(self, *, channel, self_deaf: bool = False, self_mute: bool = False) -> None:
        self.voice_state_requests += 1
        asyncio.get_running_loop().call_later(0.01, lambda: asyncio.ensure_future(self._deliver(channel)))

    async def _deliver(self, channel) -> None:
        voice = self.voice_client
        if voice is None:
            return
        channel_id = None if channel is None else str(channel.id)
        await voice.on_voice_state_update({"channel_id": channel_id, "session_id": "s1", "user_id": "0"})
        if channel is not None:
            await voice.on_voice_server_update({"token": "t", "guild_id": str(self.id), "endpoint": "voice.test"})


    async def move_voice_server(self) -> None:
        """Discord moves the call to another voice server and says so on the main gateway, unasked."""
        await self.voice_client.on_voice_server_update({"token": "t2", "guild_id": str(self.id), "endpoint": "voice2.test"})


class FakeChannel:
    connect = discord.abc.Connectable.connect  # discord.py's own: creates the client and runs its handshake

    def __init__(self, channel_id: int, guild: FakeGuild, state) -> None:
        self.id, self.guild, self._state, self.name = channel_id, guild, state, "General"
        self.mention = f"<#{channel_id}>"
        guild.channel, guild.state = self, state

    def permissions_for(self, member):
        return SimpleNamespace(connect=True, speak=True)

    def _get_voice_client_key(self):
        return self.guild.id, "guild_id"


class FakeClientState:
    """discord.py's ConnectionState, as far as voice clients use it."""

    def __init__(self, loop, bot_id: int, gateway: VoiceGateway) -> None:
        self.loop, self.user = loop, SimpleNamespace(id=bot_id)
        self.http = SimpleNamespace(ws_connect=self._ws_connect)
        self.gateway = gateway
        self.voice_clients: dict[int, discord.VoiceClient] = {}
        self.sockets: list[FakeWebSocket] = []

    async def _ws_connect(self, url: str, **kwargs) -> FakeWebSocket:
        socket = FakeWebSocket(self.gateway)
        self.sockets.append(socket)
        return socket

    def _get_client(self):
        return SimpleNamespace(_connection=self, loop=self.loop, user=self.user)

    def _get_voice_client(self, key):
        return self.voice_clients.get(key)

    def _add_voice_client(self, key, voice) -> None:
        self.voice_clients[key] = voice

    def _remove_voice_client(self, key) -> None:
        self.voice_clients.pop(key, None)
