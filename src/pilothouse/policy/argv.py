"""Splitting a command's arguments into flags, operands and a container command, as pflag does.

Only flags the command's rule knows are accepted; denied flags are reported with their reason
whatever the spelling. Where kubectl would accept something this parser finds ambiguous, such as
a repeated single-valued flag or a flag value that itself looks like a flag, it denies.
Denial reasons name flags but never echo their values, which may be credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pilothouse.policy.commands import CommandRule
from pilothouse.policy.decisions import DecisionCode, deny
from pilothouse.policy.flags import (
    DENIED_SHORTHANDS,
    FlagSpec,
    ValueKind,
    denial_reason,
    parse_bool,
)

END_OF_FLAGS = "--"


@dataclass(frozen=True)
class SplitArguments:
    flags: dict[str, str | bool]
    operands: tuple[str, ...]
    container_command: tuple[str, ...] | None  # None when there is no "--"


def split_arguments(tokens: Sequence[str], rule: CommandRule, command: str) -> SplitArguments:
    """Split the arguments that follow the verb (and subcommand) of ``command``."""
    return _FlagReader(tokens, rule, command).read()


class _FlagReader:
    def __init__(self, tokens: Sequence[str], rule: CommandRule, command: str) -> None:
        self._tokens = tokens
        self._rule = rule
        self._command = command
        self._flags: dict[str, str | bool] = {}

    def read(self) -> SplitArguments:
        operands: list[str] = []
        index = 0
        while index < len(self._tokens):
            argument = self._tokens[index]
            if argument == END_OF_FLAGS:
                tail = tuple(self._tokens[index + 1 :])
                return SplitArguments(self._flags, tuple(operands), tail)
            if argument.startswith("--"):
                index = self._long_flag(index)
            elif argument.startswith("-") and argument != "-":
                index = self._short_flags(index)
            else:
                operands.append(argument)
                index += 1
        return SplitArguments(self._flags, tuple(operands), None)

    def _long_flag(self, index: int) -> int:
        written, has_value, value = self._tokens[index][2:].partition("=")
        # kubectl normalises underscores to dashes: --all_namespaces is --all-namespaces.
        spec = self._lookup_long(written.replace("_", "-"), f"--{written}")
        if spec.kind is ValueKind.BOOL:
            self._record_bool(spec, value if has_value else None, f"--{written}")
            return index + 1
        if has_value:
            self._record(spec, value)
            return index + 1
        return self._take_next(index, spec, f"--{written}")

    def _short_flags(self, index: int) -> int:
        letters = self._tokens[index][1:]
        for position, letter in enumerate(letters):
            spec = self._lookup_short(letter)
            rest = letters[position + 1 :]
            if spec.kind is ValueKind.BOOL:
                if rest.startswith("="):  # -A=false
                    self._record_bool(spec, rest[1:], f"-{letter}")
                    return index + 1
                self._record_bool(spec, None, f"-{letter}")
                continue  # -Ap: a cluster of boolean shorthands
            if rest:  # -ndefault and -n=default
                self._record(spec, rest.removeprefix("="))
                return index + 1
            return self._take_next(index, spec, f"-{letter}")
        return index + 1

    def _lookup_long(self, name: str, written: str) -> FlagSpec:
        spec = self._rule.long_flags.get(name)
        if spec is not None:
            return spec
        reason = denial_reason(name)
        if reason is not None:
            deny(DecisionCode.FORBIDDEN_FLAG, f"{written} is not allowed: {reason}")
        deny(DecisionCode.UNKNOWN_FLAG, f"{written} is not a flag that {self._command} accepts")

    def _lookup_short(self, letter: str) -> FlagSpec:
        spec = self._rule.short_flags.get(letter)
        if spec is not None:
            return spec
        denied_name = DENIED_SHORTHANDS.get(letter)
        if denied_name is not None:
            reason = denial_reason(denied_name)
            deny(DecisionCode.FORBIDDEN_FLAG, f"-{letter} (--{denied_name}) is not allowed: {reason}")
        deny(DecisionCode.UNKNOWN_FLAG, f"-{letter} is not a flag that {self._command} accepts")

    def _take_next(self, index: int, spec: FlagSpec, written: str) -> int:
        if index + 1 >= len(self._tokens):
            deny(DecisionCode.INVALID_SYNTAX, f"{written} needs a value")
        value = self._tokens[index + 1]
        if value.startswith("-"):
            # pflag would take it as the value; far more likely the caller forgot one.
            deny(
                DecisionCode.INVALID_SYNTAX,
                f"{written} is followed by another flag instead of a value; "
                f"write {written}=VALUE if the value really starts with '-'",
            )
        self._record(spec, value)
        return index + 2

    def _record_bool(self, spec: FlagSpec, text: str | None, written: str) -> None:
        value = True if text is None else parse_bool(text)
        if value is None:
            deny(DecisionCode.INVALID_FLAG_VALUE, f"{written} takes true or false")
        self._store(spec, value)

    def _record(self, spec: FlagSpec, value: str) -> None:
        if spec.choices is not None and value not in spec.choices:
            allowed = ", ".join(sorted(spec.choices))
            deny(DecisionCode.INVALID_FLAG_VALUE, f"--{spec.name} must be one of: {allowed}")
        if spec.kind is ValueKind.LIST and spec.name in self._flags:
            self._flags[spec.name] = f"{self._flags[spec.name]},{value}"
            return
        self._store(spec, value)

    def _store(self, spec: FlagSpec, value: str | bool) -> None:
        if spec.name in self._flags:
            deny(DecisionCode.INVALID_SYNTAX, f"--{spec.name} is given more than once")
        self._flags[spec.name] = value
