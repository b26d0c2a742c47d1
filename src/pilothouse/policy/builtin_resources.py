"""The standard Kubernetes resource types, for use before a cluster's discovery is available.

Names, short names, groups and scopes follow ``kubectl api-resources`` on a Kubernetes 1.3x
cluster without add-ons. Categories are those the API server reports (``all`` and
``api-extensions``); custom resources and metrics.k8s.io only appear through real discovery.
"""

from __future__ import annotations

from functools import cache

from pilothouse.policy.resources import ResourceRef, StaticResourceCatalog

# Laid out like `kubectl api-resources`: "-" means no short names, lists are comma-separated,
# NS says whether the type is namespaced, and the singular name is the lowercased kind.
_BUILTIN_TABLE = """
NAME                              SHORT    GROUP                        NS  KIND
bindings                          -        -                            yes Binding
componentstatuses                 cs       -                            no  ComponentStatus
configmaps                        cm       -                            yes ConfigMap
endpoints                         ep       -                            yes Endpoints
events                            ev       -                            yes Event
limitranges                       limits   -                            yes LimitRange
namespaces                        ns       -                            no  Namespace
nodes                             no       -                            no  Node
persistentvolumeclaims            pvc      -                            yes PersistentVolumeClaim
persistentvolumes                 pv       -                            no  PersistentVolume
pods                              po       -                            yes Pod
podtemplates                      -        -                            yes PodTemplate
replicationcontrollers            rc       -                            yes ReplicationController
resourcequotas                    quota    -                            yes ResourceQuota
secrets                           -        -                            yes Secret
serviceaccounts                   sa       -                            yes ServiceAccount
services                          svc      -                            yes Service
mutatingwebhookconfigurations     -        admissionregistration.k8s.io no  MutatingWebhookConfiguration
validatingadmissionpolicies       -        admissionregistration.k8s.io no  ValidatingAdmissionPolicy
validatingadmissionpolicybindings -        admissionregistration.k8s.io no  ValidatingAdmissionPolicyBinding
validatingwebhookconfigurations   -        admissionregistration.k8s.io no  ValidatingWebhookConfiguration
customresourcedefinitions         crd,crds apiextensions.k8s.io         no  CustomResourceDefinition
apiservices                       -        apiregistration.k8s.io       no  APIService
controllerrevisions               -        apps                         yes ControllerRevision
daemonsets                        ds       apps                         yes DaemonSet
deployments                       deploy   apps                         yes Deployment
replicasets                       rs       apps                         yes ReplicaSet
statefulsets                      sts      apps                         yes StatefulSet
selfsubjectreviews                -        authentication.k8s.io        no  SelfSubjectReview
tokenreviews                      -        authentication.k8s.io        no  TokenReview
localsubjectaccessreviews         -        authorization.k8s.io         yes LocalSubjectAccessReview
selfsubjectaccessreviews          -        authorization.k8s.io         no  SelfSubjectAccessReview
selfsubjectrulesreviews           -        authorization.k8s.io         no  SelfSubjectRulesReview
subjectaccessreviews              -        authorization.k8s.io         no  SubjectAccessReview
horizontalpodautoscalers          hpa      autoscaling                  yes HorizontalPodAutoscaler
cronjobs                          cj       batch                        yes CronJob
jobs                              -        batch                        yes Job
certificatesigningrequests        csr      certificates.k8s.io          no  CertificateSigningRequest
leases                            -        coordination.k8s.io          yes Lease
endpointslices                    -        discovery.k8s.io             yes EndpointSlice
events                            ev       events.k8s.io                yes Event
flowschemas                       -        flowcontrol.apiserver.k8s.io no  FlowSchema
prioritylevelconfigurations       -        flowcontrol.apiserver.k8s.io no  PriorityLevelConfiguration
ingressclasses                    -        networking.k8s.io            no  IngressClass
ingresses                         ing      networking.k8s.io            yes Ingress
ipaddresses                       ip       networking.k8s.io            no  IPAddress
networkpolicies                   netpol   networking.k8s.io            yes NetworkPolicy
servicecidrs                      -        networking.k8s.io            no  ServiceCIDR
runtimeclasses                    -        node.k8s.io                  no  RuntimeClass
poddisruptionbudgets              pdb      policy                       yes PodDisruptionBudget
clusterrolebindings               -        rbac.authorization.k8s.io    no  ClusterRoleBinding
clusterroles                      -        rbac.authorization.k8s.io    no  ClusterRole
rolebindings                      -        rbac.authorization.k8s.io    yes RoleBinding
roles                             -        rbac.authorization.k8s.io    yes Role
deviceclasses                     -        resource.k8s.io              no  DeviceClass
resourceclaims                    -        resource.k8s.io              yes ResourceClaim
resourceclaimtemplates            -        resource.k8s.io              yes ResourceClaimTemplate
resourceslices                    -        resource.k8s.io              no  ResourceSlice
priorityclasses                   pc       scheduling.k8s.io            no  PriorityClass
csidrivers                        -        storage.k8s.io               no  CSIDriver
csinodes                          -        storage.k8s.io               no  CSINode
csistoragecapacities              -        storage.k8s.io               yes CSIStorageCapacity
storageclasses                    sc       storage.k8s.io               no  StorageClass
volumeattachments                 -        storage.k8s.io               no  VolumeAttachment
volumeattributesclasses           vac      storage.k8s.io               no  VolumeAttributesClass
"""


# Versions differ from the usual single "v1" only for a few types.
_VERSIONS: dict[str, tuple[str, ...]] = {"horizontalpodautoscalers.autoscaling": ("v2", "v1")}

# Category membership as the API server reports it, by group/resource.
_CATEGORIES: dict[str, tuple[str, ...]] = {
    "all": (
        "pods",
        "replicationcontrollers",
        "services",
        "daemonsets.apps",
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "horizontalpodautoscalers.autoscaling",
        "cronjobs.batch",
        "jobs.batch",
    ),
    "api-extensions": (
        "mutatingwebhookconfigurations.admissionregistration.k8s.io",
        "validatingadmissionpolicies.admissionregistration.k8s.io",
        "validatingadmissionpolicybindings.admissionregistration.k8s.io",
        "validatingwebhookconfigurations.admissionregistration.k8s.io",
        "customresourcedefinitions.apiextensions.k8s.io",
        "apiservices.apiregistration.k8s.io",
    ),
}


def _parse_row(row: str) -> ResourceRef:
    plural, short_names, group, namespaced, kind = row.split()
    group_resource = f"{plural}.{group}" if group != "-" else plural
    return ResourceRef(
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        short_names=() if short_names == "-" else tuple(short_names.split(",")),
        group="" if group == "-" else group,
        namespaced=namespaced == "yes",
        versions=_VERSIONS.get(group_resource, ("v1",)),
        categories=tuple(name for name, members in _CATEGORIES.items() if group_resource in members),
    )


def builtin_resources() -> tuple[ResourceRef, ...]:
    """The standard resource types, core group first, in ``kubectl api-resources`` order."""
    _header, *rows = _BUILTIN_TABLE.strip().splitlines()
    return tuple(_parse_row(row) for row in rows)


@cache
def builtin_catalog() -> StaticResourceCatalog:
    """A catalog of the standard resource types (shared: the catalog is immutable)."""
    return StaticResourceCatalog(builtin_resources())
