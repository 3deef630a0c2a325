"""TLS facts of a chain seen before come from memory (protocols/tls.py ChainMemory): the same facts as a fresh
parse and verification, the host name still matched per call, and worked out again for another CA file, once
the time crosses a validity date of the chain, or when the verdict is older than its maximum age."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailprobe.model import VerifyFailure
from mailprobe.protocols import tls

CIPHER = ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256)
NOW = dt.datetime.now(dt.timezone.utc)


def der_chain(leaf: trustme.LeafCert) -> list[bytes]:
    return [x509.load_pem_x509_certificate(pem.bytes()).public_bytes(Encoding.DER) for pem in leaf.cert_chain_pems]


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """A fresh memory, and how often a certificate was parsed and a chain verified."""
    counts = {"parsed": 0, "verified": 0}
    parse, verify = tls._parse_cert, tls._verify

    def counted_parse(der: bytes, now: dt.datetime) -> object:
        counts["parsed"] += 1
        return parse(der, now)

    def counted_verify(chain: list[bytes], ca_file: str | None, now: dt.datetime | None) -> object:
        counts["verified"] += 1
        return verify(chain, ca_file, now)

    monkeypatch.setattr(tls, "_MEMORY", tls.ChainMemory())
    monkeypatch.setattr(tls, "_parse_cert", counted_parse)
    monkeypatch.setattr(tls, "_verify", counted_verify)
    yield counts


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, str, str]:
    directory = tmp_path_factory.mktemp("cas")
    ca, other = trustme.CA(), trustme.CA()
    ours, theirs = directory / "ca.pem", directory / "other.pem"
    ca.cert_pem.write_to_path(str(ours))
    other.cert_pem.write_to_path(str(theirs))
    return ca, str(ours), str(theirs)


def test_a_chain_seen_before_gives_the_same_facts_without_parsing_or_verifying_again(
    memory: dict[str, int], ca_files: tuple[trustme.CA, str, str]
) -> None:
    ca, ca_file, _ = ca_files
    chain = der_chain(ca.issue_cert("mx1.lab.test", "mx2.lab.test"))
    first = tls.tls_facts("TLSv1.3", CIPHER, chain, "mx1.lab.test", ca_file)
    assert (memory["parsed"], memory["verified"]) == (len(chain), 1)
    again = tls.tls_facts("TLSv1.3", CIPHER, list(chain), "mx1.lab.test", ca_file)  # another session's bytes
    assert again == first and first.verified and first.hostname_match
    assert (memory["parsed"], memory["verified"]) == (len(chain), 1)
    # The name is matched on every call, against the remembered certificate.
    assert tls.tls_facts("TLSv1.3", CIPHER, chain, "mx2.lab.test", ca_file).hostname_match
    assert not tls.tls_facts("TLSv1.3", CIPHER, chain, "other.lab.test", ca_file).hostname_match
    assert memory["verified"] == 1


def test_another_ca_file_is_another_verdict(memory: dict[str, int], ca_files: tuple[trustme.CA, str, str]) -> None:
    ca, ca_file, other_file = ca_files
    chain = der_chain(ca.issue_cert("mx1.lab.test"))
    trusted = tls.tls_facts("TLSv1.3", CIPHER, chain, "mx1.lab.test", ca_file)
    untrusted = tls.tls_facts("TLSv1.3", CIPHER, chain, "mx1.lab.test", other_file)
    assert trusted.verified and not untrusted.verified
    assert untrusted.verify_failure is VerifyFailure.UNKNOWN_ISSUER
    assert memory["verified"] == 2
    assert tls.tls_facts("TLSv1.3", CIPHER, chain, "mx1.lab.test", other_file) == untrusted
    assert memory["verified"] == 2


def test_an_expired_chain_is_remembered_as_expired(
    memory: dict[str, int], ca_files: tuple[trustme.CA, str, str]
) -> None:
    ca, ca_file, _ = ca_files
    gone = ca.issue_cert("old.lab.test", not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1))
    chain = der_chain(gone)
    first = tls.tls_facts("TLSv1.3", CIPHER, chain, "old.lab.test", ca_file)
    assert first.verify_failure is VerifyFailure.EXPIRED and first.chain[0].days_left < 0
    assert tls.tls_facts("TLSv1.3", CIPHER, chain, "old.lab.test", ca_file) == first
    assert memory["verified"] == 1


def test_crossing_a_validity_date_verifies_again(
    memory: dict[str, int], ca_files: tuple[trustme.CA, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, ca_file, _ = ca_files
    ends = (NOW + dt.timedelta(days=2)).replace(microsecond=0)
    chain = der_chain(ca.issue_cert("soon.lab.test", not_after=ends))
    assert tls.tls_facts("TLSv1.3", CIPHER, chain, "soon.lab.test", ca_file).verified
    assert tls.verify(chain, ca_file) == (None, None) and memory["verified"] == 1

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Later:  # type: ignore[override]
            return cls.fromtimestamp(ends.timestamp() + 3600, tz)

    monkeypatch.setattr(tls.dt, "datetime", Later)  # the memory's clock only: OpenSSL keeps the real time
    tls.verify(chain, ca_file)
    assert memory["verified"] == 2
    facts = tls.cert_facts(chain[0])
    assert facts.days_left == -1  # counted from the new time, from the remembered certificate
    assert memory["parsed"] == len(chain)


def test_a_verdict_older_than_its_maximum_age_is_worked_out_again(
    memory: dict[str, int], ca_files: tuple[trustme.CA, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, ca_file, _ = ca_files
    monkeypatch.setattr(tls, "_MEMORY", tls.ChainMemory(max_age=0.0))
    chain = der_chain(ca.issue_cert("mx1.lab.test"))
    for _ in range(3):
        assert tls.verify(chain, ca_file) == (None, None)
    assert memory["verified"] == 3 and memory["parsed"] == len(chain)


def test_memory_is_bounded(ca_files: tuple[trustme.CA, str, str]) -> None:
    ca, ca_file, _ = ca_files
    memory = tls.ChainMemory(size=2)
    for name in ("a.lab.test", "b.lab.test", "c.lab.test"):
        chain = der_chain(ca.issue_cert(name))
        parsed = tls._parse_cert(chain[0], NOW)
        memory.remember_parsed(chain[0], parsed)
        memory.remember_verdict((tuple(chain), ca_file), (None, None), (NOW, NOW + dt.timedelta(days=1)))
    assert len(memory.parsed) == 2 and len(memory._verdicts) == 2


def test_a_trust_store_read_ahead_is_the_one_verify_uses(
    memory: dict[str, int], ca_files: tuple[trustme.CA, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_trust_store (a process about to fork reads it once for all its children): a chain verified later
    reads no store of its own, and is judged by the CA file it was read with."""
    ca, _, other_file = ca_files
    reads: list[str | None] = []
    new_store = tls._new_store

    def counted(ca_file: str | None) -> object:
        reads.append(ca_file)
        return new_store(ca_file)

    monkeypatch.setattr(tls, "_new_store", counted)
    tls._store.cache_clear()
    tls.load_trust_store(other_file)
    assert reads == [other_file]
    facts = tls.tls_facts("TLSv1.3", CIPHER, der_chain(ca.issue_cert("mx1.lab.test")), "mx1.lab.test", other_file)
    assert reads == [other_file]  # the store read ahead, not another
    assert facts.verify_error is not None  # other_file's CA is not the one that issued the chain
    tls._store.cache_clear()
