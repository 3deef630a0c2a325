"""serialize.py and jsonl.py: lossless Report <-> JSON, the schema, JSONL streams (several runs per file)."""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass, replace
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailprobe import model
from mailprobe.errors import UsageError
from mailprobe.model import (
    Capability,
    CertFacts,
    Direction,
    DnsRecord,
    DomainDns,
    EgressResult,
    Finding,
    HandshakeResult,
    IcmpInfo,
    MxHost,
    MxStatus,
    PortResult,
    PortState,
    ProbeStatus,
    Report,
    Service,
    Severity,
    StartTlsOutcome,
    Target,
    TlsFacts,
    TranscriptEntry,
)
from mailprobe.report import json as json_format
from mailprobe.report.jsonl import jsonl_lines, read_jsonl
from mailprobe.report.samples import hostile_report, sample_report
from mailprobe.report.serialize import json_schema, report_from_jsonable, to_jsonable

# --- strategies: small Reports with every field exercised ---------------------------------------------

text = st.text(max_size=8)
ms = st.floats(allow_nan=False, width=64)  # infinities included: they are encoded as strings
small = st.integers(min_value=-(2**40), max_value=2**40)


def tup(strategy: st.SearchStrategy[Any], size: int = 2) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(strategy, max_size=size).map(tuple)


def pairs(value: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[tuple[str, Any], ...]]:
    # Repeated keys are allowed (the array form of the JSON encoding).
    return tup(st.tuples(st.sampled_from(["a", "b", "vrfy", "x y"]) | text, value), 3)


targets = st.builds(Target, text, text, small, st.sampled_from(Service), text)
ports = st.builds(
    PortResult,
    text,
    text,
    small,
    st.sampled_from(PortState),
    text,
    ms,
    st.none() | st.sampled_from(Service),
    st.none() | st.builds(IcmpInfo, small, small, text, text),
    st.none() | small,
    st.none() | small,
    small,
)
certs = st.builds(
    CertFacts, text, text, text, text, text, small, tup(text), text, small, text, text, text, st.booleans()
)
tls = st.builds(
    TlsFacts,
    text,
    text,
    small,
    st.none() | text,
    tup(certs),
    st.booleans(),
    st.none() | text,
    text,
    st.booleans(),
    tup(text),
)
caps = st.builds(Capability, text, tup(text), text)
entries = st.builds(TranscriptEntry, st.sampled_from(Direction), st.binary(max_size=12), ms, text)
handshakes = st.builds(
    HandshakeResult,
    targets,
    st.sampled_from(ProbeStatus),
    text,
    ms,
    text,
    text,
    tup(caps),
    tup(caps),
    st.sampled_from(StartTlsOutcome),
    text,
    st.none() | tls,
    text,
    tup(text),
    tup(text),
    st.booleans(),
    small,
    pairs(text),
    small,
    tup(entries, 3),
)
mx_hosts = st.builds(MxHost, small, text, tup(text), text, st.none() | text, pairs(text), pairs(st.booleans()))
domains = st.builds(
    DomainDns,
    text,
    st.sampled_from(MxStatus),
    text,
    ms,
    tup(mx_hosts),
    tup(st.builds(DnsRecord, text, text, text, text, text)),
    st.none() | st.booleans(),
    tup(text),
)
findings = st.builds(Finding, text, st.sampled_from(Severity), text, text, text, text)
reports = st.builds(
    Report,
    text,
    tup(text),
    text,
    ms,
    tup(domains),
    tup(ports),
    tup(handshakes),
    tup(findings, 3),
    st.none() | st.builds(EgressResult, text, text, tup(text), tup(ports), tup(handshakes, 1)),
    tup(text),
    st.none() | text,
    text,
    st.just(model.SCHEMA_VERSION),
    pairs(text),
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def through_json(report: Report) -> Report:
    return report_from_jsonable(json.loads(json_format.render(report)))


# --- round trips --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [sample_report, hostile_report])
def test_round_trip_is_exact_for_the_samples(make: Any) -> None:
    report = make()
    assert report_from_jsonable(to_jsonable(report)) == report
    assert through_json(report) == report


@FAST
@given(reports)
def test_round_trip_is_exact_for_any_report(report: Report) -> None:
    assert through_json(report) == report


def test_every_model_field_and_enum_is_covered() -> None:
    """The strategies above build every dataclass of the model: a new model field must be added there."""
    built = {
        Report,
        DomainDns,
        MxHost,
        DnsRecord,
        PortResult,
        IcmpInfo,
        HandshakeResult,
        Target,
        Capability,
        TlsFacts,
        CertFacts,
        TranscriptEntry,
        Finding,
        EgressResult,
    }
    in_model = {obj for obj in vars(model).values() if isinstance(obj, type) and is_dataclass(obj)}
    assert in_model == built


def test_json_output_is_stable_ascii_with_schema_version_first() -> None:
    text = json_format.render(hostile_report())
    assert text.isascii()
    assert text == json_format.render(hostile_report())
    assert next(iter(json.loads(text))) == "schema_version"


def test_bytes_are_text_plus_base64() -> None:
    entry = to_jsonable(hostile_report())["handshakes"][0]["transcript"][0]["data"]
    assert set(entry) == {"text", "base64"}
    assert "\x1b" not in entry["text"] and "\\x1b" in entry["text"] and "\\xff" in entry["text"]


def test_pairs_are_objects_when_keys_are_unique_and_arrays_when_they_repeat() -> None:
    data = to_jsonable(hostile_report())
    assert isinstance(data["meta"], dict)
    assert data["handshakes"][0]["facts"][1:] == [["dup", "1"], ["dup", data["handshakes"][0]["facts"][2][1]]]
    assert to_jsonable(sample_report())["handshakes"][0]["facts"] == {
        "ehlo_hostname": "mx1.example.com",
        "pipelining": "yes",
    }


def test_non_finite_floats_survive_as_strings() -> None:
    report = replace(sample_report(), elapsed_ms=math.inf)
    data = to_jsonable(report)
    assert data["elapsed_ms"] == "inf"
    assert report_from_jsonable(json.loads(json.dumps(data))).elapsed_ms == math.inf


def test_summary_is_derived_and_ignored_on_read() -> None:
    data = to_jsonable(sample_report())
    assert data["summary"]["worst"] == "high"
    assert data["summary"]["by_severity"] == {"info": 1, "low": 1, "medium": 2, "high": 1, "critical": 0}
    data["summary"] = {"worst": "nonsense"}
    assert report_from_jsonable(data) == sample_report()


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, 0, 2, "1", True])
def test_unknown_schema_version_is_a_usage_error(version: Any) -> None:
    data = to_jsonable(sample_report())
    data["schema_version"] = version
    with pytest.raises(UsageError, match="schema_version"):
        report_from_jsonable(data)


