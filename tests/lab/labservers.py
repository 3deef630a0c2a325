"""Configuration for the lab's real servers: Postfix (three times), Dovecot (twice), NSD and nginx.

Each function writes one server's configuration under its own directory of the lab's temp dir (never the
system's /etc/postfix, /etc/dovecot, ...) and returns a Daemon: the argv that runs it in the foreground, the
sockets that show it is ready, and the log file to show when it is not. Nothing here starts a process.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from labpki import ServerCert

POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
DOVECOT = "/usr/sbin/dovecot"
NSD = "/usr/sbin/nsd"
NGINX = "/usr/sbin/nginx"
DOVECOT_DH = "/usr/share/dovecot/dh.pem"

MAIL_PORTS = {"smtp": 25, "submission": 587, "smtps": 465, "pop3": 110, "pop3s": 995, "imap": 143, "imaps": 993}
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


@dataclass(frozen=True, slots=True)
class Daemon:
    name: str
    argv: list[str]
    listens: list[tuple[str, str, int]]  # (tcp|udp, address, port) bound when ready
    log_file: str
    env: dict[str, str] = field(default_factory=dict)  # on top of the lab's minimal PATH and LANG
    netns: str = "servers"  # the namespace it runs in, by role: servers or router


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _mkdir(path: Path, mode: int, user: str = "root", group: str = "root") -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    path.chmod(mode)


# Postfix's internal services; chroot off (column 5 "n") since the instance lives in a temp dir.
_POSTFIX_INTERNAL = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_SUBMISSION = """\
587       inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
465       inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
"""


_BAD_SERVICES = """\
25        inet  n       -       n       -       -       smtpd
587       inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=may
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
465       inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_chain_files={smtps_chain}
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
nowhere   unix  -       -       n       -       -       error
"""
NO_DELIVERY = "error:the lab delivers no mail"
NOWHERE = "nowhere:the lab delivers no mail"  # the error(8) agent, bad's master.cf names it `nowhere`


def _postfix_settings(root: Path, *, name: str, hostname: str, banner: str, addresses: list[str],
                      cert: ServerCert, relay_domain: str) -> dict[str, str]:
    """main.cf of a well-configured instance that can deliver nothing: every transport is `error`, so it
    never opens a connection of its own (and never looks up a remote domain)."""
    return {
        "compatibility_level": "3.6",
        "queue_directory": str(root / "queue"),
        "data_directory": str(root / "data"),
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "maillog_file": str(root / "maillog"),
        "maillog_file_prefixes": str(root),
        "syslog_name": f"postfix-{name}",
        "myhostname": hostname,
        "mydomain": relay_domain,
        "myorigin": "$myhostname",
        "mydestination": "",
        "relay_domains": relay_domain,
        "mynetworks": "127.0.0.0/8 [::1]/128",
        "inet_interfaces": ", ".join(addresses),
        "inet_protocols": "all",
        "alias_maps": "",
        "alias_database": "",
        "biff": "no",
        "append_dot_mydomain": "no",
        "smtpd_banner": banner,
        "disable_vrfy_command": "yes",
        "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
        "smtpd_tls_chain_files": cert.key_and_chain_file,
        "smtpd_tls_security_level": "may",
        "smtpd_tls_auth_only": "yes",
        "smtpd_tls_loglevel": "1",
        "smtpd_sasl_auth_enable": "no",
        "smtpd_sasl_type": "dovecot",
        "smtpd_sasl_path": "private/auth",
        # Benchmarks open many sessions at once; a lab has no abusive clients to limit.
        "default_process_limit": "200",
        "smtpd_client_connection_count_limit": "0",
        "default_transport": NO_DELIVERY,
        "relay_transport": NO_DELIVERY,
        "local_transport": NO_DELIVERY,
        "virtual_transport": NO_DELIVERY,
        "smtp_dns_support_level": "disabled",
    }


def _postfix_instance(root: Path, name: str, settings: dict[str, str], services: str,
                      addresses: list[str], ports: list[int]) -> Daemon:
    conf, queue, data = root / "conf", root / "queue", root / "data"
    _mkdir(queue, 0o755)
    for sub in ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
                "private", "saved", "trace"):
        _mkdir(queue / sub, 0o700, "postfix")
    _mkdir(queue / "maildrop", 0o1730, "postfix", "postdrop")
    _mkdir(queue / "public", 0o710, "postfix", "postdrop")
    _mkdir(queue / "pid", 0o755)
    _mkdir(data, 0o700, "postfix")
    _write(conf / "main.cf", "".join(f"{key} = {value}".rstrip() + "\n" for key, value in settings.items()))
    _write(conf / "master.cf", services + _POSTFIX_INTERNAL)
    # Postfix re-reads a config file written less than a second ago, 300 ms at a time, to avoid reading it
    # half-written; back-date both files so the instance starts at once.
    past = time.time() - 60
    for written in ("main.cf", "master.cf"):
        os.utime(conf / written, (past, past))
    listens = [("tcp", address, port) for address in addresses for port in ports]
    return Daemon(f"postfix-{name}", [POSTFIX_MASTER, "-c", str(conf), "-d"], listens, settings["maillog_file"])


def postfix(
    root: Path, *, name: str, hostname: str, banner: str, addresses: list[str], cert: ServerCert,
    relay_domain: str, submission: bool, hosted_domains: tuple[str, ...] = (),
) -> Daemon:
    """A Postfix instance: smtpd on 25 with STARTTLS; with `submission` also 587 (STARTTLS, AUTH only
    after TLS, SASL from Dovecot at <queue>/private/auth) and 465 (implicit TLS). It accepts RCPT for
    `relay_domain` and `hosted_domains`, and delivers nothing: every transport is `error`, so it never opens
    a connection of its own."""
    settings = _postfix_settings(root, name=name, hostname=hostname, banner=banner, addresses=addresses,
                                 cert=cert, relay_domain=relay_domain)
    settings["relay_domains"] = " ".join([relay_domain, *hosted_domains])
    services = "25        inet  n       -       n       -       -       smtpd\n"
    ports = [25]
    if submission:
        services += _SUBMISSION
        ports += [587, 465]
    return _postfix_instance(root, name, settings, services, addresses, ports)


def postfix_misconfigured(
    root: Path, *, name: str, hostname: str, banner: str, addresses: list[str], cert: ServerCert,
    smtps_cert: ServerCert, relay_domain: str,
) -> Daemon:
    """A Postfix instance with the classic mistakes, for the checks to find:

    25   no STARTTLS (smtpd_tls_security_level = none), VRFY on, an open relay (mynetworks = every address)
         that still delivers nothing: every transport is the error(8) agent (relay and default under the
         name `nowhere`, so RCPT is accepted), and its SMTP client does no DNS;
    587  STARTTLS offered (with `cert`) but AUTH PLAIN LOGIN offered before it (smtpd_tls_auth_only = no)
         and MAIL accepted before it (level may); SASL from Dovecot at <queue>/private/auth;
    465  implicit TLS with `smtps_cert` (the lab uses an expired self-signed one for another name).
    """
    settings = _postfix_settings(root, name=name, hostname=hostname, banner=banner, addresses=addresses,
                                 cert=cert, relay_domain=relay_domain)
    settings.update({
        "disable_vrfy_command": "no",
        # Postfix refuses a bare `permit` here; the classic open relay is a mynetworks that covers everyone.
        "mynetworks": "0.0.0.0/0 [::]/0",
        "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
        "smtpd_tls_security_level": "none",
        "smtpd_tls_auth_only": "no",
        # smtpd rejects at RCPT time a recipient whose transport is named `error`; the same error(8)
        # agent under another name lets the relay accept RCPT while whatever is queued still bounces.
        "default_transport": NOWHERE,
        "relay_transport": NOWHERE,
    })
    services = _BAD_SERVICES.format(smtps_chain=smtps_cert.key_and_chain_file)
    return _postfix_instance(root, name, settings, services, addresses, [25, 587, 465])


def dovecot(root: Path, *, addresses: list[str], cert: ServerCert, auth_socket: Path, name: str = "dovecot",
            plaintext_auth: bool = False, reuse_login_processes: bool = False) -> Daemon:
    """Dovecot with POP3 110/995 and IMAP 143/993 and one test user. Plaintext auth (LOGIN, USER, AUTH
    PLAIN) only after TLS, unless `plaintext_auth`: then IMAP on 143 has no LOGINDISABLED and POP3 on 110
    offers USER before STLS (disable_plaintext_auth = no).

    Login processes: by default Dovecot's own default, a new process per connection ("high-security mode");
    with `reuse_login_processes` its "high-performance mode" (service_count = 0, two processes kept ready,
    each serving many connections), as busy sites run it. The protocol is the same; a connection costs the
    server's Dovecot ~1.4 ms of CPU instead of ~11 (a fork and exec; measured over three 64-host handshake
    runs, 256 Dovecot sessions each), which on this 2-core machine decides whether the servers or the client
    limit a benchmark."""
    log = root / "dovecot.log"
    (root / "mail").mkdir(parents=True, exist_ok=True)
    users = root / "users"
    _write(users, "probe@lab.test:{PLAIN}lab-password::::::\n")
    os.chown(users, 0, grp.getgrnam("dovecot").gr_gid)
    users.chmod(0o640)  # the auth process runs as the dovecot user
    dh = f"ssl_dh = <{DOVECOT_DH}\n" if os.path.exists(DOVECOT_DH) else ""
    conf = root / "dovecot.conf"
    login_mode = "  service_count = 0\n  process_min_avail = 2\n" if reuse_login_processes else ""
    _write(conf, f"""\
