"""Label and field selectors: parsing, canonical form, matching and the apiserver's errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.sim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    check_field_selector,
    selector_from_service,
    supported_field_selectors,
)

_KEY_NAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


# --- label selector strings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("app=web", "app=web"),
        ("app==web", "app==web"),
        ("app!=web", "app!=web"),
        ("  tier in ( front , back ) ", "tier in (back,front)"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("!canary", "!canary"),
        ("env", "env"),
        ("b=1,a=2", "a=2,b=1"),
        ("example.com/role=db", "example.com/role=db"),
        ("in in (in),notin notin (notin)", "in in (in),notin notin (notin)"),
        ("x=", "x="),
        ("priority>5,priority<10", "priority>5,priority<10"),
    ],
)
def test_parse_gives_the_canonical_string(text: str, canonical: str) -> None:
    assert str(LabelSelector.parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {}, True),
        ("", None, True),
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "api"}, False),
        ("app=web", {}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("tier in (front,back)", {"tier": "back"}, True),
        ("tier in (front,back)", {}, False),
        ("tier notin (front)", {}, True),
        ("tier notin (front)", {"tier": "front"}, False),
        ("canary", {"canary": ""}, True),
        ("!canary", {"canary": ""}, False),
        ("!canary", None, True),
        ("x in ()", {"x": ""}, True),
        ("priority>5", {"priority": "6"}, True),
        ("priority>5", {"priority": "5"}, False),
        ("priority>5", {"priority": "high"}, False),
        ("priority<5", {"priority": "-3"}, True),
        ("app=web,tier in (front)", {"app": "web", "tier": "front", "x": "y"}, True),
        ("app=web,tier in (front)", {"app": "web", "tier": "back"}, False),
    ],
)
def test_label_selector_matching(text: str, labels: dict[str, str] | None, expected: bool) -> None:
    labels_before = copy.deepcopy(labels)
    assert LabelSelector.parse(text).matches(labels) is expected
    assert labels == labels_before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app: web", f'unable to parse requirement: <nil>: Invalid value: "app:": {_KEY_NAME_RULE}'),
        ("app=web tier", "found 'tier', expected: ',' or 'end of string'"),
        ("app=web,", "found '', expected: identifier after ','"),
        (",app", "found ',', expected: !, identifier, or 'end of string'"),
        ("app in web", "unable to parse requirement: found 'web' expected: '('"),
        ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
        # Go's parser quirk: two empty values in a row are refused.
        ("x in (,,)", "unable to parse requirement: found ')', expected: ',', or identifier"),
        ("app ~ web", "unable to parse requirement: found '~', expected: in, notin, =, ==, !=, gt, lt"),
        ("!app=web", "found '=', expected: ',' or 'end of string'"),
        ("app=(web)", "unable to parse requirement: found '(', expected: identifier"),
        (
            "app=-web",
            f'unable to parse requirement: values[0][app]: Invalid value: "-web": {_VALUE_RULE}',
        ),
        (
            "x>y",
            "unable to parse requirement: values[0]: Invalid value: \"y\": for 'Gt', 'Lt' operators, "
            "the value must be an integer",
        ),
        (
            "a/b/c=d",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key must consist of',
        ),
        ("Example.com/x", 'unable to parse requirement: <nil>: Invalid value: "Example.com/x": prefix part'),
        (
            "app=" + "v" * 64,
            f'unable to parse requirement: values[0][app]: Invalid value: "{"v" * 64}": '
            "must be no more than 63 bytes",
        ),
    ],
)
def test_label_selector_errors_read_like_the_apiserver(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as excinfo:
        LabelSelector.parse(text)
    assert str(excinfo.value).startswith(message)


def test_several_bad_values_are_aggregated_in_brackets() -> None:
    with pytest.raises(SelectorError) as excinfo:
        LabelSelector.parse("app in (-a,-b)")
    message = str(excinfo.value)
    assert message.startswith('unable to parse requirement: [values[0][app]: Invalid value: "-a"')
    assert 'values[1][app]: Invalid value: "-b"' in message
    assert message.endswith("]")


# --- metav1.LabelSelector ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "canonical", "labels", "expected"),
    [
        ({}, "", {"any": "thing"}, True),
        ({"matchLabels": {"app": "web"}}, "app=web", {"app": "web"}, True),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
            },
            "app=web,tier in (a,b)",
            {"app": "web", "tier": "a"},
            True,
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]},
            "tier notin (a)",
            {},
            True,
        ),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, "gpu", {"gpu": "1"}, True),
        (
            {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist", "values": None}]},
            "!gpu",
            {"gpu": "1"},
            False,
        ),
    ],
)
def test_from_dict(selector: dict[str, Any], canonical: str, labels: dict[str, str], expected: bool) -> None:
    selector_before = copy.deepcopy(selector)
    parsed = LabelSelector.from_dict(selector)
    assert str(parsed) == canonical
    assert parsed.matches(labels) is expected
    assert selector == selector_before


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Bogus"}]},
            '"Bogus" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
        ),
        ({"matchLabels": {"a b": "c"}}, 'key: Invalid value: "a b": name part must consist of'),
    ],
)
def test_from_dict_errors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError) as excinfo:
        LabelSelector.from_dict(selector)
    assert str(excinfo.value).startswith(message)


def test_nil_selector_matches_nothing_but_empty_matches_everything() -> None:
    nothing, everything = LabelSelector.from_dict(None), LabelSelector.from_dict({})
    assert not nothing.matches({})
    assert not nothing.is_empty()
    assert everything.matches({})
    assert everything.is_empty()
    assert not LabelSelector.parse("a").is_empty()


@pytest.mark.parametrize(
    ("spec_selector", "labels", "expected"),
    [
        ({"app": "web"}, {"app": "web", "pod-template-hash": "abc"}, True),
        ({"app": "web"}, {"app": "api"}, False),
        ({"app": "web", "tier": "front"}, {"app": "web"}, False),
        ({}, {"app": "web"}, False),
        (None, {"app": "web"}, False),
        (None, {}, False),
    ],
)
def test_service_selector_treats_empty_as_selecting_nothing(
    spec_selector: dict[str, str] | None, labels: dict[str, str], expected: bool
) -> None:
    assert selector_from_service(spec_selector).matches(labels) is expected


# --- label selector round trip ----------------------------------------------------------------

_ALNUM = "ab09Z"
# Label names: alphanumeric at both ends, "-", "_" and "." allowed inside.
_NAME = st.one_of(
    st.sampled_from(_ALNUM),
    st.builds(
        lambda first, middle, last: first + middle + last,
        st.sampled_from(_ALNUM),
        st.text(alphabet=_ALNUM + "-_.", max_size=4),
        st.sampled_from(_ALNUM),
    ),
)
_DNS_LABEL = st.builds(
    lambda first, rest: first + rest, st.sampled_from("a0z"), st.sampled_from(["", "b", "-x", "9"])
)
_PREFIX = st.lists(_DNS_LABEL, min_size=1, max_size=3).map(".".join)
_KEY = st.one_of(_NAME, st.builds(lambda prefix, name: f"{prefix}/{name}", _PREFIX, _NAME))
_VALUE = st.one_of(st.just(""), _NAME)
_SPACE = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def _requirement_text(draw: st.DrawFn) -> str:
    """One requirement in any spelling the parser accepts, with optional whitespace."""
    key = draw(_KEY)
    space = draw(_SPACE)
    form = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]))
    if form == "exists":
        return f"{space}{key}{space}"
    if form == "!":
        return f"{space}!{space}{key}"
    if form in (">", "<"):
        return f"{key}{space}{form}{space}{draw(st.integers(0, 1000))}"
    if form in ("in", "notin"):
        values = draw(st.lists(_VALUE, min_size=1, max_size=4, unique=True))
        return f"{key} {form}{space}({space}{f'{space},{space}'.join(values)}{space})"
    return f"{key}{space}{form}{space}{draw(_VALUE)}"


# Same examples on every run, and no deadline: CI machines are shared and timing is noise.
_DETERMINISTIC = settings(derandomize=True, deadline=None, database=None)

_SELECTOR_TEXT = st.lists(_requirement_text(), max_size=5).map(",".join)
_LABELS = st.dictionaries(
    st.sampled_from(["a", "b", "x.io/a", "app", "tier"]), st.sampled_from(["", "1", "7", "web"])
)


@_DETERMINISTIC
@given(_SELECTOR_TEXT)
def test_canonical_string_parses_back_to_the_same_selector(text: str) -> None:
    parsed = LabelSelector.parse(text)
    reparsed = LabelSelector.parse(str(parsed))
    assert reparsed == parsed
    assert str(reparsed) == str(parsed)


@_DETERMINISTIC
@given(_SELECTOR_TEXT, _LABELS)
def test_canonical_string_selects_the_same_labels(text: str, labels: dict[str, str]) -> None:
    parsed = LabelSelector.parse(text)
    assert LabelSelector.parse(str(parsed)).matches(labels) == parsed.matches(labels)


@_DETERMINISTIC
@given(st.text(max_size=30))
def test_arbitrary_text_either_parses_or_raises_selector_error(text: str) -> None:
    try:
        parsed = LabelSelector.parse(text)
    except SelectorError:
        return
    assert LabelSelector.parse(str(parsed)) == parsed


# --- field selectors --------------------------------------------------------------------------


def _pod(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
        "status": {"phase": "Running", **status},
    }


@pytest.mark.parametrize(
    ("text", "obj", "expected"),
    [
        ("", _pod(), True),
        ("metadata.name=web-1", _pod(), True),
        ("metadata.name==web-1", _pod(), True),
        ("metadata.name!=web-1", _pod(), False),
        ("metadata.namespace=shop,metadata.name=web-1", _pod(), True),
        # kubectl describe node
        ("spec.nodeName=node-a,status.phase!=Succeeded,status.phase!=Failed", _pod(), True),
        ("spec.nodeName=node-a,status.phase!=Succeeded,status.phase!=Failed", _pod(phase="Failed"), False),
        ("spec.nodeName=node-b", _pod(), False),
        ("spec.host=node-a", _pod(), True),
        ("spec.hostNetwork=false", _pod(), True),
        ("status.podIP=", _pod(), True),
        ("status.podIP=10.1.0.5", _pod(podIP="10.1.0.5"), True),
        ("spec.unschedulable=false", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}, True),
        (
            "spec.unschedulable=true",
            {"kind": "Node", "apiVersion": "v1", "spec": {"unschedulable": True}},
            True,
        ),
        ("status.successful=0", {"apiVersion": "batch/v1", "kind": "Job", "status": {}}, True),
        ("status.successful=3", {"apiVersion": "batch/v1", "kind": "Job", "status": {"succeeded": 3}}, True),
        ("status.replicas=0", {"apiVersion": "apps/v1", "kind": "ReplicaSet", "status": {}}, True),
        ("type=kubernetes.io/tls", {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls"}, True),
        ("data.key=a\\,b\\=c\\\\", {"data": {"key": "a,b=c\\"}}, True),
        ("spec.missing=", {"spec": {}}, True),
    ],
)
def test_field_selector_matching(text: str, obj: dict[str, Any], expected: bool) -> None:
    obj_before = copy.deepcopy(obj)
    assert FieldSelector.parse(text).matches(obj) is expected
    assert obj == obj_before


def _core_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web-1.17a", "namespace": "shop"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "shop",
            "name": "web-1",
            "uid": "u-1",
            "apiVersion": "v1",
        },
        "reason": "Scheduled",
        "type": "Normal",
        "source": {"component": "default-scheduler"},
        "reportingComponent": "default-scheduler",
    }
    event.update(overrides)
    return event


def test_kubectl_describe_event_query_selects_the_object_events() -> None:
    selector = FieldSelector.parse(
        "involvedObject.name=web-1,involvedObject.namespace=shop,involvedObject.uid=u-1"
    )
    check_field_selector(selector, "Event")
    assert selector.matches(_core_event())
    assert not selector.matches(
        _core_event(involvedObject={"name": "web-1", "namespace": "shop", "uid": "u-2"})
    )


def test_event_source_falls_back_to_the_reporting_component() -> None:
    selector = FieldSelector.parse("source=kubelet")
    assert selector.matches(_core_event(source={}, reportingComponent="kubelet"))
    assert not selector.matches(_core_event())


def test_events_k8s_io_selects_on_regarding() -> None:
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e", "namespace": "shop"},
        "regarding": {"kind": "Pod", "name": "web-1"},
        "reportingController": "kubelet",
    }
    selector = FieldSelector.parse("regarding.name=web-1,reportingController=kubelet")
    check_field_selector(selector, "Event", "events.k8s.io")
    assert selector.matches(event)
    with pytest.raises(SelectorError, match=r"field label not supported: involvedObject\.name"):
        check_field_selector(FieldSelector.parse("involvedObject.name=x"), "Event", "events.k8s.io")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("b=1,a=2", "a=2,b=1"),
        ("a==x", "a=x"),
        ("a!=x", "a!=x"),
        ("a=x\\,y", "a=x\\,y"),
        ("a=,b=", "a=,b="),
        (",a=1,", "a=1"),
    ],
)
def test_field_selector_canonical_string(text: str, canonical: str) -> None:
    assert str(FieldSelector.parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=1,b", "invalid selector: 'a=1,b'; can't understand 'b'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=x\\y", "invalid field selector: invalid escape sequence: \\y"),
        ("a=x\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as excinfo:
        FieldSelector.parse(text)
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("kind", "group", "field", "message"),
    [
        ("Pod", "", "spec.foo", "field label not supported: spec.foo"),
        ("Node", "", "metadata.namespace", "field label not supported: metadata.namespace"),
        ("Namespace", "", "spec.finalizers", "field label not supported: spec.finalizers"),
        (
            "Ingress",
            "networking.k8s.io",
            "foo.bar",
            '"foo.bar" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        (
            "Widget",
            "example.com",
            "spec.size",
            '"spec.size" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
    ],
)
def test_unsupported_field_labels_are_rejected(kind: str, group: str, field: str, message: str) -> None:
    with pytest.raises(SelectorError) as excinfo:
        check_field_selector(FieldSelector.parse(f"{field}=x"), kind, group)
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("kind", "group", "fields"),
    [
        (
            "Pod",
            "",
            {"spec.nodeName", "status.phase", "status.podIP", "spec.hostNetwork", "status.nominatedNodeName"},
        ),
        (
            "Event",
            "",
            {"involvedObject.uid", "involvedObject.fieldPath", "reportingComponent", "source", "type"},
        ),
        ("Secret", "", {"type", "metadata.namespace"}),
        ("Service", "", {"spec.clusterIP", "spec.type"}),
        ("Job", "batch", {"status.successful"}),
        ("ReplicaSet", "apps", {"status.replicas"}),
        ("ClusterRole", "rbac.authorization.k8s.io", {"metadata.name", "metadata.namespace"}),
    ],
)
def test_supported_field_selectors(kind: str, group: str, fields: set[str]) -> None:
    supported = supported_field_selectors(kind, group)
    assert fields <= supported
    check_field_selector(FieldSelector.parse(",".join(f"{field}=x" for field in sorted(fields))), kind, group)


def test_requirement_fields() -> None:
    selector = FieldSelector.parse("spec.nodeName=a,status.phase!=Failed,status.phase!=Succeeded")
    assert selector.requirement_fields() == {"spec.nodeName", "status.phase"}


_FIELD_NAME = st.sampled_from(["metadata.name", "spec.nodeName", "status.phase", "type", "a.b.c"])
_FIELD_VALUE = st.text(alphabet="ab-.\\,= /", max_size=8)


@_DETERMINISTIC
@given(st.lists(st.tuples(_FIELD_NAME, st.sampled_from(["=", "==", "!="]), _FIELD_VALUE), max_size=4))
def test_field_selector_round_trips_through_its_canonical_string(terms: list[tuple[str, str, str]]) -> None:
    escaped = (value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=") for _, _, value in terms)
    text = ",".join(
        f"{field}{operator}{value}" for (field, operator, _), value in zip(terms, escaped, strict=True)
    )
    parsed = FieldSelector.parse(text)
    assert {(term.field, term.value, term.negated) for term in parsed.terms} == {
        (field, value, operator == "!=") for field, operator, value in terms
    }
    reparsed = FieldSelector.parse(str(parsed))
    assert reparsed == parsed
    assert str(reparsed) == str(parsed)