def test_not_an_object_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="JSON object"):
        report_from_jsonable([1, 2])


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["ports"][0].update(port="25"), r"report\.ports\[0\]\.port: expected an integer"),
        (lambda d: d["ports"][0].update(state="ajar"), r"report\.ports\[0\]\.state: expected one of"),
        (lambda d: d["handshakes"][0]["transcript"][0]["data"].update(base64="!!"), "valid base64"),
        (lambda d: d["handshakes"][0]["transcript"][0].pop("data"), "missing 'data'"),
        (lambda d: d["handshakes"][0].update(facts=[["a"]]), r"facts\[0\]: expected an array of 2"),
        (lambda d: d.update(targets="example.com"), r"report\.targets: expected an array"),
        (lambda d: d["dns"][0].update(authenticated="yes"), "true or false"),
    ],
)
def test_bad_documents_name_the_path(mutate: Any, where: str) -> None:
    data = json.loads(json_format.render(sample_report()))
    mutate(data)
    with pytest.raises(UsageError, match=where):
        report_from_jsonable(data)


def test_missing_optional_fields_take_their_defaults() -> None:
    data = to_jsonable(sample_report())
    for key in ("meta", "egress", "profile", "errors"):
        del data[key]
    assert report_from_jsonable(data) == replace(sample_report(), meta=(), profile=None)


# --- schema -------------------------------------------------------------------------------------------

VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


@pytest.mark.parametrize("make", [sample_report, hostile_report])
def test_samples_validate_against_the_schema(make: Any) -> None:
    VALIDATOR.validate(json.loads(json_format.render(make())))


@FAST
@given(reports)
def test_any_report_validates_against_the_schema(report: Report) -> None:
    VALIDATOR.validate(json.loads(json_format.render(report)))


def test_schema_rejects_drift() -> None:
    data = json.loads(json_format.render(sample_report()))
    data["ports"][0]["unexpected"] = 1
    assert not VALIDATOR.is_valid(data)


