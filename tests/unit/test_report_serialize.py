"""serialize.py and jsonl.py: lossless Report <-> JSON, the schema, JSONL streams (several runs per file)."""

from __future__ import annotations

import json
import math
import pickle
import types
from dataclasses import fields, is_dataclass, replace
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import hostile_report, sample_report

from mailprobe import model
from mailprobe.errors import UsageError
from mailprobe.model import (
    Direction,
    MxStatus,
    PortState,
    ProbeStatus,
    Report,
    Service,
    Severity,
    StartTlsOutcome,
    type_hints,
)
from mailprobe.report import json as json_format
from mailprobe.report.jsonl import jsonl_lines, read_jsonl
from mailprobe.report.schema import def_name, json_schema_of_model
from mailprobe.report.serialize import json_schema, report_from_jsonable, to_jsonable

# --- strategies: any Report, derived from the model's own type hints ------------------------------------
# Built from the dataclasses' annotations, so a new model field is exercised without touching this file.

text = st.text(max_size=8)
ms = st.floats(allow_nan=False, width=64)  # infinities included: they are encoded as strings
small = st.integers(min_value=-(2**40), max_value=2**40)
_SIMPLE: dict[Any, st.SearchStrategy[Any]] = {
    str: text,
    int: small,
    float: ms,
    bool: st.booleans(),
    bytes: st.binary(max_size=12),
}


@cache
def strategy(tp: Any) -> st.SearchStrategy[Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return st.one_of(*(strategy(arg) for arg in get_args(tp)))
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy(args[0]), max_size=2).map(tuple)
        return st.tuples(*(strategy(arg) for arg in args))
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(tp)
    if isinstance(tp, type) and is_dataclass(tp):
        hints = type_hints(tp)
        if tp is Report:  # one schema version only
            return st.builds(tp, **{f.name: strategy(hints[f.name]) for f in fields(tp) if f.name != "schema_version"})
        return st.builds(tp, **{f.name: st.deferred(lambda h=hints[f.name]: strategy(h)) for f in fields(tp)})
    return _SIMPLE[tp]


reports = strategy(Report)
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


@FAST
@given(reports)
def test_any_report_survives_pickling_as_processes_pass_it(report: Report) -> None:
    """--jobs children and --cluster workers send their reports pickled (model classes by position)."""
    assert pickle.loads(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL)) == report


@pytest.mark.parametrize("make", [sample_report, hostile_report])
def test_the_samples_survive_pickling(make: Any) -> None:
    report = make()
    assert pickle.loads(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL)) == report


def test_json_output_is_stable_ascii_with_schema_version_first() -> None:
    text = json_format.render(hostile_report())
    assert text.isascii()
    assert text == json_format.render(hostile_report())
    assert next(iter(json.loads(text))) == "schema_version"


def test_bytes_are_text_plus_base64() -> None:
    entry = to_jsonable(hostile_report())["handshakes"][0]["transcript"][0]["data"]
    assert set(entry) == {"text", "base64"}
    assert "\x1b" not in entry["text"] and "\\x1b" in entry["text"] and "\\xff" in entry["text"]


def test_meta_is_an_object_when_keys_are_unique_and_pairs_when_they_repeat() -> None:
    assert isinstance(to_jsonable(hostile_report())["meta"], dict)
    repeated = replace(sample_report(), meta=(("index", "1"), ("index", "2")))
    assert to_jsonable(repeated)["meta"] == [["index", "1"], ["index", "2"]]
    assert through_json(repeated) == repeated


def test_parsed_records_carry_their_type() -> None:
    data = to_jsonable(sample_report())
    dmarc = next(r for r in data["dns"][0]["records"] if r["kind"] == "DMARC")
    assert dmarc["parsed"]["type"] == "DmarcRecord"
    assert dmarc["parsed"]["tags"][1] == ["p", "none"]


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


@pytest.mark.parametrize("version", [None, 0, 1, 3, "2", True])
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
        (lambda d: d.update(meta=[["a"]]), r"meta\[0\]: expected an array of 2"),
        (lambda d: d["dns"][0]["records"][1]["parsed"].update(type="Nope"), r"parsed\.type: expected one of"),
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


def test_shipped_schema_is_the_one_the_model_gives() -> None:
    """`python -m mailprobe.report.schema > mailprobe/schema/report.schema.json` after a model change."""
    assert json_schema() == json_schema_of_model()


def test_schema_names_every_model_field() -> None:
    defs = json_schema()["$defs"]
    for cls in (Report, *(obj for obj in vars(model).values() if isinstance(obj, type) and is_dataclass(obj))):
        if cls is Report:
            continue
        if def_name(cls) in defs:
            props = dict(defs[def_name(cls)]["properties"])
            if props.get("type") == {"const": cls.__name__}:  # a class tagged in a union (DnsRecord.parsed)
                del props["type"]
            assert set(props) == {f.name for f in fields(cls)}, cls.__name__
    assert set(json_schema()["properties"]) - {"summary"} == {f.name for f in fields(Report)}
    for enum_cls in (Severity, PortState, ProbeStatus, Service, Direction, MxStatus, StartTlsOutcome):
        assert defs[def_name(enum_cls)]["enum"] == [m.value for m in enum_cls]


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
    assert [f["code"] for f in groups["example.com"]["findings"]] == ["DMARC-POLICY-NONE", "MTA-STS-MISSING"]
    mx2 = groups["mx2.example.com"]
    assert {f["code"] for f in mx2["findings"]} == {
        "TLS-HOSTNAME-MISMATCH",
        "TLS-CERT-EXPIRING",
        "AUTH-BEFORE-TLS",
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
        (['{"schema_version": 2, "command": "audit"}'], 'line 1: no "type": not a line of mailprobe\'s JSONL'),
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
