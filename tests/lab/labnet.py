"""The real-server lab: Postfix, Dovecot, Exim, Courier, OpenSMTPD, NSD and nginx in network namespaces, behind a
switchable router.

Topology (documentation addresses only; no namespace has a route out of the machine)::

    client ns                    router ns                         servers ns
    198.51.100.10/24    eth0 ── cli0  198.51.100.1    srv0 ── eth0  203.0.113.25  mx1.lab.test   Postfix 25 587 465
    2001:db8:100::10/64          2001:db8:100::1  203.0.113.1         (+ ::25)     Dovecot 110 995 143 993
    (mailprobe runs here)        2001:db8:100::1  2001:db8:113::1  203.0.113.26  smarthost.isp.test  Postfix 25
                                 nftables `inet mplab`               203.0.113.27  bad.lab.test   Postfix 25 587 465
                                                                     (misconfigured) Dovecot 110 995 143 993
                                 inspect_proxy.py                    203.0.113.28  exim.lab.test  Exim 25 587 465
                                 (ports 10025/10026,                 203.0.113.29  courier.lab.test  Courier IMAP
                                 started by inspect-25 /                           143 993, POP3 110 995
                                 strip-starttls-25)                  203.0.113.30  opensmtpd.lab.test  OpenSMTPD
                                                                                   25 587 465 (TLS broken)
                                                                     203.0.113.53  ns.lab.test   NSD 53
                                                                     203.0.113.80  web.lab.test  nginx 443
                                                                     (each also at 2001:db8:113::<same>)

srv0 ── eth0 is a veth pair, or with a round-trip time (``rtt_ms`` / env ``LAB_RTT_MS``) two TAP devices
joined by tests/lab/delay.py, which holds each frame rtt/2 per direction (the kernel here has no netem).

Use::

    from labnet import Lab          # tests/lab on sys.path (pytest does this for tests/lab)
    with Lab.up(rtt_ms=0) as lab:   # LabUnavailable(reason) when not root or packages are missing
        lab.set_policy("drop-25")
        done = lab.mailprobe("ports", lab.mail4, "--ca-file", lab.ca_file)

API:
    Lab.up(rtt_ms: float | None = None) -> Lab    None: env LAB_RTT_MS, else 0. A few seconds.
    lab.down() -> None                            idempotent; also safe after a partial start
    with Lab.up() as lab: ...                     down() on exit
    lab.client_ns, lab.router_ns, lab.servers_ns  namespace names (per run: mp<pid>-<n>-<role>)
    lab.domain = "lab.test"; lab.mail4/mail6 (mx1.lab.test), lab.bad4/bad6 (bad.lab.test, the misconfigured
    host), lab.exim4/exim6, lab.courier4/courier6, lab.opensmtpd4/opensmtpd6, lab.smarthost4/smarthost6,
    lab.dns4/dns6, lab.web4/web6, lab.client4/client6, lab.router4/router6 (server side); lab.rtt_ms
    lab.ca_file                                   PEM of the lab CA (pass as --ca-file)
    lab.pki                                       labpki.Pki: cert/key paths and TLSA hashes per server, keyed
                                                  by first name; also "wrong.example.test", bad:465's cert
    lab.run_client(argv, timeout=60, env=None) -> CompletedProcess[str]
                                                  argv in the client ns, MAILPROBE_ALLOW_ONLY set, cwd = repo
    lab.mailprobe(*args, timeout=60) -> CompletedProcess[str]   `sys.executable -m mailprobe *args` there
    lab.netcheck(jobs, timeout=60) -> list[dict]  tests/lab/netcheck.py jobs in the client ns (see there)
    lab.set_policy(name) -> None                  router policy (labpolicy.py), replaced atomically:
        open       everything passes
        drop-25    TCP to port 25 silently dropped (connect times out)
        reset-25   TCP to port 25 answered with a RST from the router (ECONNREFUSED)
        icmp-25    TCP to port 25 rejected with ICMP/ICMPv6 administratively prohibited
                   (EHOSTUNREACH on IPv4, EACCES on IPv6)
        dnat-25    TCP to port 25 of any server address rewritten to the smarthost (203.0.113.26 /
                   2001:db8:113::26), which greets "220 smtp.isp.test ESMTP ISP-Relay"
        drop-mail  every mail port (25 465 587 110 995 143 993) dropped; 443 and DNS still pass
        inspect-25 TCP to port 25 of any server address redirected to the router's proxy
                   (inspect_proxy.py), which connects on to the original destination and rewrites the
                   dialogue as a Cisco ASA's ESMTP inspection does: greeting text masked
                   ("220 ******************", same length), "250-STARTTLS" -> "250-XXXXXXXA", and STARTTLS
                   answered by the proxy "500 5.5.1 Command unrecognized" (never forwarded)
        strip-starttls-25  the same proxy, greeting untouched: the STARTTLS line removed from EHLO's reply
                   and STARTTLS refused the same way
                   Under both the proxy completes the client's connect itself, so port 25 answers the SYN
                   from the router: with a delay, long before 587/465 of the same address do (a port-25
                   connect to an address where nothing listens succeeds too, then closes without a
                   greeting). Servers see the router (203.0.113.1 / 2001:db8:113::1) as the client.
    lab.policy                                    the current policy name
    lab.add_addresses(ns, addresses) -> None      extra addresses ("client" or "servers", or a ns name);
                                                  only inside 198.51.100.0/24, 2001:db8:100::/64 (client)
                                                  or 203.0.113.0/24, 2001:db8:113::/64 (servers)
    lab.log_tail(daemon, size=3000) -> str        end of a daemon's log, for failure messages; daemons: nsd,
                                                  dovecot, dovecot-bad, postfix-mx1, postfix-bad,
                                                  postfix-smarthost, nginx, exim, courier-imap, courier-imaps,
                                                  courier-pop3, courier-pop3s (one log), opensmtpd,
                                                  inspect-proxy (once a policy started it)
    lab.start_seconds, lab.stop_seconds           how long up() and down() took
    lab.forced                                    daemons that ignored SIGTERM for 2.5 s and got SIGKILL

Servers: mx1 Postfix smtpd on 25 (STARTTLS), 587 (STARTTLS required, AUTH only after TLS, SASL via
Dovecot), 465 (implicit TLS); Dovecot POP3 110/995 and IMAP 143/993 (STARTTLS/STLS, plaintext auth only
after TLS). Neither delivers mail. Test account probe@lab.test / lab-password (Dovecot passwd-file).
Smarthost Postfix on 25 only.
bad.lab.test (MX of zone badmail.test), its own Postfix and Dovecot, configured wrong on purpose:
    25   no STARTTLS, VRFY on (EHLO lists VRFY; VRFY answers 252), an open relay (mynetworks = everyone:
         RCPT to any domain gets 250) that still delivers nothing: every transport is Postfix's error(8)
         agent (relay/default under the name `nowhere`, as one named `error` makes smtpd refuse the RCPT)
         and its SMTP client does no DNS
    587  STARTTLS offered, but AUTH PLAIN LOGIN offered before it and MAIL FROM accepted before it
    465  implicit TLS with a self-signed certificate for wrong.example.test that expired 30 days before
         lab start (lab.pki.certs["wrong.example.test"])
    143  IMAP without LOGINDISABLED before STARTTLS (AUTH=PLAIN AUTH=LOGIN in clear); 110 POP3 offers USER
         before STLS (Dovecot disable_plaintext_auth = no)
    587, 993, 995 serve a valid lab-CA certificate for bad.lab.test, so the certificate faults are 465's alone.
Servers run from Debian packages unpacked (dpkg -x, by install-deps.sh) into /var/cache/mailprobe-lab/root, as
they conflict with Postfix/Dovecot as packages (labunpacked.py has the details). None delivers mail.
    exim.lab.test       Exim 4.96: 25 STARTTLS, no AUTH; 587 STARTTLS, MAIL refused before TLS, AUTH PLAIN only
                        after TLS; 465 implicit TLS with AUTH PLAIN (no password matches). RCPT accepted for
                        exim.lab.test and customer.test (spooled, never delivered: queue_only and a :blackhole:
                        router), refused "550 5.7.1 relay not permitted" for every other domain.
    courier.lab.test    Courier-IMAP 5.0 on 143 (STARTTLS, LOGINDISABLED) and 993; Courier POP3 on 110 (STLS;
                        CAPA lists USER before STLS, yet USER is refused until TLS) and 995 (CAPA lists STLS
                        inside TLS). No accounts: every login fails.
    opensmtpd.lab.test  Debian 12's OpenSMTPD 6.8 on 25/587 (STARTTLS offered) and 465: every TLS handshake
                        fails (internal_error alert; its log says "EVP lib"), a packaging bug. RCPT refused.
Hosted domains whose servers name themselves, not the domain: customer.test (MX mx.customer.test -> Exim,
imap/pop.customer.test -> Courier; certificates for exim.lab.test / courier.lab.test), tenant.test (MX
mail.tenant.test -> mx1; certificate for mx1.lab.test / mail.lab.test). tlsbroken.test has OpenSMTPD as MX.
NSD serves every tests/lab/zones/NAME.zone as zone NAME. nginx serves https://NAME/ from tests/lab/www/NAME/
for every directory there, each with its own lab-CA certificate; other SNI names get web.lab.test's
certificate and a 404.

Zone files use literal addresses; these placeholders are replaced at lab start, and any other {UPPERCASE}
token is an error: {MAIL4} {MAIL6} {BAD4} {BAD6} {SMARTHOST4} {SMARTHOST6} {DNS4} {DNS6} {WEB4} {WEB6}
{CLIENT4} {CLIENT6} {EXIM4} {EXIM6} {COURIER4} {COURIER6} {OPENSMTPD4} {OPENSMTPD6} {MX1_SPKI_SHA256}
{MX1_CERT_SHA256} {SMARTHOST_SPKI_SHA256} {SMARTHOST_CERT_SHA256}
{CA_SPKI_SHA256} {CA_CERT_SHA256} (hex SHA-256, as TLSA 3 1 1 / 3 0 1 / 2 1 1 / 2 0 1 data).

Inside the client and servers namespaces /etc/resolv.conf points at the lab DNS (ip netns exec bind-mounts
/etc/netns/<ns>/resolv.conf), so even a program that uses the system resolver there asks only the lab.
Every daemon runs in the foreground from its own config in a temp dir and is stopped by PID (OpenSMTPD behind a
shell that bind-mounts its own spool and /run in the private mount namespace `ip netns exec` gives it). Namespaces
of a lab whose process died are removed at the next start. MAILPROBE_LAB_KEEP=1 keeps the temp dir
(configs and logs) after down().
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime as dt
import ipaddress
import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType

import labservers
import labunpacked
from labpki import Pki, make_pki, make_self_signed
from labpolicy import MASK_PORT, POLICIES, PROXIED_POLICIES, STRIP_PORT, nft_script  # noqa: F401 - POLICIES for tests
from labservers import Daemon

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parent.parent
ZONES_DIR = LAB_DIR / "zones"
WWW_DIR = LAB_DIR / "www"
# Same networks as tests/conftest.py: loopback and the documentation ranges, nothing else.
SAFE_NETWORKS = "127.0.0.0/8,::1/128,198.51.100.0/24,203.0.113.0/24,2001:db8::/32"
NETNS_ETC = Path("/etc/netns")
_NAME = re.compile(r"^mp(\d+)-\d+-(client|router|servers)$")
_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_SEQUENCE = itertools.count()
_LIVE: weakref.WeakSet[Lab] = weakref.WeakSet()
READY_TIMEOUT = 20.0
STOP_GRACE = 2.5  # seconds between SIGTERM and SIGKILL at teardown (Dovecot alone takes about 1 s)
MAIL_PORTS = (25, 465, 587, 110, 995, 143, 993)


class LabUnavailable(Exception):
    """The lab cannot run on this machine (not root, packages missing, no namespaces)."""


class LabError(RuntimeError):
    """The lab was expected to work but did not (a daemon died, a command failed)."""


def _sh(argv: list[str], *, stdin: str | None = None, timeout: float = 30) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return done.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _netns_list() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_netns_processes(ns: str) -> None:
    """SIGKILL whatever still runs in one of our namespaces (children of daemons we started)."""
    for _ in range(20):
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False)
        pids = [int(p) for p in out.stdout.split() if p.isdigit() and int(p) != os.getpid()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _remove_netns(ns: str) -> None:
    _kill_netns_processes(ns)
    if ns in _netns_list():
        _sh(["ip", "netns", "delete", ns])
    shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)


def cleanup_stale() -> list[str]:
    """Remove namespaces (and their leftovers) of labs whose owning process is gone. Returns their names."""
    removed = []
    names = set(_netns_list())
    if NETNS_ETC.is_dir():
        names |= {p.name for p in NETNS_ETC.iterdir()}
    for ns in sorted(names):
        match = _NAME.match(ns)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            _remove_netns(ns)
            removed.append(ns)
    for tmp in Path(tempfile.gettempdir()).glob("mplab-*-*-*"):
        owner = tmp.name.split("-")[1]
        if owner.isdigit() and int(owner) != os.getpid() and not _pid_alive(int(owner)):
            shutil.rmtree(tmp, ignore_errors=True)
    return removed


def missing_requirements(rtt_ms: float = 0.0) -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, nftables, real daemons)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} not found: run tests/lab/install-deps.sh"
    for path in (labservers.POSTFIX_MASTER, labservers.DOVECOT, labservers.NSD, labservers.NGINX):
        if not os.access(path, os.X_OK):
            return f"{path} not found: run tests/lab/install-deps.sh"
    absent = labunpacked.missing()
    if absent:
        return f"{absent} not found: run tests/lab/install-deps.sh"
    if rtt_ms > 0 and not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun missing: the delayed link needs TAP devices"
    return None


def _listening(pid: int) -> set[tuple[str, str, int]]:
    """Bound sockets (proto, address, port) in the network namespace of `pid`, from /proc."""
    found = set()
    for proto, table, state in (("tcp", "tcp", "0A"), ("tcp", "tcp6", "0A"), ("udp", "udp", "07"),
                                ("udp", "udp6", "07")):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != state:
                continue
            hex_address, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_address)
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order words
            found.add((proto, str(ipaddress.ip_address(raw)), int(hex_port, 16)))
    return found


class Lab:
    domain = "lab.test"
    client4, client6 = "198.51.100.10", "2001:db8:100::10"
    router4, router6 = "203.0.113.1", "2001:db8:113::1"
    mail4, mail6 = "203.0.113.25", "2001:db8:113::25"
    bad4, bad6 = "203.0.113.27", "2001:db8:113::27"
    exim4, exim6 = "203.0.113.28", "2001:db8:113::28"
    courier4, courier6 = "203.0.113.29", "2001:db8:113::29"
    opensmtpd4, opensmtpd6 = "203.0.113.30", "2001:db8:113::30"
    smarthost4, smarthost6 = "203.0.113.26", "2001:db8:113::26"
    dns4, dns6 = "203.0.113.53", "2001:db8:113::53"
    web4, web6 = "203.0.113.80", "2001:db8:113::80"
    dead_primary4 = "203.0.113.59"  # no host: the primary of NSD's secondary zone expired.test
    # Device names, local to each namespace.
    _CLIENT_DEV, _ROUTER_CLIENT_DEV, _ROUTER_SERVER_DEV, _SERVER_DEV = "eth0", "cli0", "srv0", "eth0"

    def __init__(self, rtt_ms: float = 0.0, reuse_login_processes: bool = False) -> None:
        run = f"{os.getpid()}-{next(_SEQUENCE)}"
        self._tmp_prefix = f"mplab-{run}-"
        prefix = f"mp{run}"
        self.client_ns, self.router_ns, self.servers_ns = (f"{prefix}-{r}" for r in ("client", "router",
                                                                                      "servers"))
        self.rtt_ms = float(rtt_ms)
        self.reuse_login_processes = reuse_login_processes  # Dovecot's high-performance mode (labservers.dovecot)
        self.policy = "open"
        self.tmpdir: Path | None = None
        self.pki: Pki | None = None
        self.ca_file = ""
        self.start_seconds = 0.0
        self.stop_seconds = 0.0
        self.forced: list[str] = []  # daemons that needed SIGKILL at teardown
        self._namespaces: list[str] = []
        self._daemons: list[tuple[Daemon, subprocess.Popen[bytes]]] = []
        self._wire: subprocess.Popen[bytes] | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------

    @classmethod
    def up(cls, rtt_ms: float | None = None, *, reuse_login_processes: bool = False) -> Lab:
        if rtt_ms is None:
            rtt_ms = float(os.environ.get("LAB_RTT_MS") or 0)
        reason = missing_requirements(rtt_ms)
        if reason:
            raise LabUnavailable(reason)
        lab = cls(rtt_ms, reuse_login_processes)
        _LIVE.add(lab)
        try:
            lab._start()
        except BaseException:
            with contextlib.suppress(Exception):
                lab.down()
            raise
        return lab

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()

    def _start(self) -> None:
        began = time.monotonic()
        cleanup_stale()
        self.tmpdir = Path(tempfile.mkdtemp(prefix=self._tmp_prefix))
        self.tmpdir.chmod(0o755)  # daemons drop privileges and must reach their dirs
        sites = sorted(p.name for p in WWW_DIR.iterdir() if p.is_dir()) if WWW_DIR.is_dir() else []
        pki = make_pki(self.tmpdir / "pki", [
            ("mx1.lab.test", "mail.lab.test"),
            ("bad.lab.test",),
            ("smarthost.isp.test", "smtp.isp.test"),
            ("web.lab.test",),
            ("exim.lab.test",),
            ("courier.lab.test",),
            ("opensmtpd.lab.test",),
            *[(site,) for site in sites if site != "web.lab.test"],
        ])
        now = dt.datetime.now(dt.timezone.utc)
        expired = make_self_signed(self.tmpdir / "pki", ("wrong.example.test",),
                                   not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=30))
        self.pki = dataclasses.replace(pki, certs={**pki.certs, "wrong.example.test": expired})
        self.ca_file = self.pki.ca_file
        self._build_network()
        daemons = self._configure(sites)
        for daemon in daemons:
            self._spawn(daemon)
        self._wait_ready()
        self.start_seconds = time.monotonic() - began

    def down(self) -> None:
        """Stop every daemon by PID, remove the namespaces and the temp dir. Safe to call twice."""
        began = time.monotonic()
        errors: list[str] = []
        for _, proc in self._daemons:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for daemon, proc in self._daemons:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Dovecot stopped just after its start can wait forever for an anvil process stuck on
                # its config socket. The group is ours (own session: pgid == pid) and its state throwaway.
                self.forced.append(daemon.name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._daemons = []
        if self._wire is not None:
            if self._wire.poll() is None:
                self._wire.terminate()
            try:
                self._wire.wait(5)
            except subprocess.TimeoutExpired:
                self._wire.kill()
                self._wire.wait()
            if self._wire.stdout is not None:
                self._wire.stdout.close()
            self._wire = None
        for ns in reversed(self._namespaces):
            try:
                _remove_netns(ns)
            except LabError as exc:
                errors.append(str(exc))
        self._namespaces = []
        if self.tmpdir is not None and not os.environ.get("MAILPROBE_LAB_KEEP"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        _LIVE.discard(self)
        self.stop_seconds = time.monotonic() - began
        if errors:
            raise LabError("lab teardown: " + "; ".join(errors))

    # ---- network ---------------------------------------------------------------------------------------

    def _ip_batch(self, ns: str, commands: list[str]) -> None:
        _sh(["ip", "-n", ns, "-batch", "-"], stdin="\n".join(commands) + "\n")

    def _build_network(self) -> None:
        for ns in (self.client_ns, self.router_ns, self.servers_ns):
            try:
                _sh(["ip", "netns", "add", ns])
            except LabError as exc:
                raise LabUnavailable(f"cannot create network namespaces: {exc}") from exc
            self._namespaces.append(ns)
            sysctls = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]
            if ns == self.router_ns:
                sysctls += ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
            _sh(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *sysctls])
        for ns in (self.client_ns, self.servers_ns):
            (NETNS_ETC / ns).mkdir(parents=True, exist_ok=True)
            (NETNS_ETC / ns / "resolv.conf").write_text(
                f"# mailprobe lab: only the lab DNS\nnameserver {self.dns4}\nnameserver {self.dns6}\n"
            )
        _sh(["ip", "link", "add", self._ROUTER_CLIENT_DEV, "netns", self.router_ns, "type", "veth",
             "peer", "name", self._CLIENT_DEV, "netns", self.client_ns])
        if self.rtt_ms > 0:
            self._start_wire()
        else:
            _sh(["ip", "link", "add", self._ROUTER_SERVER_DEV, "netns", self.router_ns, "type", "veth",
                 "peer", "name", self._SERVER_DEV, "netns", self.servers_ns])
        self._ip_batch(self.client_ns, [
            "link set lo up",
            f"link set {self._CLIENT_DEV} up",
            f"addr add {self.client4}/24 dev {self._CLIENT_DEV}",
            f"addr add {self.client6}/64 dev {self._CLIENT_DEV} nodad",
            "route add default via 198.51.100.1",
            "route add ::/0 via 2001:db8:100::1",
        ])
        self._ip_batch(self.router_ns, [
            "link set lo up",
            f"link set {self._ROUTER_CLIENT_DEV} up",
            f"link set {self._ROUTER_SERVER_DEV} up",
            f"addr add 198.51.100.1/24 dev {self._ROUTER_CLIENT_DEV}",
            f"addr add 2001:db8:100::1/64 dev {self._ROUTER_CLIENT_DEV} nodad",
            f"addr add {self.router4}/24 dev {self._ROUTER_SERVER_DEV}",
            f"addr add {self.router6}/64 dev {self._ROUTER_SERVER_DEV} nodad",
        ])
        servers = [self.mail4, self.bad4, self.smarthost4, self.dns4, self.web4, self.exim4, self.courier4,
                   self.opensmtpd4]
        servers6 = [self.mail6, self.bad6, self.smarthost6, self.dns6, self.web6, self.exim6, self.courier6,
                    self.opensmtpd6]
        self._ip_batch(self.servers_ns, [
            "link set lo up",
            f"link set {self._SERVER_DEV} up",
            *[f"addr add {a}/24 dev {self._SERVER_DEV}" for a in servers],
            *[f"addr add {a}/64 dev {self._SERVER_DEV} nodad" for a in servers6],
            f"route add default via {self.router4}",
            f"route add ::/0 via {self.router6}",
        ])
        # A DNS server that does not answer, for real: the servers' firewall drops every query whose first
        # label is "silent", over UDP (bytes 20.. of the datagram: the question's first label, \x06silent)
        # and over TCP (bytes 14.. of the segment's payload, after the length and the DNS header).
        _sh(["ip", "netns", "exec", self.servers_ns, "nft", "-f", "-"], stdin=(
            "table inet mpdns {\n"
            "  chain input { type filter hook input priority filter; policy accept;\n"
            "    udp dport 53 @th,160,56 0x0673696c656e74 drop\n"
            "    tcp dport 53 @ih,112,56 0x0673696c656e74 drop\n"
            "  }\n"
            "}\n"
        ))
        _sh(["ip", "netns", "exec", self.router_ns, "nft", "-f", "-"], stdin=(
            "table inet mplab {\n"
            "  chain forward { type filter hook forward priority filter; policy accept; }\n"
            "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
            "}\n"
        ))

    def _start_wire(self) -> None:
        assert self.tmpdir is not None
        log = open(self.tmpdir / "delay.log", "wb")  # noqa: SIM115 - the child keeps it
        with log:
            self._wire = subprocess.Popen(
                [sys.executable, str(LAB_DIR / "delay.py"), "--delay-ms", str(self.rtt_ms / 2),
                 self.router_ns, self._ROUTER_SERVER_DEV, self.servers_ns, self._SERVER_DEV],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            )
        assert self._wire.stdout is not None
        ready, _, _ = select.select([self._wire.stdout], [], [], 10)
        line = self._wire.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            raise LabError(f"delay wire did not start: {(self.tmpdir / 'delay.log').read_text()[-2000:]}")

    def set_policy(self, name: str) -> None:
        """Replace the router's forward (and nat) rules with policy `name` (labpolicy.py), atomically."""
        script = nft_script(name, {"srv": self._ROUTER_SERVER_DEV, "cli": self._ROUTER_CLIENT_DEV,
                                   "smarthost4": self.smarthost4, "smarthost6": self.smarthost6})
        if name in PROXIED_POLICIES:
            self._start_proxy()
        _sh(["ip", "netns", "exec", self.router_ns, "nft", "-f", "-"], stdin=script)
        self.policy = name

    def add_addresses(self, ns: str, addresses: list[str]) -> None:
        """Give the client or servers namespace more addresses (e.g. scan targets) on its one link."""
        roles = {"client": self.client_ns, "servers": self.servers_ns}
        ns = roles.get(ns, ns)
        allowed = {
            self.client_ns: (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("2001:db8:100::/64")),
            self.servers_ns: (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8:113::/64")),
        }
        if ns not in allowed:
            raise ValueError(f"add_addresses: {ns!r} is not the client or servers namespace")
        commands = []
        for text in addresses:
            address = ipaddress.ip_address(text)
            net = next((n for n in allowed[ns] if address in n), None)
            if net is None:
                raise ValueError(f"{address} is outside {ns}'s networks {[str(n) for n in allowed[ns]]}")
            commands.append(f"addr add {address}/{net.prefixlen} dev eth0"
                            + (" nodad" if address.version == 6 else ""))
        if commands:
            self._ip_batch(ns, commands)

    # ---- daemons ---------------------------------------------------------------------------------------

    def _zones(self, root: Path) -> dict[str, Path]:
        assert self.pki is not None
        mx1, smarthost = self.pki.certs["mx1.lab.test"], self.pki.certs["smarthost.isp.test"]
        values = {
            "MAIL4": self.mail4, "MAIL6": self.mail6, "BAD4": self.bad4, "BAD6": self.bad6,
            "SMARTHOST4": self.smarthost4, "SMARTHOST6": self.smarthost6, "DNS4": self.dns4, "DNS6": self.dns6,
            "WEB4": self.web4, "WEB6": self.web6, "CLIENT4": self.client4, "CLIENT6": self.client6,
            "EXIM4": self.exim4, "EXIM6": self.exim6, "COURIER4": self.courier4, "COURIER6": self.courier6,
            "OPENSMTPD4": self.opensmtpd4, "OPENSMTPD6": self.opensmtpd6,
            "MX1_SPKI_SHA256": mx1.spki_sha256, "MX1_CERT_SHA256": mx1.cert_sha256,
            "SMARTHOST_SPKI_SHA256": smarthost.spki_sha256, "SMARTHOST_CERT_SHA256": smarthost.cert_sha256,
            "CA_SPKI_SHA256": self.pki.ca_spki_sha256, "CA_CERT_SHA256": self.pki.ca_cert_sha256,
        }
        zones = {}
        root.mkdir(parents=True, exist_ok=True)
        for source in sorted(ZONES_DIR.glob("*.zone")):
            text = source.read_text()

            def fill(match: re.Match[str], source: Path = source) -> str:
                if match.group(1) not in values:
                    raise LabError(f"{source.name}: unknown placeholder {match.group(0)}")
                return values[match.group(1)]

            target = root / source.name
            target.write_text(_PLACEHOLDER.sub(fill, text))
            zones[source.name.removesuffix(".zone")] = target
        return zones

    def _configure(self, sites: list[str]) -> list[Daemon]:
        assert self.tmpdir is not None and self.pki is not None
        tmp, certs = self.tmpdir, self.pki.certs
        mx1 = labservers.postfix(
            tmp / "postfix-mx1", name="mx1", hostname="mx1.lab.test", banner="$myhostname ESMTP",
            addresses=[self.mail4, self.mail6], cert=certs["mx1.lab.test"], relay_domain="lab.test",
            submission=True, hosted_domains=("tenant.test",),
        )
        smarthost = labservers.postfix(
            tmp / "postfix-smarthost", name="smarthost", hostname="smarthost.isp.test",
            banner="smtp.isp.test ESMTP ISP-Relay", addresses=[self.smarthost4, self.smarthost6],
            cert=certs["smarthost.isp.test"], relay_domain="isp.test", submission=False,
        )
        dovecot = labservers.dovecot(
            tmp / "dovecot", addresses=[self.mail4, self.mail6], cert=certs["mx1.lab.test"],
            auth_socket=tmp / "postfix-mx1" / "queue" / "private" / "auth",
            reuse_login_processes=self.reuse_login_processes,
        )
        bad = labservers.postfix_misconfigured(
            tmp / "postfix-bad", name="bad", hostname="bad.lab.test", banner="$myhostname ESMTP",
            addresses=[self.bad4, self.bad6], cert=certs["bad.lab.test"], smtps_cert=certs["wrong.example.test"],
            relay_domain="badmail.test",
        )
        dovecot_bad = labservers.dovecot(
            tmp / "dovecot-bad", addresses=[self.bad4, self.bad6], cert=certs["bad.lab.test"],
            auth_socket=tmp / "postfix-bad" / "queue" / "private" / "auth", name="dovecot-bad",
            plaintext_auth=True,
        )
        nsd = labservers.nsd(
            tmp / "nsd", addresses=[self.dns4, self.dns6], zones=self._zones(tmp / "nsd"),
            untransferred={"expired.test": self.dead_primary4},
        )
        nginx = labservers.nginx(
            tmp / "nginx", addresses=[self.web4, self.web6],
            sites={site: (WWW_DIR / site, certs[site]) for site in sites},
            default_cert=certs["web.lab.test"],
        )
        exim = labunpacked.exim(
            tmp / "exim", hostname="exim.lab.test", addresses=[self.exim4, self.exim6], cert=certs["exim.lab.test"],
            local_domains=["exim.lab.test", "customer.test"],
        )
        courier = labunpacked.courier(tmp / "courier", addresses=[self.courier4, self.courier6],
                                      cert=certs["courier.lab.test"])
        opensmtpd = labunpacked.opensmtpd(tmp / "opensmtpd", hostname="opensmtpd.lab.test",
                                          addresses=[self.opensmtpd4, self.opensmtpd6],
                                          cert=certs["opensmtpd.lab.test"])
        # Dovecot first: the submission services ask it for SASL.
        return [nsd, dovecot, dovecot_bad, mx1, bad, smarthost, exim, *courier, opensmtpd, nginx]

    def _start_proxy(self) -> None:
        """The inspecting proxy in the router namespace, started by the first policy that needs it (a Python
        process costs a lab start more than every C daemon together), and stopped by down() like the rest."""
        assert self.tmpdir is not None
        if any(daemon.name == "inspect-proxy" for daemon, _ in self._daemons):
            return
        log = str(self.tmpdir / "inspect-proxy.log")
        argv = [sys.executable, "-I", str(LAB_DIR / "inspect_proxy.py"), "--mask-port", str(MASK_PORT),
                "--strip-port", str(STRIP_PORT), "--log", log]
        listens = [("tcp", address, port) for address in ("0.0.0.0", "::") for port in (MASK_PORT, STRIP_PORT)]
        self._spawn(Daemon("inspect-proxy", argv, listens, log, netns="router"))
        self._wait_ready()

    def _spawn(self, daemon: Daemon) -> None:
        assert self.tmpdir is not None
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **daemon.env}
        ns = {"servers": self.servers_ns, "router": self.router_ns}[daemon.netns]
        with open(self.tmpdir / f"{daemon.name}.out", "wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *daemon.argv],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,  # its own group, so Ctrl-C reaches us and we stop it by PID
            )
        self._daemons.append((daemon, proc))

    def _wait_ready(self) -> None:
        """Poll each namespace's socket tables until every daemon listens (no fixed sleeps)."""
        wanted: dict[str, set[tuple[str, str, int]]] = {}
        witness: dict[str, int] = {}  # a process in each namespace, whose /proc/PID/net shows its sockets
        for daemon, proc in self._daemons:
            wanted.setdefault(daemon.netns, set()).update(
                (proto, str(ipaddress.ip_address(a)), port) for proto, a, port in daemon.listens)
            witness.setdefault(daemon.netns, proc.pid)
        deadline = time.monotonic() + READY_TIMEOUT
        missing: set[tuple[str, str, int]] = set()
        while time.monotonic() < deadline:
            for daemon, proc in self._daemons:
                if proc.poll() is not None:
                    raise LabError(f"{daemon.name} exited with {proc.returncode}:\n{self.log_tail(daemon.name)}")
            missing = set().union(*(wanted[ns] - _listening(pid) for ns, pid in witness.items()))
            if not missing:
                return
            time.sleep(0.01)
        raise LabError(f"not listening after {READY_TIMEOUT:.0f} s: {sorted(missing)}")

    def log_tail(self, name: str, size: int = 3000) -> str:
        """The end of a daemon's log file and of its stdout/stderr (name as in Daemon.name)."""
        parts = []
        for daemon, _ in self._daemons:
            if daemon.name == name:
                for path in (daemon.log_file, str(self.tmpdir / f"{name}.out") if self.tmpdir else ""):
                    with contextlib.suppress(OSError):
                        parts.append(f"--- {path}\n{Path(path).read_text(errors='replace')[-size:]}")
        return "\n".join(parts)

    # ---- client side -----------------------------------------------------------------------------------

    def run_client(self, argv: list[str], timeout: float = 60,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run argv in the client namespace with MAILPROBE_ALLOW_ONLY set (env entries override)."""
        full_env = dict(os.environ)
        full_env["MAILPROBE_ALLOW_ONLY"] = SAFE_NETWORKS
        full_env.update(env or {})
        return subprocess.run(
            ["ip", "netns", "exec", self.client_ns, *argv], capture_output=True, text=True,
            timeout=timeout, env=full_env, cwd=REPO, stdin=subprocess.DEVNULL, check=False,
        )

    def mailprobe(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`python -m mailprobe *args` (this interpreter, i.e. the venv's) in the client namespace."""
        return self.run_client([sys.executable, "-m", "mailprobe", *args], timeout=timeout)

    def netcheck(self, jobs: list[dict[str, object]], timeout: float = 60) -> list[dict[str, object]]:
        """Run tests/lab/netcheck.py jobs concurrently in the client namespace; one result per job."""
        done = self.run_client([sys.executable, str(LAB_DIR / "netcheck.py"), json.dumps(jobs)],
                               timeout=timeout)
        if done.returncode != 0:
            raise LabError(f"netcheck failed ({done.returncode}): {done.stderr[-3000:]}")
        results: list[dict[str, object]] = json.loads(done.stdout)
        return results


@atexit.register
def _down_all() -> None:
    for lab in list(_LIVE):
        with contextlib.suppress(Exception):
            lab.down()
