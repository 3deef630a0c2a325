"""`mailprobe demo`: start the embedded loopback lab, audit its domain through the normal pipeline, stop."""

from __future__ import annotations

from dataclasses import replace

from mailprobe.config import Config, Limits
from mailprobe.engine import audit
from mailprobe.model import Report


async def run_demo(transcript: bool = True) -> Report:
    from mailprobe.demo.lab import DemoLab

    async with DemoLab() as lab:
        cfg = Config(
            limits=Limits(connect_timeout=2.0, read_timeout=2.0, session_timeout=5.0),
            resolver=lab.resolver,
            ports=lab.port_overrides(),
            ca_file=lab.ca_file,
            allow_nonpublic=True,  # the demo's MX is on 127.0.0.1 by design
            check_legacy_tls=True,
            transcript=transcript,
        )
        report = await audit([lab.domain], cfg, command="demo")
    return replace(report, meta=(("note", "embedded loopback lab: nothing left this machine"),))
