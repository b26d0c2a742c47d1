"""CustomResourceDefinitions: a custom resource is served as soon as its CRD exists."""

from __future__ import annotations

from tests.sim.e2e.conftest import Sim

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: backups.ops.example.com
spec:
  group: ops.example.com
  scope: Namespaced
  names: {plural: backups, singular: backup, kind: Backup, shortNames: [bk]}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
      subresources: {status: {}}
      additionalPrinterColumns:
        - {name: Schedule, type: string, jsonPath: .spec.schedule}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
"""

BACKUP = """
apiVersion: ops.example.com/v1
kind: Backup
metadata: {name: nightly}
spec: {schedule: "0 3 * * *", target: postgres}
"""


async def test_crd_serves_its_resource_with_printer_columns(sim: Sim) -> None:
    assert (await sim.kubectl("apply", "-f", "-", stdin=CRD)).stdout.startswith(
        "customresourcedefinition.apiextensions.k8s.io/backups.ops.example.com created"
    )
    established = await sim.kubectl(
        "get",
        "crd",
        "backups.ops.example.com",
        "-o",
        "jsonpath={.status.conditions[?(@.type=='Established')].status}",
    )
    assert established.stdout == "True"
    resources = (await sim.kubectl("api-resources", "--api-group=ops.example.com")).stdout
    assert "backups" in resources and "bk" in resources
    assert (
        await sim.kubectl("apply", "-f", "-", stdin=BACKUP)
    ).stdout.strip() == "backup.ops.example.com/nightly created"
    table = (await sim.kubectl("get", "bk")).stdout.splitlines()
    assert table[0].split() == ["NAME", "SCHEDULE", "AGE"]
    assert table[1].split()[:6] == ["nightly", "0", "3", "*", "*", "*"]
    patched = await sim.kubectl(
        "patch", "backup", "nightly", "--type=merge", "-p", '{"spec":{"target":"mysql"}}'
    )
    assert "patched" in patched.stdout
    assert (await sim.kubectl("get", "backup", "nightly", "-o", "jsonpath={.spec.target}")).stdout == "mysql"
    strategic = await sim.kubectl("patch", "backup", "nightly", "-p", '{"spec":{"target":"x"}}', check=False)
    assert strategic.returncode == 1  # kubectl defaults to strategic merge, which custom resources refuse


async def test_deleting_the_crd_removes_the_resource_and_its_objects(sim: Sim) -> None:
    await sim.kubectl("apply", "-f", "-", stdin=CRD)
    await sim.kubectl("apply", "-f", "-", stdin=BACKUP)
    await sim.kubectl("delete", "crd", "backups.ops.example.com")
    missing = await sim.kubectl("get", "backups.ops.example.com", check=False)
    assert missing.returncode == 1
    assert sim.cluster.store.count(("ops.example.com", "backups")) == 0
