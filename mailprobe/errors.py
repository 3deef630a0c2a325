"""The one exception tree. Probes turn these into result statuses; the CLI turns UsageError into exit 2."""

from __future__ import annotations


class MailprobeError(Exception):
    """Base of everything mailprobe raises on purpose."""


class UsageError(MailprobeError):
    """Bad input from the user (target, port spec, option value, profile). Exit code 2, one line."""


class ProfileError(UsageError):
    """A profile that cannot be loaded: unknown key, wrong type (message names file, line and key)."""


class ResolverError(UsageError):
    """The chosen resolver is unusable (unreachable, not a DNS server)."""


class UnsafeTargetError(UsageError):
    """A target the safety guard refuses (see mailprobe.net.guard)."""


class OutputClosed(MailprobeError):
    """Whoever read standard output went away (a closed pipe: `| head`): the run stops, nothing more is written."""


class TransportError(MailprobeError):
    """I/O failure inside a session; carries the ProbeStatus value that names where it failed."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ProtocolViolation(MailprobeError):
    """Bytes that are not the protocol (raised by sans-I/O parsers; the session ends as protocol-error)."""


class LimitExceeded(MailprobeError):
    """A line, reply or session went over its byte cap (the session ends as limit-exceeded)."""
