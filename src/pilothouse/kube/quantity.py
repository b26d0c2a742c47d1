"""Kubernetes resource quantities (``500m``, ``1.5Gi``, ``2e3``) as exact :class:`~decimal.Decimal`.

The grammar is apimachinery's ``resource.Quantity``::

    <quantity>        ::= <sign>? <number> <suffix>
    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent> ::= (e | E) <sign>? <digits>

Parsing is exact (no floats anywhere): a CPU percentage or a summed quota must not drift by a
byte because ``0.1`` has no binary representation. Input comes from clusters we do not control,
so it is checked against the grammar with ASCII-only patterns (``Decimal`` itself would accept
``NaN``, ``Infinity``, underscores and non-ASCII digits) and bounded in length and exponent so
that a hostile ``1e999999999`` cannot make formatting allocate gigabytes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal

# Far beyond any real quantity (the largest suffix is E = 1e18), small enough to stay cheap.
MAX_LENGTH = 64
MAX_EXPONENT = 64
# 64 significant digits times 2**60 (Ei) stays well inside this: every operation here is exact.
_CONTEXT = Context(prec=200)

_PATTERN = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?))"
)

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY_SUFFIX = {power: suffix for suffix, power in _BINARY.items()}
_ONE_TENTH = Decimal("0.1")
_HUNDRED = Decimal(100)


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(text: str | int) -> Decimal:
    """The exact value of a quantity: ``parse_quantity("1.5Gi") == Decimal(1610612736)``."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise QuantityError(f"not a quantity: {text!r}")
    return _parse(str(text))


# A cluster repeats the same few spellings thousands of times (every node's "31900m", every
# container's "100m"); Decimals are immutable, so a parsed value can be handed out again.
@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Decimal:
    if len(text) > MAX_LENGTH:
        raise QuantityError(f"quantity too long ({len(text)} characters)")
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise QuantityError(f"not a quantity: {text!r}")
    number = Decimal(match["number"])
    exponent_text = match["exponent"]
    if exponent_text is not None:
        exponent = int(exponent_text[1:])
        if abs(exponent) > MAX_EXPONENT:
            raise QuantityError(f"quantity exponent out of range: {text!r}")
        return number.scaleb(exponent, _CONTEXT)
    suffix = match["suffix"]
    if suffix in _BINARY:
        return _CONTEXT.multiply(number, _CONTEXT.power(1024, _BINARY[suffix]))
    return number.scaleb(_DECIMAL[suffix], _CONTEXT)


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """The sum without rounding (``sum()`` would round to the default 28 digits)."""
    total = Decimal(0)
    for value in values:
        total = _CONTEXT.add(total, value)
    return total


def is_binary(text: str) -> bool:
    """Whether a quantity is written with a binary suffix (``Ki`` ... ``Ei``)."""
    return text[-2:] in _BINARY


def format_decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros or exponent: ``2.345``, ``8``, ``0.0001``."""
    if value.is_zero():
        return "0"
    return format(value.normalize(_CONTEXT), "f")


def format_integer(value: Decimal) -> str:
    """A whole number, rounded up as ``Quantity.Value()`` does: bytes cannot be fractional."""
    return str(int(value.to_integral_value(rounding=ROUND_CEILING, context=_CONTEXT)))


def format_quantity(value: Decimal, *, binary: bool = False) -> str:
    """The canonical spelling Kubernetes prints: ``1500m``, ``2k``, ``1536``, ``10Gi``.

    As ``Quantity.String()``: binary amounts use the largest ``Ki``..``Ei`` that divides them
    exactly and fall back to the decimal form when none does (or they are under 1024 or
    fractional); decimal amounts use the largest multiple-of-three exponent (``n``..``E``) that
    keeps the mantissa whole, rounding up below nano precision.
    """
    if binary and value == value.to_integral_value() and abs(value) >= 1024:
        mantissa = int(value)
        power = 0
        while power < 6 and mantissa % 1024 == 0:
            mantissa //= 1024
            power += 1
        if power:
            return f"{mantissa}{_BINARY_SUFFIX[power]}"
    if value.is_zero():
        return "0"
    # Below nano precision Kubernetes rounds up (away from zero) to the next nano.
    nanos = value.scaleb(9, _CONTEXT)
    if nanos != nanos.to_integral_value():
        rounding = ROUND_CEILING if value > 0 else ROUND_FLOOR
        nanos = nanos.to_integral_value(rounding=rounding, context=_CONTEXT)
    sign, digits, exponent = nanos.normalize(_CONTEXT).as_tuple()
    assert isinstance(exponent, int)
    # Back from nanos: the value is coefficient * 10**(exponent - 9).
    exponent -= 9
    three = min(18, exponent - exponent % 3)
    coefficient = int("".join(map(str, digits))) * 10 ** (exponent - three)
    return f"{'-' if sign else ''}{coefficient}{_DECIMAL_SUFFIX[three]}"


def percent(part: Decimal, whole: Decimal) -> float | None:
    """``part`` as a percentage of ``whole`` to one decimal (``29.3``); None when whole is 0."""
    if whole <= 0:
        return None
    ratio = _CONTEXT.divide(_CONTEXT.multiply(part, _HUNDRED), whole)
    return float(ratio.quantize(_ONE_TENTH, rounding=ROUND_HALF_UP, context=_CONTEXT))
