"""Object validation for the simulated API server, faithful to kube-apiserver.

The rules, field paths and messages follow the real code: apimachinery's
``util/validation`` and ``util/validation/field``, ``pkg/apis/{core,apps,batch,
autoscaling,policy,networking}/validation`` and apiextensions' CRD validation.
Errors are collected like a ``field.ErrorList`` and turned into the 422
``Status`` that ``apierrors.NewInvalid`` builds, so kubectl and the Python
client print what they would print against a real cluster.

Validation sees the object as the real server does: after defaulting. Fields
the real defaulters always fill (``protocol``, ``restartPolicy``, ``type``, ...)
are read with their default when absent, so the answer is the same whether or
not the caller defaulted first. Malformed shapes are the decoder's business in
the real server (a 400); here an unparsable quantity or base64 value becomes a
422 cause and other wrong shapes read as absent.

Two parsers live here because other parts of the simulator reuse them:
Kubernetes quantities (``parse_quantity``) and cron schedules (``parse_cron``).
"""

from .cron import CronParseError, CronSchedule, parse_cron
from .errors import FieldCause, InvalidObject
from .formats import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
)
from .quantity import QuantityError, canonical_quantity, parse_quantity
from .registry import validate_create, validate_update

__all__ = [
    "CronParseError",
    "CronSchedule",
    "FieldCause",
    "InvalidObject",
    "QuantityError",
    "canonical_quantity",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_label_value",
    "parse_cron",
    "parse_quantity",
    "validate_create",
    "validate_update",
]
