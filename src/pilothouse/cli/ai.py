"""`pilothouse investigate` and `pilothouse actions`: the AI core from a terminal, over the API.

They talk to a running server like any client: PILOTHOUSE_URL and PILOTHOUSE_API_KEY (what
`pilothouse demo` writes to .pilothouse/demo.env), or --url and --api-key.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import httpx
import typer

UrlOption = Annotated[str, typer.Option("--url", envvar="PILOTHOUSE_URL", help="The server's URL.")]
KeyOption = Annotated[str, typer.Option("--api-key", envvar="PILOTHOUSE_API_KEY", help="An API key or JWT.")]
ClusterOption = Annotated[str | None, typer.Option("--cluster", help="Cluster id (default: the server's).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]

actions_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="List, approve and reject AI-proposed actions."
)


def _client(url: str, key: str, cluster: str | None = None) -> httpx.Client:
    headers = {"X-API-Key": key}
    if cluster:
        headers["X-Kubeconfig-Context"] = cluster
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60)


def _checked(response: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"message": response.text}
    if response.status_code >= 400:
        typer.echo(
            f"error {response.status_code} {body.get('error', '')}: {body.get('message', '')}", err=True
        )
        raise typer.Exit(1)
    return body


def _print_action(action: dict[str, Any]) -> None:
    resource = action["resource"]
    where = f"{resource['kind']} {resource.get('namespace') or ''}/{resource['name']}".replace(" /", " ")
    columns = f"{action['status']:9}  {action['severity']:8}  {action['action_type']:15}"
    typer.echo(f"{action['action_id']}  {columns}  {where}")
    typer.echo(f"    {action['title']}")
    for path, change in (action.get("changes") or {}).items():
        typer.echo(f"    {path}: {json.dumps(change.get('current'))} -> {json.dumps(change.get('proposed'))}")
    risk = action.get("risk_assessment") or {}
    if risk.get("approval_reason"):
        typer.echo(f"    approval: {risk['approval_reason']}")


def investigate_command(
    target: Annotated[str, typer.Argument(help="KIND/NAME, e.g. deployment/indexer or pod/web-1")],
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="The resource's namespace.")
    ] = "default",
    cluster: ClusterOption = None,
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = "",
    wait: Annotated[float, typer.Option(help="Seconds to wait for the result.")] = 120.0,
    as_json: JsonOption = False,
) -> None:
    """Investigate a resource and print the diagnosis and the actions it proposes."""
    kind, _, name = target.partition("/")
    if not kind or not name:
        raise typer.BadParameter("expected KIND/NAME, e.g. deployment/indexer")
    with _client(url, api_key, cluster) as client:
        started = _checked(
            client.post(
                "/api/v1/ai/investigate",
                json={"resource_kind": kind, "namespace": namespace, "resource_name": name},
            )
        )
        deadline = time.monotonic() + wait
        body = started
        while body["status"] in ("pending", "in_progress") and time.monotonic() < deadline:
            time.sleep(0.25)
            body = _checked(client.get(f"/api/v1/ai/investigations/{started['investigation_id']}"))
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    verdict = f"severity={body.get('severity')}  cause={body.get('top_cause')}"
    typer.echo(f"{body['investigation_id']}: {body['status']}  {verdict}")
    if body.get("error"):
        typer.echo(f"error: {body['error']}")
    if body.get("findings_summary"):
        typer.echo("")
        typer.echo(body["findings_summary"])
    for recommendation in body.get("recommendations") or []:
        typer.echo(f"  {recommendation['priority']}. {recommendation['action']}: {recommendation['details']}")
    if body.get("actions"):
        typer.echo("\nProposed actions (pilothouse actions approve ID):")
        for action in body["actions"]:
            _print_action(action)


@actions_app.command("list", help="Actions waiting for approval.")
def list_actions(
    investigation: Annotated[
        str | None, typer.Option("--investigation", help="Only this investigation's.")
    ] = None,
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = "",
    as_json: JsonOption = False,
) -> None:
    params = {"investigation_id": investigation} if investigation else {}
    with _client(url, api_key) as client:
        body = _checked(client.get("/api/v1/ai/actions/pending", params=params))
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    if not body["pending_actions"]:
        typer.echo("No actions are waiting for approval.")
    for action in body["pending_actions"]:
        _print_action(action)


@actions_app.command("show", help="One action with its history.")
def show_action(action_id: str, url: UrlOption = "http://127.0.0.1:8080", api_key: KeyOption = "") -> None:
    with _client(url, api_key) as client:
        typer.echo(json.dumps(_checked(client.get(f"/api/v1/ai/actions/{action_id}")), indent=2))


@actions_app.command("approve", help="Approve an action: it is dry-run, applied, then verified.")
def approve_action(
    action_id: str,
    notes: Annotated[str | None, typer.Option("--notes", help="Why it was approved.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for verification (0: do not wait).")] = 0.0,
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = "",
) -> None:
    with _client(url, api_key) as client:
        body = _checked(
            client.post(f"/api/v1/ai/actions/{action_id}/approve", json={"approval_notes": notes})
        )
        typer.echo(f"{action_id}: approved by {body.get('approved_by')}; {body.get('execution_status')}")
        deadline = time.monotonic() + wait
        while body["status"] in ("executing", "applied") and time.monotonic() < deadline:
            time.sleep(1)
            body = _checked(client.get(f"/api/v1/ai/actions/{action_id}"))
    if wait:
        typer.echo(f"{action_id}: {body['status']}  {(body.get('history') or [{}])[-1].get('note', '')}")


@actions_app.command("reject", help="Reject an action.")
def reject_action(
    action_id: str,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = "",
) -> None:
    with _client(url, api_key) as client:
        body = _checked(client.post(f"/api/v1/ai/actions/{action_id}/reject", json={"reason": reason}))
    typer.echo(f"{action_id}: {body['status']}")
