"""Kubernetes quantities: exact parsing, canonical spelling, hostile input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.kube.quantity import (
    MAX_EXPONENT,
    QuantityError,
    exact_sum,
    format_decimal,
    format_integer,
    format_quantity,
    is_binary,
    parse_quantity,
    percent,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", "0"),
        ("1", "1"),
        ("8", "8"),
        ("100m", "0.1"),
        ("3900m", "3.9"),
        ("1500m", "1.5"),
        ("2345000000n", "2.345"),
        ("250u", "0.00025"),
        ("1k", "1000"),
        ("1M", "1000000"),
        ("2G", "2000000000"),
        ("1T", "1000000000000"),
        ("1P", "1000000000000000"),
        ("1E", "1000000000000000000"),
        ("1Ki", "1024"),
        ("64Mi", "67108864"),
        ("1.5Gi", "1610612736"),
        ("16Gi", "17179869184"),
        ("1Ti", "1099511627776"),
        ("1Pi", str(2**50)),
        ("1Ei", str(2**60)),
        ("16410636Ki", str(16410636 * 1024)),
        ("1e3", "1000"),
        ("1E3", "1000"),
        ("1.5e3", "1500"),
        ("5e-3", "0.005"),
        ("2E+2", "200"),
        (".5", "0.5"),
        ("5.", "5"),
        ("+1", "1"),
        ("-1m", "-0.001"),
        ("0.1", "0.1"),
        # More digits than a float holds: still exact.
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    ],
)
def test_parses_exactly(text: str, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


def test_accepts_json_integers() -> None:
    assert parse_quantity(4) == Decimal(4)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        " 1",
        "1 ",
        "1 Gi",
        ".",
        "+",
        "-",
        "m",
        "Gi",
        "1gi",
        "1GI",
        "1KiB",
        "1Kb",
        "1K",  # decimal kilo is lowercase
        "1mi",
        "1.2.3",
        "1..2",
        "1e",
        "1e+",
        "1e1.5",
        "1Ki1",
        "--1",
        "+-1",
        "0x10",
        "1_000",
        "NaN",
        "nan",
        "Infinity",
        "inf",
        "-Infinity",
        "\u0661\u0662",  # Arabic-Indic digits: Decimal would take them, Kubernetes does not
        "\uff11",  # fullwidth digit
        "1\n",
        "1\x00",
        "1e999999999",
        f"1e{MAX_EXPONENT + 1}",
        f"1e-{MAX_EXPONENT + 1}",
        "9" * 65,
    ],
)
def test_rejects_what_kubernetes_rejects(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize("value", [None, 1.5, True, b"1", [1], {"a": 1}])
def test_rejects_non_strings(value: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(value)  # type: ignore[arg-type]


def test_exponent_bounds_are_inclusive() -> None:
    assert parse_quantity(f"1e{MAX_EXPONENT}") == Decimal(10) ** MAX_EXPONENT
    assert parse_quantity(f"1e-{MAX_EXPONENT}") == Decimal(1).scaleb(-MAX_EXPONENT)


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [
        ("0", False, "0"),
        ("0", True, "0"),
        ("1", False, "1"),
        ("1000", False, "1k"),
        ("1500", False, "1500"),
        ("1500000", False, "1500k"),
        ("0.1", False, "100m"),
        ("1.5", False, "1500m"),
        ("0.0001", False, "100u"),
        ("0.000000001", False, "1n"),
        # Below a nano Kubernetes rounds up.
        ("0.0000000001", False, "1n"),
        ("-0.0000000001", False, "-1n"),
        ("1e18", False, "1E"),
        ("1e21", False, "1000E"),
        ("-1500", False, "-1500"),
        ("1024", True, "1Ki"),
        ("1536", True, "1536"),
        ("1610612736", True, "1536Mi"),
        ("17179869184", True, "16Gi"),
        (str(2**60), True, "1Ei"),
        (str(2**70), True, "1024Ei"),
        # Under 1024 or fractional: binary falls back to decimal, as Quantity.String() does.
        ("512", True, "512"),
        ("0.5", True, "500m"),
        ("2048.5", True, "2048500m"),
    ],
)
def test_formats_canonically(value: str, binary: bool, text: str) -> None:
    assert format_quantity(Decimal(value), binary=binary) == text


@given(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from(["n", "u", "m", "", "k", "M", "G", "Ki", "Mi", "Gi", "Ti"]),
)
def test_canonical_form_parses_back_to_the_same_value(number: int, suffix: str) -> None:
    value = parse_quantity(f"{number}{suffix}")
    assert parse_quantity(format_quantity(value, binary=is_binary(f"1{suffix}"))) == value


def test_plain_and_integer_output() -> None:
    assert format_decimal(parse_quantity("2345m")) == "2.345"
    assert format_decimal(parse_quantity("8")) == "8"
    assert format_decimal(parse_quantity("1k")) == "1000"
    assert format_decimal(parse_quantity("100n")) == "0.0000001"
    assert format_decimal(Decimal("-0")) == "0"
    assert format_integer(parse_quantity("64Mi")) == "67108864"
    # Bytes cannot be fractional: rounded up, as Quantity.Value() does.
    assert format_integer(parse_quantity("1500m")) == "2"


def test_is_binary() -> None:
    assert is_binary("64Mi")
    assert not is_binary("64M")
    assert not is_binary("1e3")


def test_percent_to_one_decimal() -> None:
    assert percent(Decimal("2.345"), Decimal(8)) == 29.3
    assert percent(Decimal("0.125"), Decimal("0.1")) == 125.0
    # 15.625 rounds half up.
    assert percent(parse_quantity("40Mi"), parse_quantity("256Mi")) == 15.6
    assert percent(Decimal(1), Decimal(0)) is None
    assert percent(Decimal(1), Decimal(-1)) is None


def test_exact_sum_does_not_round() -> None:
    values = [parse_quantity("1Ei"), parse_quantity("1e-12")]
    assert exact_sum(values) == Decimal("1152921504606846976.000000000001")
    assert sum(values) != exact_sum(values)  # the default 28-digit context loses the tail
