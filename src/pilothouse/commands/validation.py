"""From an API request's ``command_type`` and ``args`` to the argv the policy checks.

Both documents send the verb separately (``command_type``) and their examples disagree on
whether ``args`` repeats it; both forms are accepted:
``{"command_type": "get", "args": ["pods"]}`` and ``{"command_type": "get", "args": ["get",
"pods"]}`` both mean ``kubectl get pods``. A leading argument equal to ``command_type`` is
taken as the verb. A leading argument that is another kubectl verb (and not a resource type,
as ``events`` is) contradicts ``command_type`` and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from pilothouse.auth.principal import Scope
from pilothouse.errors import ValidationFailed
from pilothouse.policy import ParsedCommand, SecurityMode
from pilothouse.policy.commands import ALWAYS_DENIED, RULES
from pilothouse.policy.resources import ResourceCatalog

# The Kubently reference's CommandType enum.
KUBENTLY_COMMAND_TYPES = (
    "get",
    "describe",
    "logs",
    "top",
    "events",
    "version",
    "api-resources",
    "api-versions",
    "explain",
)
# The A2A document adds cluster-info.
A2A_COMMAND_TYPES = ("cluster-info",)
# Every verb the policy knows: allowed in some mode, or denied in all with a reason (which
# the client then gets as COMMAND_FORBIDDEN rather than a bare "unknown command type").
POLICY_VERBS = frozenset(verb for verb, _ in RULES) | frozenset(ALWAYS_DENIED)
COMMAND_TYPES = frozenset(KUBENTLY_COMMAND_TYPES) | frozenset(A2A_COMMAND_TYPES) | POLICY_VERBS

# Verbs that delete or run code need their own scope; every other change needs "write".
_DELETING_VERBS = frozenset({"delete", "drain"})
_EXECUTING_VERBS = frozenset({"exec"})


def args_after_verb(command_type: str, args: Sequence[str], catalog: ResourceCatalog) -> list[str]:
    """The arguments that follow ``command_type``; ValidationFailed for an unknown or
    contradicted command type."""
    if command_type not in COMMAND_TYPES:
        raise ValidationFailed(
            errors=[
                {
                    "field": "command_type",
                    "message": f"unknown command type; use one of {', '.join(sorted(COMMAND_TYPES))}",
                }
            ]
        )
    if args and args[0] == command_type:
        return list(args[1:])
    if args and args[0] in COMMAND_TYPES and catalog.resolve(args[0]) is None:
        raise ValidationFailed(
            errors=[
                {
                    "field": "args",
                    "message": f"args start with the command {args[0]!r} but command_type is "
                    f"{command_type!r}; leave the verb out of args or make them agree",
                }
            ]
        )
    return list(args)


def required_scope(command: ParsedCommand) -> Scope:
    """The API key scope a command needs: reading needs ``read``; changes need ``write``,
    ``delete`` or ``exec``."""
    rule = RULES[(command.verb, command.subverb)]
    if rule.min_mode is not SecurityMode.FULL_ACCESS:
        return Scope.READ
    if command.verb in _DELETING_VERBS:
        return Scope.DELETE
    if command.verb in _EXECUTING_VERBS:
        return Scope.EXEC
    return Scope.WRITE
