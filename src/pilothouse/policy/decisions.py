"""What the kubectl policy answers: a parsed command, or a denial with a code and a precise reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from pilothouse.policy.resources import ResourceRef


class DecisionCode(StrEnum):
    """Machine-readable outcome. The HTTP layer reports every denial as the Kubently API's
    ``COMMAND_FORBIDDEN`` (422) and carries this code in the error details."""

    ALLOWED = "ALLOWED"
    EMPTY_COMMAND = "EMPTY_COMMAND"  # no arguments at all
    TOO_MANY_ARGS = "TOO_MANY_ARGS"  # more arguments than the limit (20 after the verb)
    INVALID_ARGUMENT = "INVALID_ARGUMENT"  # not a string, empty, NUL or control characters, too long
    SHELL_SYNTAX = "SHELL_SYNTAX"  # pipes, redirection, command substitution, separators
    INVALID_SYNTAX = "INVALID_SYNTAX"  # the arguments do not parse unambiguously
    FORBIDDEN_COMMAND = "FORBIDDEN_COMMAND"  # unknown verb, denied verb, or verb above the mode
    FORBIDDEN_FLAG = "FORBIDDEN_FLAG"  # identity, transport, local-file or interactive flag
    UNKNOWN_FLAG = "UNKNOWN_FLAG"  # a flag the command does not accept under the policy
    INVALID_FLAG_VALUE = "INVALID_FLAG_VALUE"  # e.g. a bad boolean, namespace or output format
    FORBIDDEN_OUTPUT = "FORBIDDEN_OUTPUT"  # output format reading local files or escaping redaction
    UNKNOWN_RESOURCE = "UNKNOWN_RESOURCE"  # a type discovery does not know (fail closed)
    FORBIDDEN_RESOURCE = "FORBIDDEN_RESOURCE"  # e.g. Secrets in the read-only modes
    NAMESPACE_CONFLICT = "NAMESPACE_CONFLICT"  # -n disagrees with the request's namespace, or -A


@dataclass(frozen=True)
class ParsedCommand:
    """An allowed command, as the policy understood it.

    ``argv`` is what to execute after ``kubectl``: the checked arguments, plus
    ``--namespace=<namespace>`` when the namespace came from the request rather than the args.
    Run exactly that, never a re-assembled command line.
    """

    verb: str
    subverb: str | None
    resources: tuple[ResourceRef, ...]
    names: tuple[str, ...]
    flags: Mapping[str, str | bool]  # canonical long flag name -> value; list flags comma-joined
    namespace: str | None  # effective namespace; None with -A or when none was given
    all_namespaces: bool
    output: str | None  # effective -o value (go-template when only --template was given)
    # Operands that are neither types nor names: label/annotation/taint/image edits, the verb
    # and non-resource URL of ``auth can-i``, the container of ``logs POD CONTAINER``.
    extra_operands: tuple[str, ...] = ()
    container_command: tuple[str, ...] = ()  # everything after "--" (exec, run, create)
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyDecision:
    allowed: bool
    reason: str
    code: str
    command: ParsedCommand | None = None  # set when allowed


class PolicyError(ValueError):
    """A denied command; ``decision`` says why."""

    def __init__(self, decision: PolicyDecision) -> None:
        super().__init__(f"{decision.code}: {decision.reason}")
        self.decision = decision


def deny(code: DecisionCode, reason: str) -> NoReturn:
    raise PolicyError(PolicyDecision(allowed=False, reason=reason, code=code))
