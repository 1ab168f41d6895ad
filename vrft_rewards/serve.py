"""The HTTP reward server's public path (``from vrft_rewards.serve import serve, make_server``).

The server lives in :mod:`vrft_rewards.integrations.server` beside the trainer adapters; run it
with ``vrft-rewards serve --task <preset>``.
"""

from __future__ import annotations

from .integrations.server import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_JSON_VALUES, RewardServer, make_server, serve

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_JSON_VALUES", "RewardServer", "make_server", "serve"]
