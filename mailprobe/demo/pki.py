"""A throwaway certificate authority for the demo servers and the tests (trustme).

The CA certificate is written to a private temporary directory so a client (mailprobe's --ca-file, a test)
can trust it; close() removes the directory. Certificates for odd cases (expired, not yet valid, wrong name,
signed by a CA nobody trusts) come from the same object so tests need no files of their own.
"""

from __future__ import annotations

import datetime
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

WRONG_NAME = "wrong-name.mailprobe.test"
_DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _server_context(cert: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


class DemoPki:
    """A CA plus cached leaf certificates; create() is cheap (ECDSA keys, milliseconds)."""

    def __init__(self, ca: Any, names: Sequence[str], directory: Path) -> None:
        self._ca = ca
        self._untrusted_ca: Any = None
        self.names: tuple[str, ...] = tuple(names)
        self._dir = directory
        self.ca_pem: bytes = ca.cert_pem.bytes()
        path = directory / "demo-ca.pem"
        path.write_bytes(self.ca_pem)
        self.ca_pem_path: str = str(path)
        self._contexts: dict[tuple[str, ...], ssl.SSLContext] = {}

    @classmethod
    def create(cls, names: Sequence[str]) -> DemoPki:
        if not names:
            raise ValueError("DemoPki needs at least one server name")
        directory = Path(tempfile.mkdtemp(prefix="mailprobe-demo-pki-"))
        return cls(trustme.CA(organization_name="mailprobe demo CA"), names, directory)

    def server_context(self, name: str | None = None) -> ssl.SSLContext:
        """A server context whose certificate (valid now) names `name` (default: the first name)."""
        key = (name or self.names[0],)
        if key not in self._contexts:
            self._contexts[key] = _server_context(self._ca.issue_cert(*key))
        return self._contexts[key]

    def issue_context(
        self,
        *names: str,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> ssl.SSLContext:
        """A server context for any names and validity window, signed by the demo CA (not cached)."""
        cert = self._ca.issue_cert(*(names or self.names), not_before=not_before, not_after=not_after)
        return _server_context(cert)

    def expired_context(self, name: str | None = None) -> ssl.SSLContext:
        now = _now()
        return self.issue_context(name or self.names[0], not_before=now - 30 * _DAY, not_after=now - _DAY)

    def not_yet_valid_context(self, name: str | None = None) -> ssl.SSLContext:
        now = _now()
        return self.issue_context(name or self.names[0], not_before=now + _DAY, not_after=now + 30 * _DAY)

    def wrong_name_context(self, wrong_name: str = WRONG_NAME) -> ssl.SSLContext:
        """A certificate the demo CA signed, but for a name the client did not ask for."""
        return self.issue_context(wrong_name)

    def untrusted_context(self, name: str | None = None) -> ssl.SSLContext:
        """A certificate for the right name from a second CA that is never written out or trusted."""
        if self._untrusted_ca is None:
            self._untrusted_ca = trustme.CA(organization_name="mailprobe untrusted CA")
        return _server_context(self._untrusted_ca.issue_cert(name or self.names[0]))

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the demo CA (for tests)."""
        return ssl.create_default_context(cafile=self.ca_pem_path)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> DemoPki:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
