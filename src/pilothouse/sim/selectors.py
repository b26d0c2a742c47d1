"""Label and field selectors as the Kubernetes apiserver parses and evaluates them.

Label selectors port ``k8s.io/apimachinery/pkg/labels`` (lexer, parser, validation and
canonical ``String()``); field selectors port ``k8s.io/apimachinery/pkg/fields`` plus the
per-kind field sets of ``pkg/registry/*/strategy.go`` and the field label conversion
functions that decide which field labels a kind accepts. Error messages are the apiserver's,
so clients print what they would print against a real cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Final


class SelectorError(ValueError):
    """A selector the apiserver rejects (it answers 400 BadRequest); the message is the apiserver's."""


# ---------------------------------------------------------------------------------------------
# Label key and value validation (k8s.io/apimachinery/pkg/api/validate/content)

_LABEL_KEY_NAME_FORMAT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_NAME_MESSAGE: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FORMAT: Final = f"({_LABEL_KEY_NAME_FORMAT})?"
_LABEL_VALUE_MESSAGE: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FORMAT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FORMAT: Final = _DNS1123_LABEL_FORMAT + r"(\." + _DNS1123_LABEL_FORMAT + ")*"
_DNS1123_SUBDOMAIN_MESSAGE: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_MAX_LENGTH: Final = 63
_DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253

_LABEL_KEY_NAME_RE: Final = re.compile(_LABEL_KEY_NAME_FORMAT)
_LABEL_VALUE_RE: Final = re.compile(_LABEL_VALUE_FORMAT)
_DNS1123_SUBDOMAIN_RE: Final = re.compile(_DNS1123_SUBDOMAIN_FORMAT)
_INT64_RE: Final = re.compile(r"[+-]?[0-9]+")


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    # Reproduces Go's RegexError, double spaces included.
    quoted = "".join(f"{' or ' if index else ''}'{example}', " for index, example in enumerate(examples))
    return f"{message} (e.g. {quoted}regex used for validation is '{pattern}')"


def _max_length_error(length: int) -> str:
    return f"must be no more than {length} bytes"


