"""Clients for Parley speech services: pooled WebSocket connections and the wire protocol."""
