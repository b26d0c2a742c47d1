"""Scrubbing credentials out of command output before it is stored or returned.

``redact(text)`` replaces with ``<redacted>`` (the ``REDACTED`` marker):

* the values of ``data`` and ``stringData`` in Secret objects, in kubectl's YAML and JSON output
  (one object, a ``List``, several YAML documents, or output cut off part-way) and in one-line
  JSON such as the ``last-applied-configuration`` annotation; the keys stay visible, so the
  reader still learns which keys a Secret has, and values are written as ``"<redacted>"`` where
  the original was a JSON string so JSON stays valid;
* PEM private key blocks, keeping their BEGIN and END lines;
* kubeconfig and token-endpoint credentials as YAML or JSON fields: token, id-token,
  refresh-token, access-token, password, client-secret, client-key-data,
  client-certificate-data (dash, underscore or camelCase, any case), as in
  ``kubectl describe secret`` of a service-account token;
* ``Authorization:`` header values, ``Bearer <token>`` anywhere, and JWTs anywhere.

Everything else is left byte-for-byte as it was: pod tables, events, ordinary logs, ConfigMaps.
The one exception fails closed: an object cut off after its ``data`` but before its ``kind``
(kubectl prints keys in that order) may be a Secret, so its values are redacted whatever it is.
Redact complete output before truncating it where possible.

Every pattern is linear: possessive quantifiers, bounded repetitions, and look-behinds that stop
a match from restarting inside a run of the same characters. Private key blocks are found with
plain searches (an unterminated block is redacted to the end of the text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

REDACTED = "<redacted>"

# --- Secret objects -----------------------------------------------------------------------------

# Keys as they appear in YAML (kind: Secret) and in kubectl's indented JSON ("kind": "Secret",).
_VALUE_MAP_LINE = re.compile(r"""^[ \t]*+(?:-[ \t]++)?["']?(?:data|stringData)["']?[ \t]*+:""", re.MULTILINE)
_KIND_KEY = re.compile(r"""["']?kind["']?[ \t]*+:[ \t]*+["']?([A-Za-z0-9]*+)["']?[ \t]*+,?(?:[ \t]*+#.*)?""")
_API_VERSION_KEY = re.compile(r"""["']?apiVersion["']?[ \t]*+:""")
_VALUE_MAP_KEY = re.compile(r"""["']?(?:data|stringData)["']?[ \t]*+:(?:[ \t]|$)""")
# Inline values after `data:` that open or close a block rather than hold values.
_STRUCTURAL_INLINE = frozenset({"", "{", "{}", "null", "~"})
_DOCUMENT_MARKERS = frozenset({"---", "..."})
_INTERESTING_KEY_PREFIXES = ("kind", "data", "stringData", "apiVersion", '"', "'")

# One-line JSON holding a Secret with values, possibly escaped inside another JSON string.
# The look-behinds enter a run of backslashes only at its start, which keeps the scan linear.
_COMPACT_SECRET_KIND = re.compile(r'(?<!\\)\\*+"kind\\*+"[ \t]*+:[ \t]*+\\*+"Secret\\*+"')
_COMPACT_VALUE_MAP = re.compile(r'(?<!\\)\\*+"(?:data|stringData)\\*+"[ \t]*+:[ \t]*+\{')
_COMPACT_ANY_KIND = re.compile(r'(?<!\\)\\*+"kind\\*+"[ \t]*+:[ \t]*+\\*+"[A-Za-z0-9]++\\*+"')
_VALUE_MAP_KEYS = ("data", "stringData")


@dataclass(slots=True)
class _Mapping:
    """A YAML mapping (or indented JSON object) whose keys start at column ``indent``."""

    indent: int
    kind: str | None = None  # None until a kind key is read
    is_object: bool = False  # has an apiVersion key: a Kubernetes object
    value_blocks: list[tuple[int, int]] = field(default_factory=list)  # [key line, end line)
    open_block: int | None = None  # key line of a data/stringData block still being read


class _SecretBlockRedactor:
    """One pass over the lines, tracking nested mappings by indentation.

    kubectl sorts keys, so ``data`` comes before ``kind``: the value blocks of a mapping are
    remembered and redacted when the mapping ends, once its kind is known. An object still open
    at the end of the text without a kind may be a Secret whose output was cut off after
    ``data``; it is redacted too.
    """

    def __init__(self, text: str) -> None:
        self._lines = text.split("\n")
        self._edits: dict[int, str | None] = {}  # line index -> replacement (None drops the line)
        self._stack: list[_Mapping] = []

    def run(self) -> str:
        for index, line in enumerate(self._lines):
            self._read(index, line)
        self._end_all(len(self._lines), cut_off=True)
        kept = (self._edits.get(index, line) for index, line in enumerate(self._lines))
        return "\n".join(line for line in kept if line is not None)

    def _read(self, index: int, line: str) -> None:
        content = line.strip()
        if not content or content[0] == "#":
            return
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0 and content[0] in "-." and content.split(" ", 1)[0] in _DOCUMENT_MARKERS:
            self._end_all(index)
            return
        stack = self._stack
        while stack and stack[-1].indent > indent:
            self._end(stack.pop(), index)
        if content[0] == "-" and (len(content) == 1 or content[1] == " "):
            key_text = content[1:].lstrip(" ")
            mapping = _Mapping(indent + len(content) - len(key_text))  # a new list item
            stack.append(mapping)
        elif stack and stack[-1].indent == indent:
            key_text, mapping = content, stack[-1]
            self._close_block(mapping, index)
        else:
            key_text, mapping = content, _Mapping(indent)
            stack.append(mapping)
        if not key_text.startswith(_INTERESTING_KEY_PREFIXES):  # cheap test before the patterns
            return
        if kind := _KIND_KEY.fullmatch(key_text):
            mapping.kind = kind.group(1)
        elif _VALUE_MAP_KEY.match(key_text):
            mapping.open_block = index
        elif _API_VERSION_KEY.match(key_text):
            mapping.is_object = True

    def _close_block(self, mapping: _Mapping, end: int) -> None:
        if mapping.open_block is not None:
            mapping.value_blocks.append((mapping.open_block, end))
            mapping.open_block = None

    def _end(self, mapping: _Mapping, end: int, *, cut_off: bool = False) -> None:
        self._close_block(mapping, end)
        # Cut off before the kind, or in the middle of it ("kind: Sec").
        maybe_cut_off_secret = cut_off and mapping.is_object and "Secret".startswith(mapping.kind or "")
        if mapping.kind == "Secret" or maybe_cut_off_secret:
            for start, stop in mapping.value_blocks:
                self._redact_block(start, stop)

    def _end_all(self, end: int, *, cut_off: bool = False) -> None:
        while self._stack:
            self._end(self._stack.pop(), end, cut_off=cut_off)

    def _redact_block(self, start: int, stop: int) -> None:
        key_line = self._lines[start]
        colon = key_line.index(":")
        inline = key_line[colon + 1 :].strip()
        if inline.rstrip(",") not in _STRUCTURAL_INLINE:  # a flow map such as {password: abc}
            self._edits[start] = f"{key_line[: colon + 1]} {REDACTED}{',' if inline.endswith(',') else ''}"
        entry_indent: int | None = None
        for index in range(start + 1, stop):
            line = self._lines[index]
            content = line.strip()
            if not content or content.startswith("#"):
                continue
            indent = len(line) - len(line.lstrip(" "))
            entry_indent = indent if entry_indent is None else entry_indent
            # Deeper lines continue a multi-line value (a block scalar); they are values too.
            self._edits[index] = _redacted_entry(line) if indent <= entry_indent else None


def _redacted_entry(line: str) -> str:
    """``  key: value`` -> ``  key: <redacted>``; ``"key": "value",`` -> ``"key": "<redacted>",``."""
    colon = line.find(":")
    if colon < 0:  # not a key: value line, so all of it is value
        return f"{line[: len(line) - len(line.lstrip(' '))]}{REDACTED}"
    value = line[colon + 1 :].strip()
    if value.startswith('"'):  # a JSON string, or a double-quoted YAML one
        return f'{line[: colon + 1]} "{REDACTED}"{"," if value.endswith(",") else ""}'
    return f"{line[: colon + 1]} {REDACTED}"


def _redact_json_value(value: object) -> tuple[object, bool]:
    """A copy of parsed JSON with Secret values replaced, and whether anything changed."""
    if isinstance(value, list):
        results = [_redact_json_value(item) for item in value]
        return [item for item, _ in results], any(changed for _, changed in results)
    if not isinstance(value, dict):
        return value, False
    is_secret = value.get("kind") == "Secret"
    redacted: dict[str, object] = {}
    any_change = False
    for key, item in value.items():
        if is_secret and key in _VALUE_MAP_KEYS and isinstance(item, dict):
            redacted[key] = dict.fromkeys(item, REDACTED)
            changed = any(entry != REDACTED for entry in item.values())
        elif isinstance(item, str):
            redacted[key] = _redact_compact_json_line(item)
            changed = redacted[key] != item
        else:
            redacted[key], changed = _redact_json_value(item)
        any_change = any_change or changed
    return redacted, any_change


def _redact_compact_json_line(line: str) -> str:
    """Redact a Secret written as JSON on one line; if it cannot be parsed, redact all of it."""
    if not (_COMPACT_SECRET_KIND.search(line) and _COMPACT_VALUE_MAP.search(line)):
        return line
    first, last = line.find("{"), line.rfind("}")
    if first < 0:
        return line
    if last < first:  # cut off part-way
        return f"{line[:first]}{REDACTED}"
    try:
        redacted, changed = _redact_json_value(json.loads(line[first : last + 1]))
    except (ValueError, RecursionError):  # escaped inside another string, cut off, or too deep
        return f"{line[:first]}{REDACTED}{line[last + 1 :]}"
    if not changed:
        return line
    compact = json.dumps(redacted, separators=(",", ":"), ensure_ascii=False)
    return f"{line[:first]}{compact}{line[last + 1 :]}"


def _redact_compact_secret_lines(text: str) -> str:
    """Apply ``_redact_compact_json_line`` to every line holding a one-line Secret."""
    pieces: list[str] = []
    position = 0
    for match in _COMPACT_SECRET_KIND.finditer(text):
        if match.start() < position:  # on a line already handled
            continue
        newline_before = text.rfind("\n", position, match.start())
        line_start = position if newline_before < 0 else newline_before + 1
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end < 0 else line_end
        pieces += [text[position:line_start], _redact_compact_json_line(text[line_start:line_end])]
        position = line_end
    pieces.append(text[position:])
    return "".join(pieces)


def _redact_cut_off_compact_json(text: str) -> str:
    """Output cut off inside one-line JSON, before its kind: the values may be a Secret's."""
    head, newline, last_line = text.rpartition("\n")
    if _COMPACT_VALUE_MAP.search(last_line) and not _COMPACT_ANY_KIND.search(last_line):
        first = last_line.find("{")
        return f"{head}{newline}{last_line[:first]}{REDACTED}"
    return text


def _redact_secret_objects(text: str) -> str:
    # A multiline-anchored pattern is tried at every position of the text; a substring test is
    # a fast scan. Without "data" or "Data" (stringData) it cannot match.
    if ("data" in text or "Data" in text) and _VALUE_MAP_LINE.search(text):
        text = _SecretBlockRedactor(text).run()
    if "Secret" in text:
        text = _redact_compact_secret_lines(text)
    return _redact_cut_off_compact_json(text)


# --- private keys -------------------------------------------------------------------------------

_PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_PRIVATE_KEY_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")


def _redact_private_keys(text: str) -> str:
    pieces: list[str] = []
    position = 0
    while (begin := _PRIVATE_KEY_BEGIN.search(text, position)) is not None:
        pieces += [text[position : begin.end()], REDACTED]
        end = _PRIVATE_KEY_END.search(text, begin.end())
        if end is None:  # cut off: everything after BEGIN is key material
            return "".join(pieces)
        pieces.append(end.group())
        position = end.end()
    pieces.append(text[position:])
    return "".join(pieces)


# --- credentials in fields, headers and tokens ---------------------------------------------------

_CREDENTIAL_KEY = (
    r"(?:(?:access|id|refresh|bearer|auth)[-_]?token|token|password|passwd"
    r"|client[-_]?secret|client[-_]?key[-_]?data|client[-_]?certificate[-_]?data)"
)
_B64_ALPHABET = r"[A-Za-z0-9\-._~+/]"  # RFC 6750 b64token


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    replacement: str
    markers: tuple[str, ...]  # lowercase words without which the pattern cannot match


_CREDENTIAL_RULES = (
    # "token": "...", "client-key-data": "...", "accessToken": "..."
    _Rule(
        re.compile(rf'(?i)("{_CREDENTIAL_KEY}"[ \t]*+:[ \t]*+)"(?:[^"\\\n]++|\\.)*+"'),
        rf'\1"{REDACTED}"',
        ("token", "passw", "client"),
    ),
    # token: ..., client-key-data: ..., and `kubectl describe secret` lines such as "token:   eyJ...",
    # but not the sizes describe prints for other keys ("password:  16 bytes").
    _Rule(
        re.compile(
            rf"(?im)^([ \t]*+(?:-[ \t]++)?{_CREDENTIAL_KEY}[ \t]*+:[ \t]++)(?![0-9]++ bytes\r?$)\S.*$"
        ),
        rf"\1{REDACTED}",
        ("token", "passw", "client"),
    ),
    # Authorization: Bearer ..., authorization=Basic ...
    _Rule(
        re.compile(
            r"""(?i)(\bauthorization["']?[ \t]*+[:=][ \t]*+["']?"""
            r"""(?:bearer|basic|token|digest|negotiate)[ \t]++)[^\s"',;]++"""
        ),
        rf"\1{REDACTED}",
        ("authorization",),
    ),
    # Bearer tokens outside headers; short words after "bearer" in prose are left alone.
    _Rule(
        re.compile(rf"(?i)(?<![A-Za-z0-9])(bearer[ \t]++){_B64_ALPHABET}{{16,}}+=*+"),
        rf"\1{REDACTED}",
        ("bearer",),
    ),
    # JWTs: base64url of a JSON header and payload, both starting with '{"' ("eyJ").
    _Rule(
        re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}+\.eyJ[A-Za-z0-9_\-]{8,}+\.[A-Za-z0-9_\-]*+"),
        REDACTED,
        ("eyj",),
    ),
)

_CREDENTIAL_MARKERS = frozenset(marker for rule in _CREDENTIAL_RULES for marker in rule.markers)


def redact(text: str) -> str:
    """``text`` with Secret values, private keys, tokens and kubeconfig credentials replaced."""
    text = _redact_secret_objects(text)
    if "PRIVATE KEY-----" in text:
        text = _redact_private_keys(text)
    # Replacements only ever remove these markers, so one lowercase copy and one scan per marker
    # serve every rule.
    lowered = text.lower()
    present = {marker for marker in _CREDENTIAL_MARKERS if marker in lowered}
    for rule in _CREDENTIAL_RULES:
        if present.intersection(rule.markers):
            text = rule.pattern.sub(rule.replacement, text)
    return text
