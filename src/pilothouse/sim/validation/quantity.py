"""Kubernetes quantities (k8s.io/apimachinery/pkg/api/resource): parsing and canonical spelling."""

from __future__ import annotations

import functools
import re
from decimal import ROUND_UP, Decimal, localcontext
from typing import Final

_QUANTITY_FORMAT_ERROR: Final = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_QUANTITY_NUMERIC_ERROR: Final = "unable to parse numeric part of quantity"
_QUANTITY_SUFFIX_ERROR: Final = "unable to parse quantity's suffix"
_QUANTITY_SHAPE: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)")
_DECIMAL_SUFFIXES: Final = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES: Final = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX_BY_EXPONENT: Final = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIX_BY_POWER: Final = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_NANO: Final = Decimal("1e-9")
_DECIMAL_SI, _BINARY_SI, _DECIMAL_EXPONENT = "DecimalSI", "BinarySI", "DecimalExponent"


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity; the message is resource.ParseQuantity's."""


def _parse_quantity_with_format(value: str | int | float) -> tuple[Decimal, str]:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(_QUANTITY_FORMAT_ERROR)
    text = value if isinstance(value, str) else repr(value)
    match = _QUANTITY_SHAPE.fullmatch(text) if text else None
    if match is None:
        raise QuantityError(_QUANTITY_FORMAT_ERROR)
    sign, whole, fraction, suffix = match.groups()
    if suffix in _DECIMAL_SUFFIXES:
        base, exponent, fmt = 10, _DECIMAL_SUFFIXES[suffix], _DECIMAL_SI
    elif suffix in _BINARY_SUFFIXES:
        base, exponent, fmt = 2, _BINARY_SUFFIXES[suffix], _BINARY_SI
    elif len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[-+]?[0-9]+", suffix[1:]):
        base, exponent, fmt = 10, int(suffix[1:]), _DECIMAL_EXPONENT
    else:
        raise QuantityError(_QUANTITY_SUFFIX_ERROR)
    if not whole and not fraction:
        if text.lstrip("+-"):  # a bare sign parses as zero in Go; a suffix alone does not
            raise QuantityError(_QUANTITY_NUMERIC_ERROR)
        return Decimal(0), fmt
    with localcontext() as context:
        context.prec = 100
        amount = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}") * Decimal(base) ** exponent
        # Non-zero values round up (away from zero) to the smallest representable amount.
        amount = amount.quantize(_NANO, rounding=ROUND_UP)
    return amount, fmt


@functools.lru_cache(maxsize=4096)  # a cluster repeats a handful of quantities; Decimals are immutable
def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a Kubernetes quantity ("250m", "1.5Gi", "1e3", 2) into an exact Decimal.

    Raises QuantityError with resource.ParseQuantity's message when it is not one.
    """
    amount = _parse_quantity_with_format(value)[0]
    # Whole amounts come back as plain integers (Decimal("1000"), not Decimal("1E+3")).
    return Decimal(int(amount)) if amount == amount.to_integral_value() else amount.normalize()


def canonical_quantity(value: str | int | float) -> str:
    """Quantity.String(): the canonical spelling the API server prints ("1000m" -> "1")."""
    amount, fmt = _parse_quantity_with_format(value)
    return _format_quantity(amount, fmt)


def _format_quantity(amount: Decimal, fmt: str) -> str:
    if amount == 0:
        return "0"
    if fmt == _BINARY_SI and abs(amount) >= 1024 and amount == amount.to_integral_value():
        number, power = int(amount), 0
        while number % 1024 == 0 and power < len(_BINARY_SUFFIX_BY_POWER) - 1:
            number, power = number // 1024, power + 1
        return f"{number}{_BINARY_SUFFIX_BY_POWER[power]}"
    # Small or fractional binary amounts print as DecimalSI so that nothing is rounded.
    sign, digits, exponent = amount.normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    # The exponent must be a multiple of three: move the remainder into the mantissa.
    mantissa, exponent = mantissa * 10 ** (exponent % 3), exponent - exponent % 3
    if fmt == _DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DECIMAL_SUFFIX_BY_EXPONENT.get(exponent)
    return f"{mantissa}{suffix}" if suffix is not None else f"{mantissa}e{exponent}"
