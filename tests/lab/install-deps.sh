#!/usr/bin/env bash
# Installs the Debian packages the real-server lab needs (tests/lab), idempotently.
# Skips apt entirely when everything is already there, so `make test` stays fast.
# The packages' own daemons must never run in the root namespace: a temporary policy-rc.d stops their
# postinst scripts from starting them, and any that started anyway are stopped by the PID they wrote.
#
# Exim and OpenSMTPD conflict with Postfix, and Courier with Dovecot, as Debian packages, so those are never
# installed: `apt-get download` fetches them and `dpkg -x` unpacks them into $UNPACKED_ROOT (no maintainer
# script runs). The libraries they link against are ordinary packages and are installed; the system users
# their postinst scripts would have made are made here. tests/lab/labunpacked.py runs them from that tree.
set -euo pipefail

PACKAGES=(postfix dovecot-core dovecot-imapd dovecot-pop3d nsd nftables nmap libxml2-utils iproute2 openssl
          chromium chromium-driver fonts-dejavu-core tmux)  # the last four: the HTML browser test, the pty tests
NGINX_CHOICES=(nginx-light nginx nginx-core nginx-full nginx-extras)
UNPACKED_PACKAGES=(exim4-daemon-light exim4-base exim4-config courier-authlib courier-base courier-imap courier-pop
                   opensmtpd)
CACHE=/var/cache/mailprobe-lab
UNPACKED_ROOT=$CACHE/root
STAMP=$UNPACKED_ROOT/.mailprobe-lab-packages  # the package list that was unpacked, one per line
# Binaries that must run from the tree, to check every library they need resolves.
UNPACKED_BINARIES=(usr/sbin/exim4 usr/sbin/couriertcpd usr/bin/couriertls usr/lib/courier/courier/imaplogin
                   usr/lib/courier/courier/courierpop3login usr/sbin/smtpd)
# name:home of each system user (own group of the same name) the unpacked daemons switch to.
SYSTEM_USERS=(Debian-exim:/var/spool/exim4 courier:/var/lib/courier opensmtpd:/var/lib/opensmtpd/empty
              opensmtpq:/var/lib/opensmtpd/empty)
OPENSMTPD_CHROOT=/var/lib/opensmtpd/empty  # compiled into smtpd; must exist, empty, owned by root

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

library_path() {
    local dirs=("$UNPACKED_ROOT/usr/lib") dir
    for dir in "$UNPACKED_ROOT"/usr/lib/*-linux-gnu; do [ -d "$dir" ] && dirs+=("$dir"); done
    local IFS=:
    echo "${dirs[*]}"
}

# The unpacked tree is complete: same package list as asked, and every binary finds every library.
unpacked_ok() {
    [ -r "$STAMP" ] && [ "$(cat "$STAMP")" = "$(printf '%s\n' "${UNPACKED_PACKAGES[@]}")" ] || return 1
    local binary
    for binary in "${UNPACKED_BINARIES[@]}"; do
        [ -x "$UNPACKED_ROOT/$binary" ] || return 1
        if LD_LIBRARY_PATH=$(library_path) ldd "$UNPACKED_ROOT/$binary" | grep -q 'not found'; then return 1; fi
    done
}

users_ok() {
    local entry
    for entry in "${SYSTEM_USERS[@]}"; do getent passwd "${entry%%:*}" >/dev/null || return 1; done
    [ -d "$OPENSMTPD_CHROOT" ]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
have_nginx=no
for pkg in "${NGINX_CHOICES[@]}"; do
    if installed "$pkg"; then have_nginx=yes; fi
done
system_ok=no
if [ "${#missing[@]}" -eq 0 ] && [ "$have_nginx" = yes ] && [ -x /usr/sbin/nginx ]; then system_ok=yes; fi

if [ "$system_ok" = yes ] && unpacked_ok && users_ok; then
    echo "lab packages already installed"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: must run as root to install: ${missing[*]} ${have_nginx/yes/} and $UNPACKED_ROOT" >&2
    exit 1
fi

# Keep postinst scripts from starting daemons (invoke-rc.d honours policy-rc.d; 101 = action forbidden).
POLICY=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    made_policy=yes
fi
work=""
cleanup() {
    if [ "$made_policy" = yes ]; then rm -f "$POLICY"; fi
    if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q

if [ "$system_ok" = no ]; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    if [ "$have_nginx" = no ]; then
        if apt-cache show nginx-light >/dev/null 2>&1; then missing+=(nginx-light); else missing+=(nginx); fi
    fi
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" "${missing[@]}" </dev/null
fi

if ! unpacked_ok; then
    mkdir -p "$CACHE"
    work=$(mktemp -d "$CACHE/.unpack.XXXXXX")
    # apt-get download fetches as the _apt user where it may write (else it warns and fetches as root).
    if getent passwd _apt >/dev/null; then chown _apt "$work"; fi
    (cd "$work" && apt-get download -q "${UNPACKED_PACKAGES[@]}" </dev/null)
    # The libraries they depend on (first choice of each alternative) that the system lacks.
    libraries=()
    for deb in "$work"/*.deb; do
        for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//' | tr -d ' '); do
            case "$dep" in lib*) installed "$dep" || libraries+=("$dep") ;; esac
        done
    done
    if [ "${#libraries[@]}" -gt 0 ]; then
        apt-get install -y -q --no-install-recommends $(printf '%s\n' "${libraries[@]}" | sort -u) </dev/null
    fi
    mkdir "$work/root"
    for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
    printf '%s\n' "${UNPACKED_PACKAGES[@]}" >"$work/root/.mailprobe-lab-packages"
    rm -rf "$CACHE/debs" "$UNPACKED_ROOT"
    mkdir "$CACHE/debs"
    mv "$work"/*.deb "$CACHE/debs/"
    mv "$work/root" "$UNPACKED_ROOT"
fi

for entry in "${SYSTEM_USERS[@]}"; do
    name=${entry%%:*}
    getent group "$name" >/dev/null || groupadd --system "$name"
    getent passwd "$name" >/dev/null || useradd --system --gid "$name" --no-create-home --home-dir "${entry#*:}" \
        --shell /usr/sbin/nologin "$name"
done
mkdir -p "$OPENSMTPD_CHROOT"

if ! unpacked_ok; then
    echo "install-deps.sh: $UNPACKED_ROOT is incomplete; libraries not found:" >&2
    for binary in "${UNPACKED_BINARIES[@]}"; do
        LD_LIBRARY_PATH=$(library_path) ldd "$UNPACKED_ROOT/$binary" | grep 'not found' >&2 || true
    done
    exit 1
fi

# Belt and braces: stop any packaged daemon that started anyway, by the PID it wrote, never by name.
stop_pidfile() {
    local pidfile=$1 exe=$2 pid
    [ -r "$pidfile" ] || return 0
    pid=$(tr -dc '0-9' <"$pidfile")
    [ -n "$pid" ] || return 0
    # Only a live process running the expected program (a stale file may name a reused PID).
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
        echo "stopping packaged $exe (pid $pid) started by its postinst"
        kill -TERM "$pid" || true
    fi
}
stop_pidfile /run/nginx.pid /usr/sbin/nginx
stop_pidfile /run/dovecot/master.pid /usr/sbin/dovecot
stop_pidfile /run/nsd/nsd.pid /usr/sbin/nsd
stop_pidfile /var/spool/postfix/pid/master.pid /usr/lib/postfix/sbin/master
echo "lab packages installed"
