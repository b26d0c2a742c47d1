"""What log lines say, recognised by pattern: missing environment variables, API-server 403s
naming a ServiceAccount, unreachable dependencies, errors and exceptions.

Patterns are deliberately specific (an upper-case variable name, a ``host:port`` next to
"connection refused"): a false cause is worse than none, since it would outrank the truth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_VAR = r"[A-Z][A-Z0-9_]*[A-Z0-9]"
_MISSING_ENV = (
    re.compile(
        rf"(?i:environment variable|env var(?:iable)?|env)\s+[\"'`]?(?P<var>{_VAR})[\"'`]?\s+"
        r"(?i:is\s+)?(?i:not set|unset|missing|not defined|undefined|required|empty|must be set)"
    ),
    re.compile(
        r"(?i:missing|undefined|unset)\s+(?i:required\s+)?(?i:environment variables?|env(?:"
        r" var(?:iable)?s?)?)"
        rf":?\s+[\"'`]?(?P<var>{_VAR})"
    ),
    re.compile(
        rf"\b(?P<var>{_VAR})\s+(?i:environment variable\s+)?(?i:is not set|must be set|is required|not set)\b"
    ),
    re.compile(rf"KeyError: [\"'](?P<var>{_VAR})[\"']"),
)
_RBAC = re.compile(
    r'User "system:serviceaccount:(?P<sa_namespace>[^:"]+):(?P<sa>[^"]+)" cannot (?P<verb>[a-z]+) '
    r'resource "(?P<resource>[^"]+)"(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<namespace>[^"]+)"| at the cluster scope)?'
)
_HTTP_AUTH = re.compile(r"\b(?:401 Unauthorized|403 Forbidden|status(?:Code)?[=: ]+40[13])\b", re.IGNORECASE)
_UNREACHABLE = re.compile(
    r"connection refused|i/o timeout|timed? ?out|no route to host|no such host|connection reset|"
    r"ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|could not translate host name|name or service not known|"
    r"network is unreachable|host is unreachable",
    re.IGNORECASE,
)
_HOST_PORT = re.compile(
    r"(?<![\w.-])(?P<host>(?:\d{1,3}(?:\.\d{1,3}){3})|(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*))"
    r":(?P<port>\d{2,5})\b"
)
_ERROR = re.compile(
    r"\b(?:error|exception|fatal|panic|traceback|critical|failed)\b|\"level\":\s*\"(?:error|fatal)\"|level=(?:error|fatal)",
    re.IGNORECASE,
)
# The lines that say most about a crash: an exception with its message, an ERROR line.
_INFORMATIVE = re.compile(
    r"^\s*(?:[\w.]+(?:Error|Exception|Failure)\b:?|(?:error|fatal|panic|critical)\b|E\d{4} )"
    r"|\"level\":\s*\"(?:error|fatal)\"|level=(?:error|fatal)",
    re.IGNORECASE,
)
_NOISE = re.compile(
    r"^\s*(?:Traceback \(most recent call last\)|The above exception|During handling of)", re.I
)


@dataclass(frozen=True, slots=True)
class LogMatch:
    """A recognised line: its 0-based index in the tail that was read, and what it says."""

    index: int
    line: str
    detail: dict[str, str] = field(default_factory=dict)


def missing_env(lines: Sequence[str]) -> LogMatch | None:
    """The last line saying a required environment variable is not set, naming the variable."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        for pattern in _MISSING_ENV:
            match = pattern.search(line)
            if match:
                return LogMatch(index, line, {"variable": match["var"]})
    return None


def rbac_denials(lines: Sequence[str]) -> list[LogMatch]:
    """API-server 403s naming the ServiceAccount, verb and resource, first occurrence of each."""
    found: dict[tuple[str, ...], LogMatch] = {}
    for index, line in enumerate(lines):
        match = _RBAC.search(line)
        if match:
            detail = {key: value or "" for key, value in match.groupdict().items()}
            key = tuple(detail.values())
            found.setdefault(key, LogMatch(index, line, detail))
    return list(found.values())


def is_rbac_denial(line: str) -> bool:
    return _RBAC.search(line) is not None


def http_auth_failures(lines: Sequence[str]) -> list[LogMatch]:
    return [LogMatch(index, line) for index, line in enumerate(lines) if _HTTP_AUTH.search(line)]


def unreachable(lines: Sequence[str]) -> list[LogMatch]:
    """Lines saying a ``host:port`` could not be reached; ``detail`` holds every ``hosts`` (space
    separated ``host:port``) named in the line and the ``error``."""
    found = []
    for index, line in enumerate(lines):
        error = _UNREACHABLE.search(line)
        if not error:
            continue
        targets = [f"{m['host']}:{m['port']}" for m in _HOST_PORT.finditer(line)]
        if targets:
            found.append(LogMatch(index, line, {"hosts": " ".join(targets), "error": error.group(0)}))
    return found


def errors(lines: Sequence[str]) -> list[LogMatch]:
    return [LogMatch(index, line) for index, line in enumerate(lines) if _ERROR.search(line)]


def most_informative_error(lines: Sequence[str]) -> LogMatch | None:
    """The line that best says why a process failed: the last exception or ERROR line (not a
    traceback header), else the last line mentioning an error, else None."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line.strip() and _INFORMATIVE.search(line) and not _NOISE.search(line):
            return LogMatch(index, line)
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if _ERROR.search(line) and not _NOISE.search(line):
            return LogMatch(index, line)
    return None


EXIT_CODES = {
    1: "general error",
    2: "misuse (bad arguments)",
    126: "command not executable",
    127: "command not found",
    128 + 6: "aborted (SIGABRT)",
    128 + 9: "killed (SIGKILL)",
    128 + 11: "segmentation fault (SIGSEGV)",
    128 + 15: "terminated (SIGTERM)",
}


def describe_exit(code: int) -> str:
    meaning = EXIT_CODES.get(code)
    return f"exit code {code} ({meaning})" if meaning else f"exit code {code}"
