"""The kubectl command policy shared by the server and the in-cluster executor.

Agents send a kubectl command as an argv list without the leading ``kubectl``, e.g.
``["get", "pods", "-n", "default", "-o", "wide"]``. The policy parses it exactly as kubectl
would (verb, subcommand, flags by pflag's rules, resource types through discovery, names) and
allows it only if every part is known and permitted in the policy's security mode. Anything it
cannot parse unambiguously is denied: the policy fails closed.

The Kubently API sends the verb separately as ``command_type``; pass it as ``command_type`` and
the rest as ``args``. Either way the argument limit (20) counts the arguments after the verb,
as the API's ``args: 1-20 items`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from pilothouse.policy.argv import split_arguments
from pilothouse.policy.commands import (
    ALWAYS_DENIED,
    RULES,
    SENSITIVE_RESOURCES,
    SUBCOMMAND_ALIASES,
    SUBCOMMAND_VERBS,
    CommandRule,
    Tail,
    display_name,
)
from pilothouse.policy.decisions import (
    DecisionCode,
    ParsedCommand,
    PolicyDecision,
    PolicyError,
    deny,
)
from pilothouse.policy.flags import (
    FILE_OUTPUT_FORMATS,
    NAMESPACE_NAME,
    OUTPUT_FORMATS,
    REDACTABLE_OUTPUT_FORMATS,
    TEMPLATE_DEFAULT_FORMAT,
    output_format_name,
)
from pilothouse.policy.modes import SecurityMode
from pilothouse.policy.operands import ResolvedOperands, resolve_operands
from pilothouse.policy.resources import ResourceCatalog

DEFAULT_MAX_ARGS = 20
DEFAULT_MAX_ARG_CHARS = 8192
# Longer commands are not remembered (bounds what ``remember`` can hold).
REMEMBERED_ARGS_MAX_CHARS = 512

# Shell syntax is matched as characters and operators, never as words: a pod called
# "credit-edit-1" is fine, "a|b" is not.
_SHELL_SYNTAX = re.compile(r"[|;`<>\n\r]|&&|\$\(")
_SHELL_ONLY_TOKENS = frozenset({"&"})
NO_SHELL_MESSAGE = (
    "commands run without a shell; pipes, redirection and command substitution are not available"
)
# Control characters other than the line breaks reported as shell syntax above.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


class CommandPolicy:
    """Decides whether a kubectl argv may run under one security mode and one resource catalog."""

    def __init__(
        self,
        mode: SecurityMode,
        catalog: ResourceCatalog,
        *,
        extra_denied_verbs: Iterable[str] = (),
        allow_streaming: bool = True,
        max_args: int = DEFAULT_MAX_ARGS,
        max_arg_chars: int = DEFAULT_MAX_ARG_CHARS,
        remember: int = 0,
    ) -> None:
        """``extra_denied_verbs`` takes verbs ("delete") or verb and subcommand ("rollout undo").
        ``allow_streaming=False`` denies watching and following (get -w, logs -f, rollout status).
        ``remember``: keep up to this many recent allowed decisions (see ``decide``)."""
        self.mode = SecurityMode(mode)
        self.catalog = catalog
        self._extra_denied = frozenset(" ".join(verb.split()) for verb in extra_denied_verbs)
        self._allow_streaming = allow_streaming
        self._max_args = max_args
        self._max_arg_chars = max_arg_chars
        self._remember = remember
        self._allowed: dict[tuple[tuple[str, ...], str | None, str | None], PolicyDecision] = {}

    def decide(
        self,
        args: Sequence[str],
        *,
        namespace: str | None = None,
        command_type: str | None = None,
    ) -> PolicyDecision:
        """The decision for ``args``; never raises for a denied command.

        With ``remember``, allowed decisions of short commands are kept, since agents repeat the
        same few commands: the decision is a function of the arguments, the mode and the catalog,
        all fixed for this object (and the decision is immutable). Denials are always worked out
        again: they are rare, and caching them would let a hostile client fill the memory."""
        key = None
        if (
            self._remember
            and all(type(arg) is str for arg in args)
            # Exactly str or None: a subclass could compare equal to another value.
            and (namespace is None or type(namespace) is str)
            and (command_type is None or type(command_type) is str)
        ):
            key = (tuple(args), namespace, command_type)
            remembered = self._allowed.get(key)
            if remembered is not None:
                return remembered
        try:
            command = self.check(args, namespace=namespace, command_type=command_type)
        except PolicyError as error:
            return error.decision
        decision = PolicyDecision(True, f"allowed in {self.mode} mode", DecisionCode.ALLOWED, command)
        if key is not None and sum(map(len, key[0])) <= REMEMBERED_ARGS_MAX_CHARS:
            if len(self._allowed) >= self._remember:
                self._allowed.clear()
            self._allowed[key] = decision
        return decision

    def check(
        self,
        args: Sequence[str],
        *,
        namespace: str | None = None,
        command_type: str | None = None,
    ) -> ParsedCommand:
        """The parsed command, or ``PolicyError`` carrying the denial.

        ``namespace`` is the request's own namespace field; ``-n`` in the args must agree with it.
        """
        argv = self._validated_argv(args, command_type)
        verb, subverb, rule, operands_start = self._command(argv)
        command = display_name(verb, subverb)
        split = split_arguments(argv[operands_start:], rule, command)
        self._check_flag_permissions(rule, split.flags)
        output = self._output(split.flags)
        self._check_container_command(rule, split.container_command, command)
        operands = resolve_operands(rule, split.operands, split.flags, self.catalog, command)
        self._check_sensitive_reads(rule, operands, output)
        effective_namespace, all_namespaces, injected = self._namespace(split.flags, namespace)
        final_argv = (*argv[:operands_start], *injected, *argv[operands_start:])
        return ParsedCommand(
            verb=verb,
            subverb=subverb,
            resources=operands.resources,
            names=operands.names,
            flags=MappingProxyType(dict(split.flags)),
            namespace=effective_namespace,
            all_namespaces=all_namespaces,
            output=output,
            extra_operands=operands.extras,
            container_command=split.container_command or (),
            argv=final_argv,
        )

    # --- whole-argument checks ------------------------------------------------------------------

    def _validated_argv(self, args: object, command_type: object) -> tuple[str, ...]:
        if isinstance(args, str | bytes) or not isinstance(args, Sequence):
            deny(
                DecisionCode.INVALID_ARGUMENT,
                "args must be a list of strings; a single command string would need a shell "
                "to split it, and there is none",
            )
        tokens: list[object] = [command_type, *args] if command_type is not None else list(args)
        if not tokens:
            deny(
                DecisionCode.EMPTY_COMMAND, "no command given; args start with a kubectl command such as get"
            )
        if len(tokens) - 1 > self._max_args:
            deny(
                DecisionCode.TOO_MANY_ARGS,
                f"{len(tokens) - 1} arguments after the command; at most {self._max_args} are allowed",
            )
        # Positions in reasons refer to the caller's own list: command_type, then args[0], ...
        first = -1 if command_type is not None else 0
        return tuple(
            self._validated_token("command_type" if index < 0 else f"args[{index}]", token)
            for index, token in enumerate(tokens, start=first)
        )

    def _validated_token(self, position: str, token: object) -> str:
        if not isinstance(token, str):
            deny(DecisionCode.INVALID_ARGUMENT, f"{position} is not a string")
        if not token:
            deny(DecisionCode.INVALID_ARGUMENT, f"{position} is empty")
        if len(token) > self._max_arg_chars:
            deny(
                DecisionCode.INVALID_ARGUMENT,
                f"{position} is longer than {self._max_arg_chars} characters",
            )
        if _CONTROL_CHARACTER.search(token):
            deny(DecisionCode.INVALID_ARGUMENT, f"{position} contains a NUL or control character")
        shell = _SHELL_SYNTAX.search(token)
        if shell is not None or token in _SHELL_ONLY_TOKENS:
            fragment = shell.group() if shell is not None else token
            deny(DecisionCode.SHELL_SYNTAX, f"{position} contains {fragment!r}: {NO_SHELL_MESSAGE}")
        return token

    # --- the command ----------------------------------------------------------------------------

    def _command(self, argv: tuple[str, ...]) -> tuple[str, str | None, CommandRule, int]:
        """Verb, subcommand, rule, and where the operands start."""
        verb = argv[0]
        if verb == "kubectl":
            deny(DecisionCode.INVALID_SYNTAX, "leave out 'kubectl': args start with the command, e.g. get")
        if verb.startswith("-"):
            deny(DecisionCode.INVALID_SYNTAX, "args must start with the kubectl command; flags come after it")
        if verb in ALWAYS_DENIED:
            deny(
                DecisionCode.FORBIDDEN_COMMAND,
                f"kubectl {verb} is not allowed in any mode: {ALWAYS_DENIED[verb]}",
            )
        subverb, operands_start = self._subcommand(verb, argv)
        rule = RULES.get((verb, subverb))
        if rule is None:
            if verb in SUBCOMMAND_VERBS:
                deny(
                    DecisionCode.INVALID_SYNTAX,
                    f"kubectl {verb} needs a subcommand right after it: {_subcommands_of(verb)}",
                )
            deny(
                DecisionCode.FORBIDDEN_COMMAND,
                f"{verb!r} is not a kubectl command this policy allows "
                "(kubectl would run an unknown command as a plugin program)",
            )
        command = display_name(verb, subverb)
        if verb in self._extra_denied or f"{verb} {subverb}" in self._extra_denied:
            deny(DecisionCode.FORBIDDEN_COMMAND, f"{command} is denied by this policy's configuration")
        if not self.mode.permits(rule.min_mode):
            deny(
                DecisionCode.FORBIDDEN_COMMAND,
                f"{command} needs {rule.min_mode} mode; this policy runs in {self.mode} mode",
            )
        return verb, subverb, rule, operands_start

    @staticmethod
    def _subcommand(verb: str, argv: tuple[str, ...]) -> tuple[str | None, int]:
        if verb not in SUBCOMMAND_VERBS or len(argv) < 2 or argv[1].startswith("-"):
            return None, 1
        subverb = SUBCOMMAND_ALIASES.get((verb, argv[1]), argv[1])
        if (verb, subverb) in RULES:
            return subverb, 2
        if (verb, None) in RULES:  # e.g. cluster-info without dump; the operand is then rejected
            return None, 1
        deny(
            DecisionCode.FORBIDDEN_COMMAND,
            f"kubectl {verb} {argv[1]!r} is not supported; supported: {_subcommands_of(verb)}",
        )

    # --- flags and output -----------------------------------------------------------------------

    def _check_flag_permissions(self, rule: CommandRule, flags: Mapping[str, str | bool]) -> None:
        for name, value in flags.items():
            spec = rule.long_flags[name]
            if not self.mode.permits(spec.min_mode):
                deny(
                    DecisionCode.FORBIDDEN_FLAG,
                    f"--{name} needs {spec.min_mode} mode; this policy runs in {self.mode} mode",
                )
            if spec.streaming and value is True and not self._allow_streaming:
                deny(DecisionCode.FORBIDDEN_FLAG, f"--{name} streams until stopped, which this policy denies")
        if rule.streams_by_default and flags.get("watch") is not False and not self._allow_streaming:
            deny(
                DecisionCode.FORBIDDEN_FLAG,
                "this command watches until stopped, which this policy denies; add --watch=false",
            )

    @staticmethod
    def _output(flags: Mapping[str, str | bool]) -> str | None:
        value = flags.get("output")
        output = value if isinstance(value, str) else None
        if output is None and "template" in flags:
            output = TEMPLATE_DEFAULT_FORMAT
        if output is None:
            return None
        format_name = output_format_name(output)
        if format_name in FILE_OUTPUT_FORMATS:
            deny(DecisionCode.FORBIDDEN_OUTPUT, f"-o {format_name} reads a template file on the executor")
        if format_name not in OUTPUT_FORMATS:
            deny(DecisionCode.INVALID_FLAG_VALUE, f"{format_name!r} is not a known output format")
        return output

    # --- operands -------------------------------------------------------------------------------

    @staticmethod
    def _check_container_command(
        rule: CommandRule, container_command: tuple[str, ...] | None, command: str
    ) -> None:
        if container_command is not None and rule.tail is Tail.NONE:
            deny(
                DecisionCode.INVALID_SYNTAX,
                f"{command} takes no container command; '--' is only for exec, run and create deployment|job",
            )
        if rule.tail is Tail.REQUIRED and not container_command:
            deny(DecisionCode.INVALID_SYNTAX, f"{command} needs a command after '--', e.g. -- ls /")

    def _check_sensitive_reads(
        self, rule: CommandRule, operands: ResolvedOperands, output: str | None
    ) -> None:
        if not rule.reads_objects:
            return
        for token, ref in operands.typed:
            required = SENSITIVE_RESOURCES.get((ref.group, ref.plural))
            if required is None:
                continue
            if not self.mode.permits(required):
                deny(
                    DecisionCode.FORBIDDEN_RESOURCE,
                    f"{token!r} names {ref.kind} objects ({ref.group_resource}), which need "
                    f"{required} mode; this policy runs in {self.mode} mode",
                )
            if output is not None and output_format_name(output) not in REDACTABLE_OUTPUT_FORMATS:
                deny(
                    DecisionCode.FORBIDDEN_OUTPUT,
                    f"-o {output_format_name(output)} could print {ref.kind} values in a form redaction "
                    "cannot recognise; use -o yaml or -o json",
                )

    # --- namespace ------------------------------------------------------------------------------

    @staticmethod
    def _namespace(
        flags: Mapping[str, str | bool], requested: str | None
    ) -> tuple[str | None, bool, tuple[str, ...]]:
        """Effective namespace, whether all namespaces, and the flag to add to the argv."""
        given = flags.get("namespace")
        in_args = given if isinstance(given, str) else None
        if in_args is not None and not NAMESPACE_NAME.fullmatch(in_args):
            deny(DecisionCode.INVALID_FLAG_VALUE, f"{in_args!r} is not a valid namespace name")
        if requested is not None and not NAMESPACE_NAME.fullmatch(requested):
            deny(DecisionCode.INVALID_ARGUMENT, f"{requested!r} is not a valid namespace name")
        all_namespaces = flags.get("all-namespaces") is True
        if all_namespaces and in_args is not None:
            deny(DecisionCode.NAMESPACE_CONFLICT, "-A (all namespaces) and -n contradict each other")
        if in_args is not None and requested is not None and in_args != requested:
            deny(
                DecisionCode.NAMESPACE_CONFLICT,
                f"-n {in_args} in the arguments contradicts the request's namespace {requested}",
            )
        if all_namespaces:
            # The request's namespace is only a default; -A asks for every namespace explicitly.
            return None, True, ()
        if in_args is not None:
            return in_args, False, ()
        if requested is not None:
            return requested, False, (f"--namespace={requested}",)
        return None, False, ()


def _subcommands_of(verb: str) -> str:
    return ", ".join(sorted(sub for known_verb, sub in RULES if known_verb == verb and sub is not None))
