"""Test-wide safety: every address mailprobe may send to is loopback or a documentation range.

pytest-socket (see pyproject addopts) limits in-process connects to loopback; MAILPROBE_ALLOW_ONLY makes
mailprobe itself refuse anything else before it is sent (UDP DNS and raw probes included).
"""

from __future__ import annotations

import os

SAFE_NETWORKS = "127.0.0.0/8,::1/128,198.51.100.0/24,203.0.113.0/24,2001:db8::/32"
os.environ["MAILPROBE_ALLOW_ONLY"] = SAFE_NETWORKS
