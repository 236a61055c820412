"""An OpenAI Realtime API (GA) server on Parley's agent core: `WS /v1/realtime` (docs/realtime.md).

It imports agent_core only; the composition root (parley/) decides access and wires it in.
"""

from realtime.endpoint import realtime_connection, refuse_busy

__all__ = ["refuse_busy", "realtime_connection"]
