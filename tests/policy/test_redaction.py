"""Redaction of command output: Secret values, private keys, tokens and kubeconfig credentials
go; everything else stays byte-for-byte. Inputs are shaped like real kubectl output."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.policy.redaction import REDACTED, redact

# Values that must never survive redaction.
PASSWORD_B64 = "c3VwZXJzZWNyZXQ="
USERNAME_B64 = "YWRtaW4="
PLAIN_PASSWORD = "hunter2-plain"
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9"
    ".eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtIn0"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)
KEY_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
SECRET_VALUES = (PASSWORD_B64, USERNAME_B64, PLAIN_PASSWORD, JWT, KEY_BODY)

SECRET_YAML = f"""\
apiVersion: v1
data:
  password: {PASSWORD_B64}
  username: {USERNAME_B64}
kind: Secret
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {{"apiVersion":"v1","data":{{"password":"{PASSWORD_B64}","username":"{USERNAME_B64}"}},"kind":"Secret","metadata":{{"annotations":{{}},"name":"db","namespace":"shop"}},"type":"Opaque"}}
  creationTimestamp: "2024-05-01T10:00:00Z"
  name: db
  namespace: shop
  resourceVersion: "4711"
  uid: 6a1f4c2e-7d8b-4c1a-9f0e-2b3c4d5e6f70
type: Opaque
"""

SECRET_YAML_REDACTED = f"""\
apiVersion: v1
data:
  password: {REDACTED}
  username: {REDACTED}
kind: Secret
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {{"apiVersion":"v1","data":{{"password":"{REDACTED}","username":"{REDACTED}"}},"kind":"Secret","metadata":{{"annotations":{{}},"name":"db","namespace":"shop"}},"type":"Opaque"}}
  creationTimestamp: "2024-05-01T10:00:00Z"
  name: db
  namespace: shop
  resourceVersion: "4711"
  uid: 6a1f4c2e-7d8b-4c1a-9f0e-2b3c4d5e6f70
type: Opaque
"""

CONFIGMAP_YAML = """\
- apiVersion: v1
  data:
    app.properties: |
      color=blue
      size=large
    mode: production
  kind: ConfigMap
  metadata:
    name: settings
    namespace: shop
"""

LIST_YAML = f"""\
apiVersion: v1
items:
- apiVersion: v1
  data:
    tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
    tls.key: {PASSWORD_B64}
  kind: Secret
  metadata:
    name: web-tls
    namespace: shop
  type: kubernetes.io/tls
{CONFIGMAP_YAML}- apiVersion: v1
  kind: Secret
  metadata:
    name: app-config
    namespace: shop
  stringData:
    config.yaml: |
      user: admin
      password: {PLAIN_PASSWORD}
    quoted: "{PLAIN_PASSWORD}"
  type: Opaque
kind: List
metadata:
  resourceVersion: ""
"""

SECRET_JSON = json.dumps(
    {
        "apiVersion": "v1",
        "data": {"password": PASSWORD_B64, "username": USERNAME_B64},
        "kind": "Secret",
        "metadata": {
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                    {"apiVersion": "v1", "data": {"password": PASSWORD_B64}, "kind": "Secret"},
                    separators=(",", ":"),
                )
                + "\n"
            },
            "name": "db",
            "namespace": "shop",
        },
        "type": "Opaque",
    },
    indent=4,
)

CONFIGMAP_OBJECT = {
    "apiVersion": "v1",
    "data": {"mode": "production", "password-policy": "strict"},
    "kind": "ConfigMap",
    "metadata": {"name": "settings"},
}
LIST_JSON = json.dumps(
    {
        "apiVersion": "v1",
        "items": [
            CONFIGMAP_OBJECT,
            {
                "apiVersion": "v1",
                "data": {"password": PASSWORD_B64},
                "kind": "Secret",
                "metadata": {"name": "db"},
            },
        ],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    },
    indent=4,
)

KUBECONFIG = f"""\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
    server: https://10.0.0.1:6443
  name: prod
contexts:
- context:
    cluster: prod
    user: admin
  name: prod-admin
current-context: prod-admin
kind: Config
users:
- name: admin
  user:
    client-certificate-data: {USERNAME_B64}
    client-key-data: {PASSWORD_B64}
