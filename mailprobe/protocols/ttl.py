"""How far away an answer came from, by its IP TTL (or hop limit). Pure."""

from __future__ import annotations


def initial_ttl(ttl: int) -> int:
    """The initial TTL a sender most likely used (64, 128 or 255; 32 for a few old stacks)."""
    for guess in (32, 64, 128, 255):
        if ttl <= guess:
            return guess
    return 255


def hop_distance(ttl: int) -> int:
    """How many routers decremented the TTL on the way back."""
    return initial_ttl(ttl) - ttl
