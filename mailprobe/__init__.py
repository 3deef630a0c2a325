"""mailprobe: what stands between you and a mail server, and what that server does wrong.

The library API is in `mailprobe.api` (audit, resolve, ports, handshake); importing this package stays cheap
and never imports scapy.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
