"""What a lab test does when this machine cannot run it: skip, or fail under MAILPROBE_REQUIRE_LAB=1 (CI)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("MAILPROBE_REQUIRE_LAB") == "1":
        pytest.fail(f"MAILPROBE_REQUIRE_LAB=1 but the lab cannot run: {reason}", pytrace=False)
    pytest.skip(f"lab unavailable: {reason}")