- name: oidc
  user:
    auth-provider:
      config:
        client-secret: {PLAIN_PASSWORD}
        id-token: {JWT}
        refresh-token: {PLAIN_PASSWORD}
      name: oidc
- name: basic
  user:
    password: {PLAIN_PASSWORD}
    token: {PLAIN_PASSWORD}
    username: admin
"""

DESCRIBE_TOKEN_SECRET = f"""\
Name:         default-token-x7k2p
Namespace:    default
Labels:       <none>
Annotations:  kubernetes.io/service-account.name: default

Type:  kubernetes.io/service-account-token

Data
====
ca.crt:     1066 bytes
namespace:  7 bytes
token:      {JWT}
"""

PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----"

ALL_SAMPLES = (
    SECRET_YAML,
    LIST_YAML,
    SECRET_JSON,
    LIST_JSON,
    KUBECONFIG,
    DESCRIBE_TOKEN_SECRET,
    PRIVATE_KEY,
)


def assert_nothing_secret_left(text: str) -> None:
    for value in SECRET_VALUES:
        assert value not in text


# --- Secret objects --------------------------------------------------------------------------------


def test_secret_yaml_keeps_everything_but_the_values() -> None:
    assert redact(SECRET_YAML) == SECRET_YAML_REDACTED


def test_secret_list_yaml_leaves_configmaps_alone() -> None:
    redacted = redact(LIST_YAML)

    assert_nothing_secret_left(redacted)
    assert CONFIGMAP_YAML in redacted
    assert f"    tls.key: {REDACTED}\n" in redacted
    assert f'    config.yaml: {REDACTED}\n    quoted: "{REDACTED}"\n' in redacted  # block scalar gone
    assert redacted.count("\n") == LIST_YAML.count("\n") - 2


def test_secret_json_stays_valid_json() -> None:
    redacted = json.loads(redact(SECRET_JSON))
    original = json.loads(SECRET_JSON)

    assert redacted["data"] == {"password": REDACTED, "username": REDACTED}
    assert REDACTED in redacted["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert_nothing_secret_left(json.dumps(redacted))
    for key in ("apiVersion", "kind", "type"):
        assert redacted[key] == original[key]


def test_json_list_redacts_only_secrets() -> None:
    redacted = json.loads(redact(LIST_JSON))

    assert redacted["items"][0] == CONFIGMAP_OBJECT
    assert redacted["items"][1]["data"] == {"password": REDACTED}


def test_multiple_yaml_documents() -> None:
    configmap = "apiVersion: v1\ndata:\n  mode: production\nkind: ConfigMap\nmetadata:\n  name: settings\n"
    text = f"{SECRET_YAML}---\n{configmap}"

    assert redact(text) == f"{SECRET_YAML_REDACTED}---\n{configmap}"


def test_flow_style_data_is_redacted_whole() -> None:
    text = f"apiVersion: v1\nkind: Secret\ndata: {{password: {PASSWORD_B64}}}\nmetadata:\n  name: x\n"

    assert redact(text) == f"apiVersion: v1\nkind: Secret\ndata: {REDACTED}\nmetadata:\n  name: x\n"


def test_one_line_secret_json_in_a_log_line() -> None:
    line = f'2024-05-01T10:00:00Z applied {{"kind":"Secret","data":{{"token":"{PASSWORD_B64}"}}}} ok\n'

    assert (
        redact(line)
        == f'2024-05-01T10:00:00Z applied {{"kind":"Secret","data":{{"token":"{REDACTED}"}}}} ok\n'
    )


def test_unparseable_one_line_secret_is_redacted_whole() -> None:
    line = f'event: {{"kind":"Secret","data":{{"token":"{PASSWORD_B64}"}}, broken}}\n'

    assert redact(line) == f"event: {REDACTED}\n"


@pytest.mark.parametrize("document", [SECRET_YAML, LIST_YAML, SECRET_JSON, LIST_JSON])
def test_output_cut_off_anywhere_leaks_nothing(document: str) -> None:
    """Output limits may cut a Secret before its kind (kubectl prints data first)."""
    for length in range(len(document)):
        redacted = redact(document[:length])
        assert_nothing_secret_left(redacted)
        assert redact(redacted) == redacted


def test_configmap_cut_off_before_its_kind_is_redacted_to_be_safe() -> None:
    cut = "apiVersion: v1\ndata:\n  mode: production\n"

    assert redact(cut) == f"apiVersion: v1\ndata:\n  mode: {REDACTED}\n"


# --- kubeconfig, tokens and keys -------------------------------------------------------------------


def test_kubeconfig_credentials() -> None:
    redacted = redact(KUBECONFIG)

    assert_nothing_secret_left(redacted)
    for kept in (
        "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
        "server: https://10.0.0.1:6443",
        "username: admin",
        "current-context: prod-admin",
    ):
        assert kept in redacted
    for field in (
        "client-key-data",
        "client-certificate-data",
        "id-token",
        "refresh-token",
        "token",
        "password",
    ):
        assert f"{field}: {REDACTED}" in redacted


def test_kubeconfig_as_json() -> None:
    text = json.dumps(
        {"users": [{"name": "admin", "user": {"client-key-data": PASSWORD_B64, "token": PLAIN_PASSWORD}}]},
        indent=4,
    )

    redacted = json.loads(redact(text))

    assert redacted["users"][0]["user"] == {"client-key-data": REDACTED, "token": REDACTED}


def test_describe_of_a_token_secret() -> None:
    redacted = redact(DESCRIBE_TOKEN_SECRET)

    assert redacted == DESCRIBE_TOKEN_SECRET.replace(JWT, REDACTED)


def test_private_key_block() -> None:
    text = f"before\n{PRIVATE_KEY}\nafter\n"

    assert (
        redact(text)
        == f"before\n-----BEGIN RSA PRIVATE KEY-----{REDACTED}-----END RSA PRIVATE KEY-----\nafter\n"
    )


def test_private_key_in_a_yaml_block_scalar() -> None:
    text = (
        "tls.key: |\n  -----BEGIN PRIVATE KEY-----\n  "
        + KEY_BODY
        + "\n  -----END PRIVATE KEY-----\nnext: 1\n"
    )

    redacted = redact(text)

    assert_nothing_secret_left(redacted)
    assert redacted.endswith("-----END PRIVATE KEY-----\nnext: 1\n")


def test_unterminated_private_key_is_redacted_to_the_end() -> None:
    assert redact(f"key:\n-----BEGIN EC PRIVATE KEY-----\n{KEY_BODY}\n") == (
        f"key:\n-----BEGIN EC PRIVATE KEY-----{REDACTED}"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "DEBUG request headers: Authorization: Bearer abc.def",
            f"DEBUG request headers: Authorization: Bearer {REDACTED}",
        ),
        (
            'curl -H "Authorization: Basic dXNlcjpwYXNz" http://api',
            f'curl -H "Authorization: Basic {REDACTED}" http://api',
        ),
        (
            "got bearer sk-live-0123456789abcdefghij from header",
            f"got bearer {REDACTED} from header",
        ),
        (f"token {JWT} accepted", f"token {REDACTED} accepted"),
        (
            f'{{"level":"info","accessToken":"{PLAIN_PASSWORD}","msg":"ok"}}',
            f'{{"level":"info","accessToken":"{REDACTED}","msg":"ok"}}',
        ),
        (
            f'{{"password":"a\\"{PLAIN_PASSWORD}","user":"x"}}',
            f'{{"password":"{REDACTED}","user":"x"}}',
        ),
    ],
)
def test_tokens_in_log_lines(line: str, expected: str) -> None:
    assert redact(line) == expected


# --- ordinary output -------------------------------------------------------------------------------

ORDINARY_OUTPUTS = [
    "NAME                     READY   STATUS    RESTARTS   AGE\n"
    "nginx-7c5ddbdf54-x8k2p   1/1     Running   0          5d\n",
    "NAME            TYPE                                  DATA   AGE\n"
    "db              Opaque                                2      3d\n"
    "default-token   kubernetes.io/service-account-token   3      9d\n",
    "LAST SEEN   TYPE      REASON    OBJECT          MESSAGE\n"
    "2m          Warning   BackOff   pod/web-1       Back-off restarting failed container\n",
    "2024-05-01T10:00:00Z INFO token bucket refilled, 5 tokens left\n"
    "2024-05-01T10:00:01Z WARN password policy check failed for user alice\n"
    "2024-05-01T10:00:02Z INFO the bearer of this request is unknown\n"
    "2024-05-01T10:00:03Z INFO authorization denied by policy\n",
    "data: received 512 bytes\nkind of slow today\n",
    CONFIGMAP_YAML,
    json.dumps(CONFIGMAP_OBJECT, indent=4),
    "Name:         db\nNamespace:    shop\nType:  Opaque\n\n"
    "Data\n====\npassword:  16 bytes\nusername:  5 bytes\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
    "  template:\n    spec:\n      containers:\n      - image: nginx:1.27\n        name: web\n"
    "        env:\n        - name: SECRET_NAME\n          value: db\n",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
    "",
]


@pytest.mark.parametrize("text", ORDINARY_OUTPUTS)
def test_ordinary_output_is_untouched(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", ALL_SAMPLES)
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)

    assert once != text
    assert redact(once) == once


# --- speed -----------------------------------------------------------------------------------------

# Each about 1 MB; a quadratic pattern needs minutes on inputs like these, a linear one well under
# a second, so the bounds are generous for slow machines while still catching backtracking.
ADVERSARIAL_INPUTS = {
    "jwt-headers": "eyJ" * 350_000,
    "jwt-without-signature": "eyJaaaaaaaaaa.eyJbbbbbbbbb" * 40_000,
    "bearer-words": "Bearer " * 150_000,
    "unterminated-keys": "-----BEGIN PRIVATE KEY-----" * 40_000,
    "almost-key-headers": ("-----BEGIN " + "A" * 39 + "X\n") * 20_000,
    "unclosed-json-strings": '"token": "' * 100_000,
    "backslashes": 'Secret "password": "' + "\\" * 1_000_000,
    "escaped-kinds": "Secret " + '\\"kind\\":\\"Secret\\"' * 50_000,
    "secret-kinds": "kind: Secret\n" * 80_000,
    "data-blocks": ("- kind: Secret\n  data:\n" + "    k: v\n" * 5) * 12_000,
    "deep-indentation": "".join(" " * depth + "a:\n" for depth in range(1400)) + "kind: Secret\n",
    "compact-secrets": '{"kind":"Secret","data":{' * 40_000,
    "spaces": " " * 1_000_000 + "token:",
    "authorization-words": "authorization: bearer " * 45_000,
    "data-keys": "data:\n" * 160_000,
}


@pytest.mark.parametrize("text", ADVERSARIAL_INPUTS.values(), ids=ADVERSARIAL_INPUTS.keys())
def test_adversarial_input_is_linear(text: str) -> None:
    start = time.perf_counter()
    redact(text)

    assert time.perf_counter() - start < 5.0


def test_five_megabytes_of_ordinary_logs() -> None:
    line = "2024-05-01T10:00:00Z INFO handled GET /api/v1/items status=200 duration=12ms\n"
    logs = line * (5_000_000 // len(line))

    start = time.perf_counter()
    redacted = redact(logs)

    assert time.perf_counter() - start < 5.0
    assert redacted == logs


def test_five_megabytes_of_secrets() -> None:
    secrets = LIST_YAML * (5_000_000 // len(LIST_YAML))

    start = time.perf_counter()
    redacted = redact(secrets)

    assert time.perf_counter() - start < 10.0
    assert_nothing_secret_left(redacted)


_FRAGMENTS = (
    "-----BEGIN ", "RSA ", "PRIVATE KEY-----", "-----END ", "eyJ", "abcDEF123456", ".", "Bearer ",
    "authorization: ", " ", "\n", "  ", "- ", "kind: Secret", "kind", ": ", "Secret", "data:",
    "stringData:", "apiVersion: v1", '"', "\\", "{", "}", ",", "token", "password: ", '"token": "',
    '"kind":"Secret"', '"data":{', "---", "#", "|", "\t", "é",
)  # fmt: skip


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=24), st.integers(1, 4000))
def test_arbitrary_fragment_soup_terminates_quickly(fragments: list[str], repeat: int) -> None:
    text = "".join(fragments) * repeat

    start = time.perf_counter()
    redacted = redact(text)

    assert time.perf_counter() - start < 2.0
    assert isinstance(redacted, str)
