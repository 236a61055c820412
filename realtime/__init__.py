"""An OpenAI Realtime API (GA) server on Parley's agent core: `WS /v1/realtime` (docs/realtime.md).

It imports agent_core only; the composition root (parley/) decides access and wires it in.
"""

from realtime.endpoint import refuse_busy, serve_realtime

__all__ = ["refuse_busy", "serve_realtime"]