base_dir = {root}/run
state_dir = {root}/state
instance_name = mplab-{root.parent.name}-{name}
protocols = imap pop3
listen = {", ".join(addresses)}
log_path = {log}
info_log_path = {log}
ssl = yes
ssl_cert = <{cert.cert_file}
ssl_key = <{cert.key_file}
{dh}ssl_min_protocol = TLSv1.2
disable_plaintext_auth = {"no" if plaintext_auth else "yes"}
first_valid_uid = 1
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
{login_mode}  inet_listener imap {{
    port = 143
  }}
  inet_listener imaps {{
    port = 993
    ssl = yes
  }}
}}
service pop3-login {{
{login_mode}  inet_listener pop3 {{
    port = 110
  }}
  inet_listener pop3s {{
    port = 995
    ssl = yes
  }}
}}
service auth {{
  unix_listener {auth_socket} {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
""")
    listens = [("tcp", address, port) for address in addresses for port in (110, 995, 143, 993)]
    return Daemon(name, [DOVECOT, "-F", "-c", str(conf)], listens, str(log))


def nsd(root: Path, *, addresses: list[str], zones: dict[str, Path], untransferred: dict[str, str]) -> Daemon:
    """NSD, authoritative for `zones` (zone name -> zone file), on UDP and TCP 53.

    `untransferred` (zone name -> primary address) are secondary zones whose primary never answers: NSD has
    no data for them and answers SERVFAIL, as a secondary does once its zone expires."""
    log = root / "nsd.log"
    lines = ["server:"]
    lines += [f"  ip-address: {address}" for address in addresses]
    lines += [
        "  port: 53",
        '  username: ""',
        '  chroot: ""',
        '  database: ""',
        f'  zonesdir: "{root}"',
        f'  pidfile: "{root}/nsd.pid"',
        f'  zonelistfile: "{root}/zone.list"',
        f'  xfrdfile: "{root}/xfrd.state"',
        f'  xfrdir: "{root}/xfr"',
        f'  logfile: "{log}"',
        "  server-count: 1",
        "  verbosity: 1",
        "  hide-version: yes",
        "  reuseport: no",
        "remote-control:",
        "  control-enable: no",
    ]
    for zone, path in sorted(zones.items()):
        lines += ["zone:", f'  name: "{zone}"', f'  zonefile: "{path}"']
    for zone, primary in sorted(untransferred.items()):
        lines += ["zone:", f'  name: "{zone}"', f"  request-xfr: {primary} NOKEY", f"  allow-notify: {primary} NOKEY"]
    conf = root / "nsd.conf"
    _write(conf, "\n".join(lines) + "\n")
    listens = [(proto, address, 53) for address in addresses for proto in ("udp", "tcp")]
    return Daemon("nsd", [NSD, "-d", "-c", str(conf)], listens, str(log))


def nginx(root: Path, *, addresses: list[str], sites: dict[str, tuple[Path, ServerCert]],
          default_cert: ServerCert) -> Daemon:
    """nginx serving HTTPS on 443: one server block per site name (root = its www directory); any other
    SNI name gets `default_cert` and a 404, as a shared web host would."""
    log = root / "error.log"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / "tmp" / sub).mkdir(parents=True, exist_ok=True)

    def listen(extra: str) -> str:
        return "".join(
            f"    listen {f'[{a}]' if ':' in a else a}:443 ssl{extra};\n" for a in addresses
        )

    blocks = [
        "  server {\n" + listen(" default_server") + "    server_name _;\n"
        f"    ssl_certificate {default_cert.cert_file};\n    ssl_certificate_key {default_cert.key_file};\n"
        "    return 404;\n  }\n"
    ]
    for name, (www, cert) in sorted(sites.items()):
        if not HOSTNAME.match(name):
            raise ValueError(f"www directory {name!r} is not a host name")
        blocks.append(
            "  server {\n" + listen("") + f"    server_name {name};\n    root {www};\n"
            f"    ssl_certificate {cert.cert_file};\n    ssl_certificate_key {cert.key_file};\n  }}\n"
        )
    conf = root / "nginx.conf"
    _write(conf, f"""\
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {log} notice;
events {{
  worker_connections 1024;
}}
http {{
  access_log {root}/access.log;
  server_tokens off;
  ssl_protocols TLSv1.2 TLSv1.3;
  types {{
    text/plain txt;
    text/html html;
    application/json json;
  }}
  default_type application/octet-stream;
  client_body_temp_path {root}/tmp/body;
  proxy_temp_path {root}/tmp/proxy;
  fastcgi_temp_path {root}/tmp/fastcgi;
  uwsgi_temp_path {root}/tmp/uwsgi;
  scgi_temp_path {root}/tmp/scgi;
{"".join(blocks)}}}
""")
    listens = [("tcp", address, 443) for address in addresses]
    argv = [NGINX, "-p", str(root), "-c", str(conf), "-e", str(log), "-g", "daemon off;"]
    return Daemon("nginx", argv, listens, str(log))
