"""Cluster identifiers (Kubently: ``^[a-z0-9][a-z0-9-]*[a-z0-9]$``)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

CLUSTER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"
CLUSTER_ID_MAX_LENGTH = 63
_CLUSTER_ID = re.compile(CLUSTER_ID_PATTERN.strip("^$"))

ClusterId = Annotated[
    str,
    Field(
        pattern=CLUSTER_ID_PATTERN,
        max_length=CLUSTER_ID_MAX_LENGTH,
        description="Lowercase letters, digits and inner hyphens",
        examples=["production-cluster-1"],
    ),
]


def is_valid_cluster_id(value: str) -> bool:
    return len(value) <= CLUSTER_ID_MAX_LENGTH and _CLUSTER_ID.fullmatch(value) is not None
