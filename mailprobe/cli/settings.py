"""Options into a Config: each value checked (a bad one is a UsageError, one line, exit 2) and converted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mailprobe.cli.options import Options
from mailprobe.config import Config, Resolver
from mailprobe.errors import UsageError
from mailprobe.model import Service
from mailprobe.targets import parse_port

MAX_TIMEOUT = 600.0


def build_config(opts: Options, base: Config | None = None) -> Config:
    """`base` (the defaults, or a profile's Config) with what `opts` sets; flags only ever add to the base."""
    cfg = base or Config()
    if opts.timeout is not None:
        if not 0 < opts.timeout <= MAX_TIMEOUT:
            raise UsageError(f"bad --timeout {opts.timeout:g}: must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
        cfg = replace(cfg, limits=cfg.limits.for_timeout(opts.timeout))
    if opts.ca_file is not None:
        check_ca_file(opts.ca_file)
    if opts.ipv4_only and opts.ipv6_only:
        raise UsageError("-4 and -6 exclude each other")
    changes: dict[str, Any] = {}
    if opts.resolver:
        changes["resolver"] = parse_resolver(opts.resolver)
    if opts.port:
        changes["ports"] = parse_port_overrides(opts.port)
    if opts.scan_ports is not None:
        changes["scan_ports"] = parse_port_list(opts.scan_ports)
    if opts.ca_file is not None:
        changes["ca_file"] = str(opts.ca_file)
    if opts.ehlo_name:
        changes["ehlo_name"] = opts.ehlo_name
    if opts.servername:
        from mailprobe.dns.names import validate_domain

        changes["servername"] = validate_domain(opts.servername)
    if opts.allow_nonpublic:
        changes["allow_nonpublic"] = True
    if opts.ipv4_only:
        changes["ipv6"] = False
    if opts.ipv6_only:
        changes["ipv4"] = False
    if opts.legacy_tls:
        changes["check_legacy_tls"] = True
    if opts.relay_test:
        changes["relay_test_domain"] = opts.relay_test
    if opts.dkim_selector:
        changes["dkim_selectors"] = tuple(opts.dkim_selector)
    if opts.dnsbl:
        changes["dnsbl_zones"] = tuple(opts.dnsbl)
    if opts.raw:
        changes["raw"] = True
    return replace(cfg, **changes)


def check_ca_file(path: Path) -> None:
    """A --ca-file that exists and holds PEM certificates OpenSSL accepts: loaded once here, so a bad one is one
    line before the run, not an internal error on every target."""
    import ssl

    from mailprobe.cli.common import terminal_text

    where = f"--ca-file {terminal_text(str(path))}"
    if not path.is_file():
        raise UsageError(f"{where}: no such file")
    try:
        # A bare context: the system's store (~50 ms to load) has nothing to do with this file.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        why = exc.reason or exc.strerror or "OpenSSL refused it"
        raise UsageError(f"{where}: not a PEM file of CA certificates ({terminal_text(str(why))})") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{where}: {terminal_text(str(getattr(exc, 'strerror', None) or exc))}") from None


def parse_resolver(text: str) -> Resolver:
    """`IP`, `IP:PORT` or `[IPv6]:PORT`."""
    from mailprobe.targets import _address

    text = text.strip()
    if text.startswith("["):
        inside, _, rest = text[1:].partition("]")
        port = parse_port(rest[1:], "resolver port") if rest.startswith(":") else 53
        host = inside
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = parse_port(port_text, "resolver port")
    else:
        host, port = text, 53
    address = _address(host)
    if address is None:
        raise UsageError(f"bad --resolver {text!r}: give an IP address, IP:PORT or [IPv6]:PORT")
    return Resolver(address, port)


def parse_port_overrides(items: list[str]) -> tuple[tuple[Service, int], ...]:
    """`--port smtp=2525 --port imaps=10993`."""
    overrides: list[tuple[Service, int]] = []
    for item in items:
        name, sep, port_text = item.partition("=")
        if not sep:
            raise UsageError(f"bad --port {item!r}: use SERVICE=PORT, e.g. smtp=2525")
        try:
            service = Service(name.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in Service)
            raise UsageError(f"bad --port {item!r}: unknown service {name!r} (one of {names})") from None
        overrides.append((service, parse_port(port_text.strip())))
    return tuple(overrides)


def parse_port_list(text: str) -> tuple[int, ...]:
    """`25,587,1000-1010`: numbers and ranges, each 1-65535."""
    found: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise UsageError(f"bad --ports {text!r}: empty item")
        low, sep, high = part.partition("-")
        if sep:
            first, last = parse_port(low, "port"), parse_port(high, "port")
            if first > last:
                raise UsageError(f"bad --ports range {part!r}: start after end")
            found.extend(range(first, last + 1))
        else:
            found.append(parse_port(part, "port"))
    return tuple(dict.fromkeys(found))
