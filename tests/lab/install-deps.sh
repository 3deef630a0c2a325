#!/usr/bin/env bash
# Installs the Debian packages the real-server lab needs (tests/lab), idempotently.
# Skips apt entirely when everything is already there, so `make test` stays fast.
# The packages' own daemons must never run in the root namespace: a temporary policy-rc.d stops their
# postinst scripts from starting them, and any that started anyway are stopped by the PID they wrote.
set -euo pipefail

PACKAGES=(postfix dovecot-core dovecot-imapd dovecot-pop3d nsd nftables nmap libxml2-utils iproute2 openssl)
NGINX_CHOICES=(nginx-light nginx nginx-core nginx-full nginx-extras)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

missing=()
for pkg in "${PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
have_nginx=no
for pkg in "${NGINX_CHOICES[@]}"; do
    if installed "$pkg"; then have_nginx=yes; fi
done

if [ "${#missing[@]}" -eq 0 ] && [ "$have_nginx" = yes ] && [ -x /usr/sbin/nginx ]; then
    echo "lab packages already installed"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: must run as root to install: ${missing[*]} ${have_nginx/yes/}" >&2
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
cleanup() { if [ "$made_policy" = yes ]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
if [ "$have_nginx" = no ]; then
    if apt-cache show nginx-light >/dev/null 2>&1; then missing+=(nginx-light); else missing+=(nginx); fi
fi
apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" "${missing[@]}" </dev/null

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
