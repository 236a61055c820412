"""Discord: the voice bot (DAVE-aware receive, playback) and the admins' slash commands."""

from bots.voice_packet import VoicePacket, decode_voice_packet

__all__ = ["VoicePacket", "decode_voice_packet"]
