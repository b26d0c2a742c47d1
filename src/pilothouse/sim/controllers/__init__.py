"""The cluster's controllers, in the order they are registered.

Order matters twice: admission checks run in registration order (the default StorageClass is
set on a claim before quota counts it), and controllers registered earlier react first to the
same change, which keeps a scenario's history deterministic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pilothouse.sim.controllers.autoscaler import HorizontalPodAutoscalerController
from pilothouse.sim.controllers.crd import CustomResourceDefinitionController
from pilothouse.sim.controllers.cronjob import CronJobController
from pilothouse.sim.controllers.daemonset import DaemonSetController
from pilothouse.sim.controllers.deployment import DeploymentController
from pilothouse.sim.controllers.disruption import DisruptionController
from pilothouse.sim.controllers.endpoints import EndpointsController, EndpointSliceController
from pilothouse.sim.controllers.garbage import GarbageCollector
from pilothouse.sim.controllers.job import JobController
from pilothouse.sim.controllers.namespaces import NamespaceController
from pilothouse.sim.controllers.nodes import NodeLifecycleController
from pilothouse.sim.controllers.quota import ResourceQuotaController
from pilothouse.sim.controllers.replicaset import ReplicaSetController
from pilothouse.sim.controllers.scheduler import Scheduler
from pilothouse.sim.controllers.serviceaccounts import ServiceAccountsController
from pilothouse.sim.controllers.statefulset import StatefulSetController
from pilothouse.sim.controllers.volumes import DynamicProvisioner, PersistentVolumeController

if TYPE_CHECKING:
    from pilothouse.sim.cluster import ControllerFactory

DEFAULT_CONTROLLERS: list[ControllerFactory] = [
    CustomResourceDefinitionController,
    ServiceAccountsController,
    PersistentVolumeController,
    DynamicProvisioner,
    ResourceQuotaController,
    DeploymentController,
    ReplicaSetController,
    StatefulSetController,
    DaemonSetController,
    JobController,
    CronJobController,
    Scheduler,
    GarbageCollector,
    NamespaceController,
    EndpointsController,
    EndpointSliceController,
    DisruptionController,
    HorizontalPodAutoscalerController,
    NodeLifecycleController,
]
