"""Every namespace's `default` ServiceAccount and `kube-root-ca.crt` ConfigMap, and the
ServiceAccount admission plugin that refuses pods naming an account that does not exist.

The real work is split between kube-controller-manager's serviceaccount-controller and
root-ca-cert-publisher; both only react to namespaces and to their own objects, as here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper
from pilothouse.sim.objects import NAME_ALPHABET
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "default"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
ROOT_CA_KEY = "ca.crt"
# A fixed, PEM-shaped bundle: nothing in the simulation verifies TLS against it.
ROOT_CA_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n"
    "cm5ldGVzMB4XDTI0MDEwMTAwMDAwMFoXDTM0MDEwMTAwMDAwMFowFTETMBEGA1UE\n"
    "AxMKa3ViZXJuZXRlczCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAL1p\n"
    "aWxvdGhvdXNlLXNpbXVsYXRlZC1jbHVzdGVyLXJvb3QtY2VydGlmaWNhdGUtYXV0\n"
    "aG9yaXR5LW5vdC1hLXJlYWwta2V5LWp1c3QtdGhlLXNoYXBlLW9mLW9uZS0wMDAw\n"
    "-----END CERTIFICATE-----\n"
)
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)
_GENERATED_SUFFIX = re.compile(f"[{NAME_ALPHABET}]{{5}}")


def admission_name(obj: JsonObject) -> str:
    """The name an admission error names: the generateName prefix when the name was generated.

    The real server runs admission before it generates a name, so `admission.NewForbidden`
    falls back to generateName; here the name already exists, so recognise a generated one.
    """
    meta = obj["metadata"]
    name, prefix = meta.get("name") or "", meta.get("generateName") or ""
    if prefix and name.startswith(prefix) and _GENERATED_SUFFIX.fullmatch(name[len(prefix) :]):
        return str(prefix)
    return str(name or prefix or "Unknown")


def admission_forbidden(resource: ResourceType, obj: JsonObject, reason: str) -> StatusError:
    """The 403 `admission.NewForbidden` builds: `pods "NAME" is forbidden: REASON`."""
    name = admission_name(obj)
    details: dict[str, str] = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return StatusError(
        403, "Forbidden", f'{resource.qualified_name} "{name}" is forbidden: {reason}', details
    )


class ServiceAccountsController:
    """Keeps `default` and the root CA ConfigMap present in every active namespace."""

    name = "serviceaccount"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.namespaces = context.resource("", "Namespace")
        self.accounts = context.resource("", "ServiceAccount")
        self.configmaps = context.resource("", "ConfigMap")
        self.pods = context.resource("", "Pod")
        context.objects.admission.append(self.admit_pod)

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def namespace_key(event: StoreEvent) -> Iterable[str]:
            return (event.object["metadata"]["name"],)

        def owning_namespace(managed_name: str) -> KeyMapper:
            # Only a deleted or edited managed object needs the namespace looked at again.
            def mapper(event: StoreEvent) -> Iterable[str]:
                meta = event.object["metadata"]
                return (meta["namespace"],) if meta["name"] == managed_name and event.type != "ADDED" else ()

            return mapper

        return {
            self.namespaces.storage_key: namespace_key,
            self.accounts.storage_key: owning_namespace(DEFAULT_ACCOUNT),
            self.configmaps.storage_key: owning_namespace(ROOT_CA_CONFIGMAP),
        }

    def reconcile(self, key: str) -> None:
        namespace = self.context.store.get(self.namespaces.storage_key, "", key)
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return
        if self.context.store.get(self.accounts.storage_key, key, DEFAULT_ACCOUNT) is None:
            self._create(self.accounts, {"metadata": {"name": DEFAULT_ACCOUNT, "namespace": key}})
        self._publish_root_ca(key)

    def _publish_root_ca(self, namespace: str) -> None:
        current = self.context.store.get(self.configmaps.storage_key, namespace, ROOT_CA_CONFIGMAP)
        if current is None:
            self._create(
                self.configmaps,
                {
                    "metadata": {
                        "name": ROOT_CA_CONFIGMAP,
                        "namespace": namespace,
                        "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION},
                    },
                    "data": {ROOT_CA_KEY: ROOT_CA_PEM},
                },
            )
        elif current.get("data") != {ROOT_CA_KEY: ROOT_CA_PEM} and not current["metadata"].get(
            "deletionTimestamp"
        ):
            # The publisher owns this ConfigMap's content and puts back whatever was changed.
            restored = clone(current)
            restored["data"] = {ROOT_CA_KEY: ROOT_CA_PEM}
            self.context.objects.save(self.configmaps, restored)

    def _create(self, resource: ResourceType, obj: JsonObject) -> None:
        try:
            self.context.objects.create_owned(resource, obj)
        except StatusError as err:
            # A quota may refuse it; the real controller logs and retries on the next change.
            log.warning("creating %s %s failed: %s", resource.kind, obj["metadata"]["name"], err.message)

    def admit_pod(self, resource: ResourceType, obj: JsonObject) -> None:
        """Refuse a pod whose service account is missing, once the namespace has its default one."""
        if resource.storage_key != self.pods.storage_key:
            return
        namespace = obj["metadata"].get("namespace", "")
        account = (obj.get("spec") or {}).get("serviceAccountName") or DEFAULT_ACCOUNT
        store = self.context.store
        if store.get(self.accounts.storage_key, namespace, DEFAULT_ACCOUNT) is None:
            return  # the controller has not been through this namespace yet
        if store.get(self.accounts.storage_key, namespace, account) is None:
            raise admission_forbidden(
                resource,
                obj,
                f"error looking up service account {namespace}/{account}: "
                f'serviceaccount "{account}" not found',
            )
