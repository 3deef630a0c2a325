"""The lab itself works: real servers answer in the client namespace, the router policies do what they say,
and the delayed link adds the round trip asked for. Every check runs from the client namespace, as mailprobe
will, through tests/lab/netcheck.py (which knows nothing of mailprobe's probes)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from labnet import POLICIES, WWW_DIR, ZONES_DIR, Lab, cleanup_stale

PLAIN_GREETINGS = {25: "220 mx1.lab.test ESMTP", 587: "220 mx1.lab.test ESMTP", 110: "+OK Dovecot", 143: "* OK"}
IMPLICIT_TLS = {465: ("smtp", "220 mx1.lab.test ESMTP"), 995: ("pop3", "+OK Dovecot"), 993: ("imap", "* OK")}
SMARTHOST_BANNER = "220 smtp.isp.test ESMTP ISP-Relay"
MAIL_PORTS = (25, 465, 587, 110, 995, 143, 993)


def by_key(lab: Lab, jobs: dict[str, dict[str, object]], timeout: float = 30) -> dict[str, dict[str, object]]:
    results = lab.netcheck(list(jobs.values()), timeout=timeout)
    return dict(zip(jobs, results, strict=True))


def tls_job(lab: Lab, host: str, port: int, protocol: str, starttls: bool) -> dict[str, object]:
    return {"op": "tls", "host": host, "port": port, "sni": "mx1.lab.test", "ca": lab.ca_file,
            "protocol": protocol, "starttls": starttls}


def test_every_mail_port_greets_on_both_address_families(lab: Lab) -> None:
    jobs: dict[str, dict[str, object]] = {}
    for host in (lab.mail4, lab.mail6):
        for port in PLAIN_GREETINGS:
            jobs[f"{host} {port}"] = {"op": "connect", "host": host, "port": port, "read": True}
        for port, (protocol, _) in IMPLICIT_TLS.items():
            jobs[f"{host} {port}"] = tls_job(lab, host, port, protocol, starttls=False)
    results = by_key(lab, jobs)
    for host in (lab.mail4, lab.mail6):
        for port, greeting in PLAIN_GREETINGS.items():
            result = results[f"{host} {port}"]
            assert result["outcome"] == "open", (host, port, result)
            assert str(result["banner"]).startswith(greeting), (host, port, result)
        for port, (_, greeting) in IMPLICIT_TLS.items():
            result = results[f"{host} {port}"]
            assert result["outcome"] == "ok", (host, port, result)
            assert str(result["banner"]).startswith(greeting), (host, port, result)
            assert result["peer_names"] == ["mx1.lab.test", "mail.lab.test"]
            assert result["version"] in ("TLSv1.2", "TLSv1.3")



def test_misconfigured_host_greets_on_both_address_families(lab: Lab) -> None:
    """bad.lab.test: its own Postfix and Dovecot answer; 993/995 verify for bad.lab.test with the lab CA, 465
    serves a certificate no client can verify, and IMAP greets without LOGINDISABLED."""
    greetings = {25: "220 bad.lab.test ESMTP", 587: "220 bad.lab.test ESMTP", 110: "+OK Dovecot", 143: "* OK"}
    jobs: dict[str, dict[str, object]] = {}
    for host in (lab.bad4, lab.bad6):
        for port in greetings:
            jobs[f"{host} {port}"] = {"op": "connect", "host": host, "port": port, "read": True}
        for port, protocol in ((995, "pop3"), (993, "imap"), (465, "smtp")):
            jobs[f"{host} {port}"] = {**tls_job(lab, host, port, protocol, starttls=False), "sni": "bad.lab.test"}
    results = by_key(lab, jobs)
    for host in (lab.bad4, lab.bad6):
        for port, greeting in greetings.items():
            result = results[f"{host} {port}"]
            assert result["outcome"] == "open", (host, port, result)
            assert str(result["banner"]).startswith(greeting), (host, port, result)
        assert "LOGINDISABLED" not in str(results[f"{host} 143"]["banner"])
        for port in (995, 993):
            result = results[f"{host} {port}"]
            assert result["outcome"] == "ok" and result["peer_names"] == ["bad.lab.test"], (host, port, result)
        smtps = results[f"{host} 465"]
        assert smtps["outcome"] == "error" and "CERTIFICATE_VERIFY_FAILED" in str(smtps["error"]), smtps

def test_starttls_everywhere_and_auth_only_after_tls(lab: Lab) -> None:
    results = by_key(lab, {
        "smtp": tls_job(lab, lab.mail4, 25, "smtp", starttls=True),
        "submission": tls_job(lab, lab.mail6, 587, "smtp", starttls=True),
        "smtps": tls_job(lab, lab.mail4, 465, "smtp", starttls=False),
        "imap": tls_job(lab, lab.mail4, 143, "imap", starttls=True),
        "pop3": tls_job(lab, lab.mail6, 110, "pop3", starttls=True),
    })
    for name, result in results.items():
        assert result["outcome"] == "ok", (name, result)
    assert "250-STARTTLS" in results["smtp"]["capabilities_plain"]
    submission = results["submission"]
    assert "250-STARTTLS" in submission["capabilities_plain"]
    assert not any("AUTH" in line for line in submission["capabilities_plain"])
    assert any(line.endswith("AUTH PLAIN LOGIN") for line in submission["capabilities_tls"])
    assert any(line.endswith("AUTH PLAIN LOGIN") for line in results["smtps"]["capabilities_tls"])
    # Port 25 is the MX: no AUTH before or after TLS.
    assert not any("AUTH" in line for line in results["smtp"]["capabilities_tls"])
    assert "LOGINDISABLED" in str(results["imap"]["banner"])
    assert str(results["imap"]["starttls_reply"]).startswith("a1 OK")
    assert str(results["pop3"]["starttls_reply"]).startswith("+OK")


def test_lab_dns_is_authoritative_for_forward_and_reverse_names(lab: Lab) -> None:
    def dns(server: str, name: str, rtype: str, tcp: bool = False) -> dict[str, object]:
        return {"op": "dns", "server": server, "name": name, "type": rtype, "tcp": tcp}

    results = by_key(lab, {
        "mx": dns(lab.dns4, "lab.test", "MX"),
        "mx-tcp-v6": dns(lab.dns6, "lab.test", "MX", tcp=True),
        "a": dns(lab.dns4, "mx1.lab.test", "A"),
        "aaaa": dns(lab.dns6, "mx1.lab.test", "AAAA"),
        "ptr4": dns(lab.dns4, "25.113.0.203.in-addr.arpa", "PTR"),
        "ptr-smarthost": dns(lab.dns4, "26.113.0.203.in-addr.arpa", "PTR"),
        "ptr6": dns(lab.dns6, "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.1.1.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR"),
        "ptr-client": dns(lab.dns4, "10.100.51.198.in-addr.arpa", "PTR"),
        "mta-sts": dns(lab.dns4, "_mta-sts.lab.test", "TXT"),
        "missing": dns(lab.dns4, "nosuch.lab.test", "A"),
    })
    for name, result in results.items():
        assert result["outcome"] == "ok", (name, result)
        assert result["aa"] is True, (name, result)
    assert results["mx"]["answers"] == ["10 mx1.lab.test."]
    assert results["mx-tcp-v6"]["answers"] == ["10 mx1.lab.test."]
    assert results["a"]["answers"] == [lab.mail4]
    assert results["aaaa"]["answers"] == [lab.mail6]
    assert results["ptr4"]["answers"] == ["mx1.lab.test."]
    assert results["ptr-smarthost"]["answers"] == ["smarthost.isp.test."]
    assert results["ptr6"]["answers"] == ["mx1.lab.test."]
    assert results["ptr-client"]["answers"] == ["client.lab.test."]
    assert results["mta-sts"]["answers"] == ['"v=STSv1; id=20240101T000000"']
    assert results["missing"]["rcode"] == "NXDOMAIN"


def test_every_zone_file_is_served(lab: Lab) -> None:
    zones = sorted(path.name.removesuffix(".zone") for path in ZONES_DIR.glob("*.zone"))
    assert "lab.test" in zones
    results = lab.netcheck([{"op": "dns", "server": lab.dns4, "name": zone, "type": "SOA"} for zone in zones])
    for zone, result in zip(zones, results, strict=True):
        assert result["outcome"] == "ok" and result["rcode"] == "NOERROR", (zone, result)
        assert result["aa"] is True and len(result["answers"]) == 1, (zone, result)


def test_mta_sts_policy_is_served_over_https_with_the_lab_ca(lab: Lab) -> None:
    def get(host: str, sni: str) -> dict[str, object]:
        return {"op": "https", "host": host, "sni": sni, "ca": lab.ca_file, "path": "/.well-known/mta-sts.txt"}

    results = by_key(lab, {
        "v4": get(lab.web4, "mta-sts.lab.test"),
        "v6": get(lab.web6, "mta-sts.lab.test"),
        "unknown-name": get(lab.web4, "nosuch.lab.test"),
    })
    expected = (WWW_DIR / "mta-sts.lab.test" / ".well-known" / "mta-sts.txt").read_text()
    assert "mode: enforce" in expected and "mx: mx1.lab.test" in expected
    for family in ("v4", "v6"):
        result = results[family]
        assert result["outcome"] == "ok", result
        assert result["status"] == 200
        assert str(result["content_type"]).startswith("text/plain")
        assert result["body"] == expected
    # A name nginx does not serve gets the default certificate, which does not verify for it.
    assert results["unknown-name"]["outcome"] == "error"
    assert "CERTIFICATE_VERIFY_FAILED" in str(results["unknown-name"]["error"])


def test_every_www_directory_is_a_verified_https_site(lab: Lab) -> None:
    sites = sorted(path.name for path in WWW_DIR.iterdir() if path.is_dir())
    results = lab.netcheck([{"op": "https", "host": lab.web4, "sni": site, "ca": lab.ca_file, "path": "/"}
                            for site in sites])
    for site, result in zip(sites, results, strict=True):
        assert result["outcome"] == "ok", (site, result)


def _policy_jobs(lab: Lab) -> dict[str, dict[str, object]]:
    def connect(host: str, port: int) -> dict[str, object]:
        # Read a greeting only where the server speaks first (not on the implicit-TLS ports or 443).
        return {"op": "connect", "host": host, "port": port, "read": port in PLAIN_GREETINGS, "timeout": 1.5}

    jobs = {f"{family} {port}": connect(host, port)
            for family, host in (("v4", lab.mail4), ("v6", lab.mail6)) for port in MAIL_PORTS}
    jobs["web 25"] = connect(lab.web4, 25)  # no server listens there
    jobs["https"] = connect(lab.web4, 443)
    jobs["dns"] = {"op": "dns", "server": lab.dns4, "name": "lab.test", "type": "MX", "timeout": 1.5}
    return jobs


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_gives_the_expected_connect_outcome(lab: Lab, policy: str) -> None:
    lab.set_policy(policy)
    assert lab.policy == policy
    results = by_key(lab, _policy_jobs(lab))
    outcomes = {key: result["outcome"] for key, result in results.items()}
    banners = {key: result.get("banner", "") for key, result in results.items()}
    # Whatever the policy: the web server and DNS still answer, and the other mail ports too unless dropped.
    assert outcomes["https"] == "open" and outcomes["dns"] == "ok"
    untouched = [p for p in MAIL_PORTS if p != 25] if policy != "drop-mail" else []
    for family in ("v4", "v6"):
        for port in untouched:
            assert outcomes[f"{family} {port}"] == "open", (family, port, results[f"{family} {port}"])
    port25 = {family: outcomes[f"{family} 25"] for family in ("v4", "v6")}
    if policy == "open":
        assert port25 == {"v4": "open", "v6": "open"}
        assert banners["v4 25"] == banners["v6 25"] == "220 mx1.lab.test ESMTP"
        assert outcomes["web 25"] == "refused"  # answered by the server host itself
    elif policy == "drop-25":
        assert port25 == {"v4": "timeout", "v6": "timeout"}
        assert outcomes["web 25"] == "timeout"
    elif policy == "reset-25":
        # mx1 listens on 25, so a refusal can only come from the router.
        assert port25 == {"v4": "refused", "v6": "refused"}
    elif policy == "icmp-25":
        assert results["v4 25"]["errno"] == "EHOSTUNREACH"
        assert results["v6 25"]["errno"] == "EACCES"
    elif policy == "dnat-25":
        assert port25 == {"v4": "open", "v6": "open"}
        assert banners["v4 25"] == banners["v6 25"] == SMARTHOST_BANNER
        assert banners["web 25"] == SMARTHOST_BANNER  # every server address is intercepted
        assert banners["v4 587"] == "220 mx1.lab.test ESMTP"
    elif policy in ("inspect-25", "strip-starttls-25"):
        # The router's proxy answers, then relays mx1's greeting (masked by the ASA-style one).
        assert port25 == {"v4": "open", "v6": "open"}
        greeting = "220 mx1.lab.test ESMTP" if policy == "strip-starttls-25" else "220 " + "*" * 18
        assert banners["v4 25"] == banners["v6 25"] == greeting
        # Where no server listens the proxy's own accept still succeeds; it closes without a greeting.
        assert outcomes["web 25"] == "open" and banners["web 25"] == ""
    elif policy == "drop-mail":
        for family in ("v4", "v6"):
            for port in MAIL_PORTS:
                assert outcomes[f"{family} {port}"] == "timeout", (family, port)
    else:
        pytest.fail(f"no expectation written for policy {policy}")


def test_unknown_policy_is_refused(lab: Lab) -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        lab.set_policy("drop-everything")


def test_added_addresses_are_reachable_through_the_router(lab: Lab) -> None:
    lab.add_addresses("servers", ["203.0.113.200", "2001:db8:113::200"])
    results = lab.netcheck([{"op": "connect", "host": host, "port": 25, "timeout": 2}
                            for host in ("203.0.113.200", "2001:db8:113::200")])
    # No daemon listens there, so the host itself refuses: the address is up and routed.
    assert [r["outcome"] for r in results] == ["refused", "refused"]
    with pytest.raises(ValueError):
        lab.add_addresses("servers", ["198.51.100.200"])


def test_client_namespace_resolver_is_the_lab_dns(lab: Lab) -> None:
    done = lab.run_client(["cat", "/etc/resolv.conf"])
    servers = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("nameserver")]
    assert servers == [lab.dns4, lab.dns6]
    routes = lab.run_client(["ip", "-4", "route"]).stdout
    assert "default via 198.51.100.1" in routes


def test_round_trip_delay_matches_the_request(delayed_lab: Lab) -> None:
    rtt = delayed_lab.rtt_ms
    jobs = [
        {"op": "rtt", "host": delayed_lab.mail4, "port": 25, "count": 6},
        {"op": "rtt", "host": delayed_lab.mail6, "port": 143, "count": 6},
        # The router is before the delayed link: its own refusal comes back at once.
        {"op": "rtt", "host": "198.51.100.1", "port": 25, "count": 6},
    ]
    results = delayed_lab.netcheck(jobs)
    for job, result in zip(jobs, results, strict=True):
        assert result["outcome"] == "ok", (job, result)
    # The first connect of each also waits for ARP / neighbour discovery across the link.
    v4, v6, router = (statistics.median(result["ms"][1:]) for result in results)
    assert rtt - 1 <= v4 <= rtt + 8, results[0]
    assert rtt - 1 <= v6 <= rtt + 8, results[1]
    assert router < 5, results[2]


@pytest.mark.usefixtures("lab")  # skips (or fails) as the lab does when namespaces are unavailable
def test_cleanup_stale_removes_only_labs_of_dead_processes() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, alive = f"mp{dead.pid}-0-client", f"mp{os.getppid()}-0-client"
    for ns in (stale, alive):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        removed = cleanup_stale()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
        assert stale in removed and stale not in listed
        assert alive not in removed and alive in listed
    finally:
        for ns in (stale, alive):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)


def test_down_stops_every_daemon_and_leaves_nothing_behind(lab: Lab) -> None:
    extra = Lab.up(rtt_ms=0)
    pids = [proc.pid for _, proc in extra._daemons]
    namespaces = [extra.client_ns, extra.router_ns, extra.servers_ns]
    tmpdir = extra.tmpdir
    assert tmpdir is not None and all(Path(f"/proc/{pid}").exists() for pid in pids)
    extra.down()
    extra.down()  # idempotent
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(ns in listed for ns in namespaces)
    assert not any(Path(f"/etc/netns/{ns}").exists() for ns in namespaces)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert os.environ.get("MAILPROBE_LAB_KEEP") or not tmpdir.exists()
