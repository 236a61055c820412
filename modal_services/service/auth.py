"""Who may use a speech service.

On Modal the web endpoints are declared with `requires_proxy_auth=True`: Modal's
proxy checks the `Modal-Key`/`Modal-Secret` headers before a request reaches
the app, so the app itself needs no token. Self-hosted (`parley services
serve`), the app checks a bearer token; without one it only serves localhost.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, WebSocket

from agent_core.access import bearer_token, token_matches


class ServiceAuth:
    def __init__(self, token: str | None) -> None:
        self._token = token or None

    def allows(self, authorization: str | None) -> bool:
        return self._token is None or token_matches(bearer_token(authorization), self._token)

    async def check_request(self, request: Request) -> None:
        """FastAPI dependency for the HTTP routes."""
        if not self.allows(request.headers.get("authorization")):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def accept(self, websocket: WebSocket) -> bool:
        """Accept the WebSocket if its upgrade request carries the token; refuse it with HTTP 403 if not."""
        if not self.allows(websocket.headers.get("authorization")):
            await websocket.close(code=1008)  # before accept(): the client sees an HTTP 403
            return False
        await websocket.accept()
        return True
