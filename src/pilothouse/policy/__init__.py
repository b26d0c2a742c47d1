"""Command policy and output redaction shared by the server and the in-cluster executor."""

from pilothouse.policy.builtin_resources import builtin_catalog, builtin_resources
from pilothouse.policy.decisions import DecisionCode, ParsedCommand, PolicyDecision, PolicyError
from pilothouse.policy.kubectl import NO_SHELL_MESSAGE, CommandPolicy
from pilothouse.policy.modes import DEFAULT_SECURITY_MODE, SecurityMode
from pilothouse.policy.redaction import REDACTED, redact
from pilothouse.policy.resources import ResourceCatalog, ResourceRef, StaticResourceCatalog

__all__ = [
    "DEFAULT_SECURITY_MODE",
    "NO_SHELL_MESSAGE",
    "REDACTED",
    "CommandPolicy",
    "DecisionCode",
    "ParsedCommand",
    "PolicyDecision",
    "PolicyError",
    "ResourceCatalog",
    "ResourceRef",
    "SecurityMode",
    "StaticResourceCatalog",
    "builtin_catalog",
    "builtin_resources",
    "redact",
]
