"""Executor configuration: refused early and clearly, and never showing the token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pilothouse.executor.config import ConfigError, ExecutorConfig
from pilothouse.executor.kubectl import Kubectl
from pilothouse.policy import SecurityMode

VALID: dict[str, Any] = {
    "server_url": "https://pilothouse.example:8443",
    "cluster_id": "prod",
    "token": "phc_s3cr3t",
}


def test_the_token_never_appears_in_the_repr() -> None:
    config = ExecutorConfig(**VALID)
    assert "phc_s3cr3t" not in repr(config)
    assert config.executor_id.startswith("exe_")
    assert config.executor_id != ExecutorConfig(**VALID).executor_id  # one per process


def test_security_mode_spelling_is_lenient() -> None:
    assert ExecutorConfig(**VALID, security_mode="full_access").security_mode is SecurityMode.FULL_ACCESS  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"server_url": "pilothouse:8080"}, "server URL must be"),
        ({"cluster_id": ""}, "cluster id"),
        ({"token": ""}, "token"),
        ({"concurrency": 0}, "concurrency"),
        ({"poll_wait_seconds": 61}, "poll wait"),
        ({"max_output_bytes": 0}, "max output"),
        ({"security_mode": "admin"}, "security mode must be one of readOnly, extendedReadOnly, fullAccess"),
        ({"reconnect_initial_seconds": 40.0}, "back-off"),
    ],
)
def test_unusable_settings_are_refused(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ExecutorConfig(**{**VALID, **override})


def test_kubectl_gets_connection_flags_first_and_a_fixed_environment(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubectl = Kubectl("/bin/kubectl", kubeconfig, "prod")
    assert kubectl.argv(["exec", "api", "--", "ls", "-l"]) == [
        "/bin/kubectl",
        f"--kubeconfig={kubeconfig}",
        "--context=prod",
        "exec",
        "api",
        "--",
        "ls",
        "-l",
    ]
    inherited = {
        "PATH": "/usr/bin",
        "HOME": "/home/executor",
        "KUBECONFIG": "/elsewhere",
        "HTTPS_PROXY": "http://proxy:3128",
        "PILOTHOUSE_EXECUTOR_TOKEN": "phc_s3cr3t",
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    assert kubectl.environment(inherited) == {
        "PATH": "/usr/bin",
        "HOME": "/home/executor",
        "KUBECTL_KUBERC": "false",
        "KUBECONFIG": str(kubeconfig),
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }


def test_without_a_kubeconfig_kubectl_uses_the_environment_one_or_in_cluster_config() -> None:
    kubectl = Kubectl("kubectl")
    assert kubectl.argv(["get", "pods"]) == ["kubectl", "get", "pods"]
    assert kubectl.environment({"PATH": "/bin", "KUBECONFIG": "/k"})["KUBECONFIG"] == "/k"
    assert "KUBECONFIG" not in kubectl.environment({"PATH": "/bin", "HOME": "/root"})
