"""The CLI's own shape: one declaration of the shared options (cli/options.py), help that names what to type
and says defaults in words, a README that lists exactly the options each command takes, readable
`profiles --check`, and `egress --list-targets` that sends nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import pytest_socket
import typer.main
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from mailprobe.cli import options as o
from mailprobe.cli.app import COMMANDS, app
from mailprobe.profiles import load_profile

runner = CliRunner()
README = Path(__file__).parents[2] / "README.md"
MATRIX_COMMANDS = ("audit", "mx", "ports", "handshake", "egress", "trace", "demo", "merge")
TYPE_MARKS = re.compile(r"<(?:str|int|float|path|bool|list\[[^\]]*\]|Path)>|\{[A-Za-z_]+\}")


def command_params(name: str) -> list[TyperOption | TyperArgument]:
    return list(typer.main.get_command(app).commands[name].params)  # type: ignore[attr-defined]


def flag(param: TyperOption) -> str:
    longs = [word for word in param.opts if word.startswith("--")]
    return (longs or list(param.opts))[0]


def flags(name: str) -> set[str]:
    return {flag(p) for p in command_params(name) if isinstance(p, TyperOption) and flag(p) != "--help"}


def readme_matrix() -> dict[str, set[str]]:
    """The README's options table: for each command column, the options ticked."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| option | audit |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    found: dict[str, set[str]] = {name: set() for name in header[1:] if name in MATRIX_COMMANDS}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.replace("\\|", "/").strip("|").split("|")]
        words = re.findall(r"(--?[a-z0-9][a-z0-9-]*)", cells[0])
        option = next((w for w in words if w.startswith("--")), words[0])
        for name, cell in zip(header[1:], cells[1:], strict=False):
            if name in found and cell == "✓":
                found[name].add(option)
    return found


def test_the_readme_lists_exactly_the_options_each_command_takes() -> None:
    matrix = readme_matrix()
    assert set(matrix) == set(MATRIX_COMMANDS)
    for name in MATRIX_COMMANDS:
        assert matrix[name] == flags(name), (name, matrix[name] ^ flags(name))


def test_every_shared_option_comes_from_the_one_declaration() -> None:
    """A shared option reads the same on every command that takes it: same flags, metavar and help."""
    seen: dict[str, tuple[tuple[str, ...], str | None, str | None]] = {}
    assert set(o.TAKEN) == set(MATRIX_COMMANDS)
    for name, taken in o.TAKEN.items():
        for param in command_params(name):
            # fmt: its default differs per command; --critical-on: its default names --fail-on only where the
            # command takes --fail-on (egress and demo have the one of their own, o.CRITICAL_ON_HELP)
            if param.name == "critical_on" and "fail_on" not in taken:
                assert param.help == o.CRITICAL_ON_HELP, name
            elif param.name in taken and param.name not in ("fmt",):
                shape = (tuple(param.opts), param.metavar, param.help)
                assert seen.setdefault(param.name, shape) == shape, (name, param.name)
    assert {"timeout", "resolver", "output_file", "input_file", "profile"} <= set(seen)
    for name in ("audit", "mx", "ports", "handshake"):  # the batch commands take the batch options, all of them
        assert {"--input", "--shard", "--report", "--baseline", "--profile", "--fail-on", "--format"} <= flags(name)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_names_what_to_type_never_a_python_type(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0
    assert not TYPE_MARKS.search(result.stdout), TYPE_MARKS.findall(result.stdout)
    assert "[default:" not in result.stdout  # defaults are said in words, in the help text
    for param in command_params(name):
        if isinstance(param, TyperOption) and not param.is_flag and flag(param) != "--help":
            assert param.metavar and param.metavar.upper() == param.metavar, (name, flag(param))


def test_the_command_list_is_not_cut_off() -> None:
    out = " ".join(runner.invoke(app, ["--help"], terminal_width=80).stdout.split())
    group = typer.main.get_command(app)
    for name in COMMANDS:
        summary = group.commands[name].short_help  # type: ignore[attr-defined]
        assert summary and not summary.endswith("...")
        assert f"{name} {summary}" in out, name


def test_profiles_check_prints_a_readable_summary(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\n[run]\nservices = ["smtp", "imaps"]\nfail_on = "medium"\n'
        '[expect]\nopen = [25]\nmin_tls_version = "TLSv1.2"\n'
        "[expect.capabilities]\nsmtp = [\"PIPELINING\"]\n[expect.banner_pattern]\nsmtp = '^mx1 '\n"
    )
    out = runner.invoke(app, ["profiles", "--check", str(path)]).stdout
    assert "Expectations(" not in out and "(open_ports=" not in out
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == f"{path}: ok"
    assert "services: smtp, imaps" in lines and "fails (exit 1) on: medium findings and worse" in lines
    assert "expects: ports open: 25; TLSv1.2 or newer; smtp offers PIPELINING; smtp greeting matches '^mx1 '" in lines
    assert load_profile(str(path)).summary() == lines[1:]


def test_egress_list_targets_sends_nothing() -> None:
    pytest_socket.disable_socket()  # any socket at all (a DNS query, a connect) raises
    try:
        listed = runner.invoke(app, ["egress", "--list-targets"])
        as_json = runner.invoke(app, ["egress", "--list-targets", "--json"])
        own = runner.invoke(app, ["egress", "--list-targets", "-t", "mx.example.org", "--control-port", "587"])
    finally:
        pytest_socket.enable_socket()
    assert listed.exit_code == as_json.exit_code == own.exit_code == 0, listed.output
    profile = load_profile("isp-check")
    assert all(f"  {name}" in listed.stdout.splitlines() for name in profile.egress_targets)
    assert "port 25 with 587, 465, 443" in listed.stdout and "Nothing was sent." in listed.stdout
    data = json.loads(as_json.stdout)
    assert data == {
        "profile": "isp-check",
        "port": 25,
        "control_ports": [587, 465, 443],
        "targets": list(profile.egress_targets),
    }
    assert "(--target)" in own.stdout and "  mx.example.org" in own.stdout.splitlines()