def _label_key_errors(key: str) -> list[str]:
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_NAME_MESSAGE, _LABEL_KEY_NAME_FORMAT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend(f"prefix part {message}" for message in _dns1123_subdomain_errors(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif len(name.encode()) > _LABEL_MAX_LENGTH:
        errors.append(f"name part {_max_length_error(_LABEL_MAX_LENGTH)}")
    if not _LABEL_KEY_NAME_RE.fullmatch(name):
        errors.append(
            "name part "
            + _regex_error(_LABEL_KEY_NAME_MESSAGE, _LABEL_KEY_NAME_FORMAT, "MyName", "my.name", "123-abc")
        )
    return errors


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errors: list[str] = []
    if len(value.encode()) > _DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(_max_length_error(_DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MESSAGE, _DNS1123_SUBDOMAIN_FORMAT, "example.com"))
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors: list[str] = []
    if len(value.encode()) > _LABEL_MAX_LENGTH:
        errors.append(_max_length_error(_LABEL_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(_regex_error(_LABEL_VALUE_MESSAGE, _LABEL_VALUE_FORMAT, "MyValue", "my_value", "12345"))
    return errors


def _go_quote(value: str) -> str:
    """Go's %q for the strings selectors carry (printable text)."""
    return json.dumps(value, ensure_ascii=False)


def _invalid(field_path: str, value: str | list[str], detail: str) -> str:
    """The text of a field.Invalid error; an absent path prints as Go's nil *Path."""
    shown = (
        _go_quote(value) if isinstance(value, str) else "[]string{" + ", ".join(map(_go_quote, value)) + "}"
    )
    return f"{field_path}: Invalid value: {shown}: {detail}"


def _aggregate(errors: list[str]) -> str:
    """utilerrors.Aggregate's message: one error alone, several deduplicated in brackets."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _is_int64(text: str) -> bool:
    return bool(_INT64_RE.fullmatch(text)) and -(2**63) <= int(text) < 2**63


# ---------------------------------------------------------------------------------------------
# Label selector requirements


class Operator(StrEnum):
    """selection.Operator values, spelled as in Go."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SET_OPERATORS: Final = frozenset({Operator.IN, Operator.NOT_IN})
_EXACT_OPERATORS: Final = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
_PRESENCE_OPERATORS: Final = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
_NUMERIC_OPERATORS: Final = frozenset({Operator.GREATER_THAN, Operator.LESS_THAN})
_OPERATOR_SYMBOLS: Final = {
    Operator.IN: " in ",
    Operator.NOT_IN: " notin ",
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}


@dataclass(frozen=True)
class Requirement:
    """One ``key <operator> values`` term of a label selector; values are kept sorted and unique."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    @classmethod
    def create(cls, key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
        """Validate like labels.NewRequirement and build the requirement."""
        value_list = list(values)
        errors: list[str] = []
        if key_errors := _label_key_errors(key):
            errors.append(_invalid("key", key, "; ".join(key_errors)))
        if operator in _SET_OPERATORS and not value_list:
            errors.append(
                _invalid("values", value_list, "for 'in', 'notin' operators, values set can't be empty")
            )
        elif operator in _EXACT_OPERATORS and len(value_list) != 1:
            errors.append(
                _invalid("values", value_list, "exact-match compatibility requires one single value")
            )
        elif operator in _PRESENCE_OPERATORS and value_list:
            errors.append(
                _invalid("values", value_list, "values set must be empty for exists and does not exist")
            )
        elif operator in _NUMERIC_OPERATORS:
            if len(value_list) != 1:
                errors.append(
                    _invalid("values", value_list, "for 'Gt', 'Lt' operators, exactly one value is required")
                )
            errors.extend(
                _invalid(f"values[{index}]", value, "for 'Gt', 'Lt' operators, the value must be an integer")
                for index, value in enumerate(value_list)
                if not _is_int64(value)
            )
        for index, value in enumerate(value_list):
            if value_errors := _label_value_errors(value):
                errors.append(_invalid(f"values[{index}][{key}]", value, "; ".join(value_errors)))
        if errors:
            raise SelectorError(_aggregate(errors))
        return cls(key, operator, tuple(sorted(set(value_list))))

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.DOES_NOT_EXIST:
            return not present
        if not present or not _is_int64(labels[self.key]) or len(self.values) != 1:
            return False
        actual, bound = int(labels[self.key]), int(self.values[0])
        return actual > bound if self.operator is Operator.GREATER_THAN else actual < bound

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        values = ",".join(self.values)
        if self.operator in _SET_OPERATORS:
            values = f"({values})"
        return f"{self.key}{_OPERATOR_SYMBOLS[self.operator]}{values}"


# ---------------------------------------------------------------------------------------------
# Label selector string parsing (labels.Parse)


class _Token(Enum):
    END = "end"
    CLOSED_PAR = ")"
    COMMA = ","
    DOES_NOT_EXIST = "!"
    DOUBLE_EQUALS = "=="
    EQUALS = "="
    GREATER_THAN = ">"
    IDENTIFIER = "identifier"
    IN = "in"
    LESS_THAN = "<"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    OPEN_PAR = "("


_LITERAL_TOKENS: Final = {
    token.value: token for token in _Token if token not in (_Token.END, _Token.IDENTIFIER)
}
_SPECIAL_SYMBOLS: Final = frozenset("=!(),><")
_WHITESPACE: Final = frozenset(" \t\r\n")
_DELIMITERS: Final = _SPECIAL_SYMBOLS | _WHITESPACE
_BINARY_OPERATOR_TOKENS: Final = {
    _Token.IN: Operator.IN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
    _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN,
}
_BINARY_OPERATOR_NAMES: Final = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> list[tuple[_Token, str]]:
    # The Go lexer reads bytes and takes NUL for the end of input.
    text = text.split("\0", 1)[0]
    tokens: list[tuple[_Token, str]] = []
    position = 0
    while True:
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        if position == len(text):
            tokens.append((_Token.END, ""))
            return tokens
        start = position
        if text[position] in _SPECIAL_SYMBOLS:
            # Longest run of symbols that is still an operator: "!=" but "!" then "(".
            position += 1
            while position < len(text) and text[start : position + 1] in _LITERAL_TOKENS:
                position += 1
        else:
            while position < len(text) and text[position] not in _DELIMITERS:
                position += 1
        literal = text[start:position]
        tokens.append((_LITERAL_TOKENS.get(literal, _Token.IDENTIFIER), literal))


class _LabelSelectorParser:
    """A port of labels.Parser; "values" context reads the words in/notin as identifiers."""

    def __init__(self, text: str) -> None:
        self._tokens = _lex(text)
        self._position = 0

    def _lookahead(self, as_values: bool = True) -> tuple[_Token, str]:
        token, literal = self._tokens[self._position]
        if as_values and token in (_Token.IN, _Token.NOT_IN):
            token = _Token.IDENTIFIER
        return token, literal

    def _consume(self, as_values: bool = True) -> tuple[_Token, str]:
        item = self._lookahead(as_values)
        self._position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._lookahead()
            if token is _Token.END:
                return requirements
            if token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._parse_requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from exc
            token, literal = self._consume()
            if token is _Token.END:
                return requirements
            if token is not _Token.COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self._lookahead()
            if token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def _parse_requirement(self) -> Requirement:
        key, operator = self._parse_key_and_infer_operator()
        if operator is not None:
            return Requirement.create(key, operator)
        token, literal = self._consume(as_values=False)
        binary = _BINARY_OPERATOR_TOKENS.get(token)
        if binary is None:
            raise SelectorError(f"found '{literal}', expected: {_BINARY_OPERATOR_NAMES}")
        values = self._parse_values() if binary in _SET_OPERATORS else self._parse_exact_value()
        return Requirement.create(key, binary, sorted(values))

    def _parse_key_and_infer_operator(self) -> tuple[str, Operator | None]:
        operator: Operator | None = None
        token, literal = self._consume()
        if token is _Token.DOES_NOT_EXIST:
            operator = Operator.DOES_NOT_EXIST
            token, literal = self._consume()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        if key_errors := _label_key_errors(literal):
            raise SelectorError(_invalid("<nil>", literal, "; ".join(key_errors)))
        if operator is None and self._lookahead()[0] in (_Token.END, _Token.COMMA):
            operator = Operator.EXISTS
        return literal, operator

    def _parse_values(self) -> set[str]:
        token, literal = self._consume()
        if token is not _Token.OPEN_PAR:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._lookahead()
        if token is _Token.CLOSED_PAR:  # "()" selects the empty value
            self._consume()
            return {""}
        if token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._parse_identifier_list()
        if self._consume()[0] is not _Token.CLOSED_PAR:
            raise SelectorError(f"found '{literal}', expected: ')'")
        return values

    def _parse_identifier_list(self) -> set[str]:
        """Comma-separated, possibly empty identifiers: "(a,,b)" and "(,a)" include ""."""
        values: set[str] = set()
        while True:
            token, literal = self._consume()
            if token is _Token.IDENTIFIER:
                values.add(literal)
                following, following_literal = self._lookahead()
                if following is _Token.CLOSED_PAR:
                    return values
                if following is not _Token.COMMA:
                    raise SelectorError(f"found '{following_literal}', expected: ',' or ')'")
            elif token is _Token.COMMA:
                if not values:
                    values.add("")
                following = self._lookahead()[0]
                if following is _Token.CLOSED_PAR:
                    values.add("")
                    return values
                if following is _Token.COMMA:
                    self._consume()
                    values.add("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _parse_exact_value(self) -> set[str]:
        if self._lookahead()[0] in (_Token.END, _Token.COMMA):
            return {""}
        token, literal = self._consume()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return {literal}


# ---------------------------------------------------------------------------------------------
# LabelSelector

_EXPRESSION_OPERATORS: Final = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: the AND of its requirements, kept sorted by key.

    ``matches_nothing`` models labels.Nothing(), what a nil metav1.LabelSelector (or a service
    without a selector) means; it matches no object, not even an unlabelled one.
    """

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse the string form used by ``?labelSelector=`` and ``kubectl -l``."""
        return cls._of(_LabelSelectorParser(text).parse())

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """Convert a metav1.LabelSelector (matchLabels + matchExpressions) like LabelSelectorAsSelector."""
        if selector is None:
            return cls(matches_nothing=True)
        match_labels = selector.get("matchLabels") or {}
        match_expressions = selector.get("matchExpressions") or []
        if not isinstance(match_labels, Mapping) or not isinstance(match_expressions, list):
            raise SelectorError("matchLabels must be a map and matchExpressions a list")
        requirements = [
            Requirement.create(str(key), Operator.EQUALS, [str(value)]) for key, value in match_labels.items()
        ]
        for expression in match_expressions:
            if not isinstance(expression, Mapping):
                raise SelectorError("each matchExpressions entry must be an object")
            operator_name = expression.get("operator", "")
            operator = _EXPRESSION_OPERATORS.get(operator_name)
            if operator is None:
                raise SelectorError(f"{_go_quote(str(operator_name))} is not a valid label selector operator")
            values = [str(value) for value in expression.get("values") or []]
            requirements.append(Requirement.create(str(expression.get("key", "")), operator, values))
        return cls._of(requirements)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> LabelSelector:
        """Equality requirements for a plain label map, unvalidated (SelectorFromValidatedSet).

        An empty or missing map selects everything, as in apimachinery.
        """
        return cls._of(Requirement(key, Operator.EQUALS, (value,)) for key, value in (labels or {}).items())

    @classmethod
    def _of(cls, requirements: Iterable[Requirement]) -> LabelSelector:
        # Stable sort by key, as labels.Parse and Selector.Add sort for a deterministic String().
        return cls(tuple(sorted(requirements, key=lambda requirement: requirement.key)))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def is_empty(self) -> bool:
        """True when the selector does not restrict anything (labels.Everything())."""
        return not self.matches_nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def selector_from_service(spec_selector: Mapping[str, str] | None) -> LabelSelector:
    """The pods a Service targets.

    The endpoints controllers skip services whose selector is missing or empty: they get no
    managed endpoints. So an empty selector here matches *nothing*, unlike an empty
    metav1.LabelSelector (which matches everything).
    """
    if not spec_selector:
        return LabelSelector(matches_nothing=True)
    return LabelSelector.from_labels(spec_selector)


# ---------------------------------------------------------------------------------------------
# Field selectors (fields.ParseSelector)


@dataclass(frozen=True)
class FieldTerm:
    """One ``field=value`` or ``field!=value`` term of a field selector."""

    field: str
    value: str
    negated: bool = False

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{_escape_field_value(self.value)}"


_FIELD_OPERATORS: Final = ("!=", "==", "=")  # "==" before "=", so "a==b" does not keep a leading "="


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(text: str) -> str:
    unescaped: list[str] = []
    escaping = False
    for char in text:
        if escaping:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            unescaped.append(char)
            escaping = False
        elif char == "\\":
            escaping = True
        elif char in ",=":
            # Go prints the rune with %v, i.e. as its code point.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            unescaped.append(char)
    if escaping:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(unescaped)


def _split_field_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped, keeping escapes for later."""
    terms: list[str] = []
    start = 0
    escaping = False
    for index, char in enumerate(text):
        if escaping:
            escaping = False
        elif char == "\\":
            escaping = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_field_term(term: str) -> tuple[str, str, str] | None:
    """(field, operator, raw value) at the first operator; fields cannot escape operators."""
    for index in range(len(term)):
        for operator in _FIELD_OPERATORS:
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: the AND of its terms."""

    terms: tuple[FieldTerm, ...] = ()

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        terms: list[FieldTerm] = []
        for part in _split_field_terms(text) if text else []:
            if not part:
                continue
            split = _split_field_term(part)
            if split is None:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
            field, operator, raw_value = split
            terms.append(FieldTerm(field, _unescape_field_value(raw_value), negated=operator == "!="))
        # Go sorts the raw terms; sorting the canonical spelling instead keeps str() idempotent.
        return cls(tuple(sorted(terms, key=str)))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Evaluate against an object carrying ``kind`` and ``apiVersion``, as stored objects do.

        Known kinds resolve each field like their registry's GetAttrs (e.g. Pod
        ``spec.hostNetwork`` is "false" when unset, Job ``status.successful`` reads
        ``status.succeeded``); other fields resolve their dotted path, "" when absent.
        """
        group = _group_of(obj)
        kind = str(obj.get("kind", ""))
        return all(
            (_field_value(obj, term.field, kind, group) == term.value) != term.negated for term in self.terms
        )

    def requirement_fields(self) -> set[str]:
        return {term.field for term in self.terms}

    def __str__(self) -> str:
        return ",".join(str(term) for term in self.terms)


# ---------------------------------------------------------------------------------------------
# Which fields each kind can select on, and where their values come from


@dataclass(frozen=True)
class _SelectableField:
    # JSON paths tried in order; the first one holding a non-empty value wins.
    paths: tuple[tuple[str, ...], ...]
    # How GetAttrs renders the Go zero value when the field is absent ("false", "0").
    default: str = ""


def _at(*dotted_paths: str, default: str = "") -> _SelectableField:
    return _SelectableField(tuple(tuple(path.split(".")) for path in dotted_paths), default)


_NAME: Final = {"metadata.name": _at("metadata.name")}
_NAME_AND_NAMESPACE: Final = {**_NAME, "metadata.namespace": _at("metadata.namespace")}
_INVOLVED_OBJECT_FIELDS: Final = (
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
)

# Kinds whose registry declares its own field label conversion, keyed by (group, kind).
# Everything else accepts only metadata.name and metadata.namespace (even cluster-scoped
# kinds; their namespace is simply "").
_KIND_SELECTABLE_FIELDS: Final[Mapping[tuple[str, str], Mapping[str, _SelectableField]]] = {
    ("", "Pod"): {
        **_NAME_AND_NAMESPACE,
        "spec.nodeName": _at("spec.nodeName"),
        "spec.host": _at("spec.nodeName"),  # accepted from old clients, converted to spec.nodeName
        "spec.restartPolicy": _at("spec.restartPolicy"),
        "spec.schedulerName": _at("spec.schedulerName"),
        "spec.serviceAccountName": _at("spec.serviceAccountName"),
        "spec.hostNetwork": _at("spec.hostNetwork", default="false"),
        "status.phase": _at("status.phase"),
        "status.podIP": _at("status.podIP"),
        "status.nominatedNodeName": _at("status.nominatedNodeName"),
    },
    ("", "Node"): {**_NAME, "spec.unschedulable": _at("spec.unschedulable", default="false")},
    ("", "Namespace"): {**_NAME, "status.phase": _at("status.phase")},
    ("", "Secret"): {**_NAME_AND_NAMESPACE, "type": _at("type")},
    ("", "Service"): {
        **_NAME_AND_NAMESPACE,
        "spec.clusterIP": _at("spec.clusterIP"),
        "spec.type": _at("spec.type"),
    },
    ("", "ReplicationController"): {
        **_NAME_AND_NAMESPACE,
        "status.replicas": _at("status.replicas", default="0"),
    },
    ("", "Event"): {
        **_NAME_AND_NAMESPACE,
        **{f"involvedObject.{field}": _at(f"involvedObject.{field}") for field in _INVOLVED_OBJECT_FIELDS},
        "reason": _at("reason"),
        "reportingComponent": _at("reportingComponent"),
        "source": _at("source.component", "reportingComponent"),
        "type": _at("type"),
    },
    ("events.k8s.io", "Event"): {
        **_NAME_AND_NAMESPACE,
        **{f"regarding.{field}": _at(f"regarding.{field}") for field in _INVOLVED_OBJECT_FIELDS},
        "reason": _at("reason"),
        "reportingController": _at("reportingController"),
        "type": _at("type"),
    },
    ("apps", "ReplicaSet"): {**_NAME_AND_NAMESPACE, "status.replicas": _at("status.replicas", default="0")},
    ("batch", "Job"): {**_NAME_AND_NAMESPACE, "status.successful": _at("status.succeeded", default="0")},
    ("certificates.k8s.io", "CertificateSigningRequest"): {
        **_NAME,
        "spec.signerName": _at("spec.signerName"),
    },
}


def supported_field_selectors(kind: str, group: str = "") -> frozenset[str]:
    """The field labels the apiserver accepts in ``fieldSelector`` for this kind."""
    return frozenset(_KIND_SELECTABLE_FIELDS.get((group, kind), _NAME_AND_NAMESPACE))


def check_field_selector(selector: FieldSelector, kind: str, group: str = "") -> None:
    """Reject field labels the kind does not support, with the apiserver's message."""
    custom = (group, kind) in _KIND_SELECTABLE_FIELDS
    supported = supported_field_selectors(kind, group)
    for term in selector.terms:
        if term.field in supported:
            continue
        if custom:
            raise SelectorError(f"field label not supported: {term.field}")
        # runtime.DefaultMetaV1FieldSelectorConversion words it differently.
        only = '"metadata.name", "metadata.namespace"'
        raise SelectorError(f"{_go_quote(term.field)} is not a known field selector: only {only}")


def _group_of(obj: Mapping[str, Any]) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _field_value(obj: Mapping[str, Any], field: str, kind: str, group: str) -> str:
    source = _KIND_SELECTABLE_FIELDS.get((group, kind), {}).get(field) or _at(field)
    for path in source.paths:
        if rendered := _render(_lookup(obj, path)):
            return rendered
    return source.default


def _lookup(obj: Any, path: tuple[str, ...]) -> Any:
    for segment in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(segment)
    return obj


def _render(value: Any) -> str:
    """Field values as Go formats them into a fields.Set."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return ""
