"""Cluster API errors, and how a Kubernetes ``Status`` becomes one.

The spec's resource errors carry a few fields at the top level of the body (``valid_kinds``,
``resource_kind``, ``violations``); they are also in ``details`` like every other error's context.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from pilothouse.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    ErrorCode,
    Forbidden,
    Gone,
    NotFound,
    ServiceUnavailable,
    UpstreamError,
)
from pilothouse.kube.ops import ClusterUnavailable, KubeApiError
from pilothouse.kube.resolver import UnknownResourceKind


class InvalidContext(ApiError):
    status_code = 401
    error = "invalid_context"
    code = ErrorCode.UNAUTHORIZED
    default_message = "Kubeconfig context not found or invalid"
    top_level = ("available_contexts",)


class InvalidKind(ApiError):
    status_code = 400
    error = "invalid_kind"
    code = ErrorCode.INVALID_REQUEST
    top_level = ("valid_kinds",)

    @classmethod
    def of(cls, unknown: UnknownResourceKind) -> InvalidKind:
        return cls(str(unknown), details={"kind": unknown.name, "valid_kinds": unknown.valid_kinds})


class ResourceNotFound(NotFound):
    top_level = ("resource_kind", "namespace", "name")


class ResourceValidationFailed(ApiError):
    status_code = 400
    error = "validation_failed"
    code = ErrorCode.VALIDATION_ERROR
    default_message = "Resource validation failed"
    top_level = ("violations",)


class KubernetesApiError(UpstreamError):
    error = "kubernetes_api_error"


def _violations(error: KubeApiError) -> list[dict[str, str]]:
    return [
        {
            "field": str(cause.get("field") or ""),
            "reason": str(cause.get("reason") or "FieldValueInvalid"),
            "message": str(cause.get("message") or ""),
        }
        for cause in error.causes
    ]


def api_error_from_kube(
    error: KubeApiError,
    *,
    kind: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    selectors: Sequence[str] = (),
) -> ApiError:
    """The Cluster API error for a Status the API server answered.

    ``selectors`` names the selector parameters the request carried (``label_selector``,
    ``field_selector``), so a 400 about one of them gets the spec's specific code.
    """
    details: dict[str, Any] = {
        "kubernetes": {"code": error.status, "reason": error.reason, "message": error.message}
    }
    if kind:
        details["resource_kind"] = kind
    if namespace:
        details["namespace"] = namespace
    if name:
        details["name"] = name
    if error.status == 404:
        what = f"{kind} {namespace + '/' if namespace else ''}{name}" if name else (kind or "resource")
        return ResourceNotFound(f"{what} not found", details=details)
    if error.status == 409:
        if error.reason == "AlreadyExists":
            return AlreadyExists(error.message, details=details)
        return Conflict(error.message, details=details)
    if error.status == 422 or error.reason == "Invalid":
        details["violations"] = _violations(error)
        return ResourceValidationFailed(error.message, details=details)
    if error.status == 400:
        lowered = error.message.lower()
        if "field_selector" in selectors and ("field" in lowered or "label_selector" not in selectors):
            return BadRequest(error.message, error="invalid_field_selector", details=details)
        if "label_selector" in selectors:
            return BadRequest(error.message, error="invalid_label_selector", details=details)
        return BadRequest(error.message, error="invalid_parameter", details=details)
    if error.status == 403:
        return Forbidden(error.message, details=details)
    if error.status == 410:
        return Gone(error.message, details=details)
    return KubernetesApiError(
        f"The Kubernetes API server answered {error.status}: {error.message}", details=details
    )


def unavailable(error: ClusterUnavailable, cluster_id: str) -> ServiceUnavailable:
    return ServiceUnavailable(str(error), details={"cluster_id": cluster_id})


@contextlib.contextmanager
def kube_errors(
    cluster_id: str,
    *,
    kind: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    selectors: Sequence[str] = (),
) -> Iterator[None]:
    """Turn what a ``ClusterOps`` call may raise into the Cluster API's errors."""
    try:
        yield
    except KubeApiError as error:
        raise api_error_from_kube(
            error, kind=kind, namespace=namespace, name=name, selectors=selectors
        ) from error
    except ClusterUnavailable as error:
        raise unavailable(error, cluster_id) from error
    except UnknownResourceKind as error:
        raise InvalidKind.of(error) from error
