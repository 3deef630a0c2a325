"""mailprobe: what stands between you and a mail server, and what that server does wrong.

The library API (`audit`, `audit_many`, `resolve`, `ports`, `handshake`) lives in `mailprobe.api` and is reachable here
lazily, so `import mailprobe` stays cheap and never imports scapy.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "audit", "audit_many", "handshake", "ports", "resolve"]


def __getattr__(name: str) -> Any:
    if name in ("audit", "audit_many", "handshake", "ports", "resolve"):
        from mailprobe import api

        return getattr(api, name)
    raise AttributeError(f"module 'mailprobe' has no attribute {name!r}")
