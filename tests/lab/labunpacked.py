"""Configuration for the lab's servers that run from unpacked Debian packages: Exim, Courier and OpenSMTPD.

They conflict with Postfix and Dovecot as packages, so tests/lab/install-deps.sh never installs them: it fetches
them with `apt-get download`, unpacks them with `dpkg -x` into UNPACKED_ROOT (no maintainer script runs) and
makes the system users they switch to. Like labservers.py, each function here writes one server's
configuration under its own directory of the lab's temp dir and returns a Daemon; nothing starts a process.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
from pathlib import Path

from labpki import ServerCert
from labservers import DOVECOT_DH, Daemon

UNPACKED_ROOT = Path("/var/cache/mailprobe-lab/root")
EXIM = UNPACKED_ROOT / "usr/sbin/exim4"
COURIERTCPD = UNPACKED_ROOT / "usr/sbin/couriertcpd"
COURIERTLS = UNPACKED_ROOT / "usr/bin/couriertls"
IMAPLOGIN = UNPACKED_ROOT / "usr/lib/courier/courier/imaplogin"
IMAPD = UNPACKED_ROOT / "usr/bin/imapd"
POP3LOGIN = UNPACKED_ROOT / "usr/lib/courier/courier/courierpop3login"
POP3D = UNPACKED_ROOT / "usr/lib/courier/courier/courierpop3d"
OPENSMTPD = UNPACKED_ROOT / "usr/sbin/smtpd"
BINARIES = (EXIM, COURIERTCPD, COURIERTLS, IMAPLOGIN, POP3LOGIN, OPENSMTPD)
EXIM_USER, COURIER_USER = "Debian-exim", "courier"  # compiled into the binaries; install-deps.sh makes them


def library_path() -> str:
    """LD_LIBRARY_PATH for the unpacked binaries (courier-authlib's libraries live only in the tree)."""
    dirs = [UNPACKED_ROOT / "usr/lib", *sorted((UNPACKED_ROOT / "usr/lib").glob("*-linux-gnu"))]
    return ":".join(str(d) for d in dirs)


def missing() -> str | None:
    """The first unpacked binary or system user that is not there, or None."""
    for binary in BINARIES:
        if not os.access(binary, os.X_OK):
            return str(binary)
    for user in (EXIM_USER, COURIER_USER, "opensmtpd"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"system user {user}"
    return None


def _private_copy(source: str, target: Path, user: str) -> Path:
    """A copy of a key file that only `user` (the daemon after it drops root) can read."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.chown(target, pwd.getpwnam(user).pw_uid, grp.getgrnam(user).gr_gid)
    target.chmod(0o600)
    return target


def _owned_dir(path: Path, user: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(user).gr_gid)
    return path


def _smtp_listens(addresses: list[str], ports: list[int]) -> list[tuple[str, str, int]]:
    return [("tcp", address, port) for address in addresses for port in ports]


def exim(root: Path, *, hostname: str, addresses: list[str], cert: ServerCert, local_domains: list[str]) -> Daemon:
    """Exim in the foreground (-bdf) on 25 (STARTTLS), 587 (STARTTLS; MAIL refused and AUTH not offered
    before TLS) and 465 (implicit TLS). AUTH PLAIN is offered after TLS on 587 and 465 only, and no
    password ever matches. RCPT is accepted for `local_domains` and refused (550) for every other domain; the
    only router discards (:blackhole:) and nothing is queued for delivery (queue_only, no queue runner), so
    it never opens a connection of its own."""
    spool, log = _owned_dir(root / "spool", EXIM_USER), _owned_dir(root / "log", EXIM_USER)
    key = _private_copy(cert.key_file, root / "tls.key", EXIM_USER)  # read after Exim drops to its user
    interfaces = " ; ".join(addresses)
    conf = root / "exim.conf"
    conf.write_text(f"""\
keep_environment =
primary_hostname = {hostname}
exim_user = {EXIM_USER}
exim_group = {EXIM_USER}
never_users = root
spool_directory = {spool}
log_file_path = {log}/%slog
pid_file_path = {root}/exim.pid
local_interfaces = <; {interfaces}
daemon_smtp_ports = 25 : 587 : 465
tls_on_connect_ports = 465
tls_advertise_hosts = *
tls_certificate = {cert.cert_file}
tls_privatekey = {key}
# No reverse lookups or ident of clients: nothing to wait for.
host_lookup =
rfc1413_hosts =
queue_only = true
# Benchmarks open many sessions at once; a lab has no abusive clients to limit.
smtp_accept_max = 200
smtp_connect_backlog = 128
domainlist local_domains = {" : ".join(local_domains)}
acl_smtp_mail = acl_check_mail
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_mail:
  deny message = 5.7.0 STARTTLS required
       condition = ${{if eq{{$received_port}}{{587}}}}
       !encrypted = *
  accept
acl_check_rcpt:
  accept domains = +local_domains
  deny message = 5.7.1 relay not permitted

begin routers
discard:
  driver = redirect
  data = :blackhole:

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_advertise_condition = ${{if and{{{{def:tls_in_cipher}}{{!={{$received_port}}{{25}}}}}}}}
  server_prompts = :
  server_condition = false
""")
    conf.chmod(0o644)
    return Daemon("exim", [str(EXIM), "-C", str(conf), "-bdf"], _smtp_listens(addresses, [25, 587, 465]),
                  str(log / "mainlog"), env={"LD_LIBRARY_PATH": library_path()})


# Courier's Debian defaults (/etc/courier/imapd), without the mechanisms that need authdaemond's userdb.
_IMAP_CAPABILITY = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"


def courier(root: Path, *, addresses: list[str], cert: ServerCert) -> list[Daemon]:
    """Courier IMAP on 143 (STARTTLS) and 993, Courier POP3 on 110 (STLS) and 995: one couriertcpd per port,
    as Debian's init scripts start them, with imaplogin / courierpop3login behind it (and couriertls in front
    on 993/995). Login only after TLS (IMAP_TLS_REQUIRED / POP3_TLS_REQUIRED: IMAP greets with
    LOGINDISABLED). No authdaemond runs, so every login fails: the lab has no Courier accounts."""
    tls_file = _private_copy(cert.key_and_chain_file, root / "tls.pem", COURIER_USER)  # couriertls runs as courier
    log = root / "courier.log"
    common = {
        "LD_LIBRARY_PATH": library_path(),
        "COURIERTLS": str(COURIERTLS),
        "TLS_CERTFILE": str(tls_file),
        "TLS_VERIFYPEER": "NONE",
        "MAILDIRPATH": "Maildir",
    }
    if os.path.exists(DOVECOT_DH):  # PKCS#3 DH parameters, so couriertls need not make its own
        common["TLS_DHPARAMS"] = DOVECOT_DH
    imap = {**common, "IMAP_CAPABILITY": _IMAP_CAPABILITY, "IMAP_CAPABILITY_TLS": f"{_IMAP_CAPABILITY} AUTH=PLAIN",
            "IMAP_TLS_REQUIRED": "1"}
    pop3 = {**common, "POP3AUTH": "", "POP3AUTH_TLS": "LOGIN PLAIN", "POP3_STARTTLS": "YES",
            "POP3_TLS_REQUIRED": "1"}
    implicit_tls = [str(COURIERTLS), "-server", "-tcpd", f"-user={COURIER_USER}"]
    services = [
        # As Debian's init scripts: IMAP_STARTTLS on 143 only (993 would list STARTTLS and LOGINDISABLED
        # inside TLS), while POP3_STARTTLS reaches 995 too (whose CAPA then lists STLS inside TLS).
        ("courier-imap", 143, {**imap, "IMAP_STARTTLS": "YES"}, [str(IMAPLOGIN), str(IMAPD)]),
        ("courier-imaps", 993, {**imap, "IMAP_TLS": "1"}, [*implicit_tls, str(IMAPLOGIN), str(IMAPD)]),
        ("courier-pop3", 110, pop3, [str(POP3LOGIN), str(POP3D)]),
        ("courier-pop3s", 995, {**pop3, "POP3_TLS": "1"}, [*implicit_tls, str(POP3LOGIN), str(POP3D)]),
    ]
    root.mkdir(parents=True, exist_ok=True)
    daemons = []
    for name, port, env, program in services:
        ports = ",".join(f"{address}.{port}" for address in addresses)
        argv = [str(COURIERTCPD), "-nodnslookup", "-noidentlookup", "-maxprocs=200", "-maxperip=200",
                f"-stderr={log}", ports, *program, "Maildir"]
        daemons.append(Daemon(name, argv, _smtp_listens(addresses, [port]), str(log), env=env))
    return daemons


def opensmtpd(root: Path, *, hostname: str, addresses: list[str], cert: ServerCert) -> Daemon:
    """OpenSMTPD on 25 (STARTTLS), 587 (STARTTLS required) and 465 (implicit TLS); every RCPT refused.

    Debian 12's build fails every TLS handshake (the server logs `EVP lib` and sends an internal_error alert,
    with EC and RSA keys alike): a real server with broken TLS. Its spool (/var/spool/smtpd) and control
    socket (/run/smtpd.sock) are compiled in, so it runs behind a shell that bind-mounts this instance's own
    directories over /var/spool and /run, in the private mount namespace `ip netns exec` gives each command
    (mounts there never reach the machine)."""
    spool, run = root / "spool", root / "run"
    for directory in (spool, run):
        directory.mkdir(parents=True, exist_ok=True)
    conf = root / "smtpd.conf"
    pki = f'pki {hostname} cert "{cert.cert_file}"\npki {hostname} key "{cert.key_file}"\n'
    listen = {25: "tls", 587: "tls-require", 465: "smtps"}
    lines = [f"listen on {address} port {port} {mode} pki {hostname} hostname {hostname}"
             for address in addresses for port, mode in listen.items()]
    conf.write_text(pki + "\n".join(lines) + "\nmatch from any for any reject\n")
    conf.chmod(0o644)
    log = root / "smtpd.log"
    script = 'mount --bind "$1" /var/spool && mount --bind "$2" /run && exec "$3" -d -f "$4" >>"$5" 2>&1'
    argv = ["sh", "-c", script, "opensmtpd", str(spool), str(run), str(OPENSMTPD), str(conf), str(log)]
    return Daemon("opensmtpd", argv, _smtp_listens(addresses, list(listen)), str(log))