def test_schema_names_every_model_field() -> None:
    defs = json_schema()["$defs"]
    names = {
        Target: "target",
        IcmpInfo: "icmp",
        PortResult: "port_result",
        CertFacts: "cert",
        TlsFacts: "tls",
        Capability: "capability",
        TranscriptEntry: "transcript_entry",
        HandshakeResult: "handshake",
        MxHost: "mx_host",
        DnsRecord: "dns_record",
        DomainDns: "domain_dns",
        Finding: "finding",
        EgressResult: "egress",
    }
    for cls, name in names.items():
        assert set(defs[name]["properties"]) == {f.name for f in fields(cls)}, cls.__name__
    top = set(json_schema()["properties"]) - {"summary"}
    assert top == {f.name for f in fields(Report)}
    for enum_cls, name in [
        (Severity, "severity"),
        (PortState, "port_state"),
        (ProbeStatus, "probe_status"),
        (Service, "service"),
        (Direction, "direction"),
        (MxStatus, "mx_status"),
        (StartTlsOutcome, "starttls"),
    ]:
        assert defs[name]["enum"] == [m.value for m in enum_cls]


# --- JSONL --------------------------------------------------------------------------------------------


def _canonical(report: Report) -> list[str]:
    """The report's results as a sorted multiset: JSONL regroups results per target."""
    data = to_jsonable(report)
    return sorted(
        json.dumps([key, item], sort_keys=True)
        for key in ("dns", "ports", "handshakes", "findings")
        for item in data[key]
    )


def test_jsonl_line_types_in_order() -> None:
    lines = list(jsonl_lines(hostile_report()))
    kinds = [json.loads(line)["type"] for line in lines]
    assert kinds[0] == "run" and kinds[-1] == "summary" and kinds[-2] == "egress"
    assert set(kinds[1:-2]) == {"target"}
    assert all("\n" not in line and line.isascii() for line in lines)


def test_jsonl_groups_per_target() -> None:
    groups = {obj["target"]: obj for obj in map(json.loads, jsonl_lines(sample_report())) if obj["type"] == "target"}
    assert list(groups) == ["example.com", "mx1.example.com", "mx2.example.com"]
    assert [f["code"] for f in groups["example.com"]["findings"]] == ["DMARC_POLICY_NONE", "MTA_STS_MISSING"]
    mx2 = groups["mx2.example.com"]
    assert {f["code"] for f in mx2["findings"]} == {
        "TLS_CERT_HOSTNAME_MISMATCH",
        "TLS_CERT_EXPIRES_SOON",
        "AUTH_BEFORE_TLS",
    }
    assert len(mx2["ports"]) == 2 and len(mx2["handshakes"]) == 1


@pytest.mark.parametrize("make", [sample_report, hostile_report])
def test_jsonl_reads_back(make: Any) -> None:
    report = make()
    (back,) = read_jsonl(jsonl_lines(report))
    assert _canonical(back) == _canonical(report)
    assert replace(back, dns=(), ports=(), handshakes=(), findings=()) == replace(
        report, dns=(), ports=(), handshakes=(), findings=()
    )
    assert list(jsonl_lines(back)) == list(jsonl_lines(report))  # regrouping is a fixed point


@FAST
@given(reports)
def test_jsonl_reads_back_any_report(report: Report) -> None:
    (back,) = read_jsonl(jsonl_lines(report))
    assert _canonical(back) == _canonical(report)
    assert (back.egress, back.errors, back.meta, back.elapsed_ms) == (
        report.egress,
        report.errors,
        report.meta,
        report.elapsed_ms,
    )


def test_jsonl_file_with_several_runs_and_blank_lines() -> None:
    text = "\n".join([*jsonl_lines(sample_report()), "", *jsonl_lines(hostile_report())]) + "\n"
    first, second = read_jsonl(text.splitlines())
    assert first.targets == ("example.com",) and second.command == hostile_report().command


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"type": "target"}'], "line 1: 'target' line before any run line"),
        (["not json"], "line 1: not JSON"),
        (["[1]"], "line 1: not a JSON object"),
        (['{"type": "run", "schema_version": 1}', '{"type": "other"}'], "line 2: unknown line type"),
        (['{"type": "run", "schema_version": 1}'], "no summary line"),
        (['{"type": "run", "schema_version": 1}', '{"type": "run"}'], "line 2: a new run starts"),
        (['{"type": "run", "schema_version": 9}', '{"type": "summary"}'], "line 2: .*schema_version 9"),
        (['{"type": "run", "schema_version": 1}', '{"type": "target", "ports": {}}'], "line 2: 'ports'"),
    ],
)
def test_jsonl_errors_name_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        read_jsonl(lines)
