"""Serving a SimCluster over HTTP(S) with uvicorn, and the kubeconfig that points at it."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pilothouse.sim.apiserver import ApiServer
from pilothouse.sim.cluster import SimCluster

CONTEXT_NAME = "pilothouse-sim"


@dataclass(frozen=True)
class TlsFiles:
    ca_pem: bytes
    cert_path: Path
    key_path: Path


def generate_tls(directory: Path, hosts: list[str]) -> TlsFiles:
    """A fresh CA and a server certificate for `hosts`, valid for a year."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pilothouse-sim-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "apiserver.crt", directory / "apiserver.key"
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    (directory / "ca.crt").write_bytes(ca_pem)
    return TlsFiles(ca_pem, cert_path, key_path)


def kubeconfig_document(
    server_url: str, *, token: str | None, ca_pem: bytes | None, namespace: str = "default"
) -> dict[str, object]:
    cluster: dict[str, object] = {"server": server_url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user: dict[str, object] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": CONTEXT_NAME, "cluster": cluster}],
        "users": [{"name": CONTEXT_NAME, "user": user}],
        "contexts": [
            {
                "name": CONTEXT_NAME,
                "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT_NAME,
    }


def write_kubeconfig(path: Path, server_url: str, *, token: str | None, ca_pem: bytes | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(kubeconfig_document(server_url, token=token, ca_pem=ca_pem), sort_keys=False)
    )
    path.chmod(0o600)
    return path


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SimServer:
    """A running API server for a cluster: `async with SimServer(cluster) as server: server.url`."""

    def __init__(
        self,
        cluster: SimCluster,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        token: str | None = None,
        kubeconfig_out: Path | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.cluster = cluster
        self.host = host
        self.port = port or _free_port(host)
        self.token = token
        self._tls = tls
        self._state_dir = state_dir
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self.kubeconfig_path = kubeconfig_out
        self.tls_files: TlsFiles | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._state_dir is None:
            self._temp = tempfile.TemporaryDirectory(prefix="pilothouse-sim-")
            self._state_dir = Path(self._temp.name)
        if self._tls:
            self.tls_files = generate_tls(
                self._state_dir / "pki", sorted({self.host, "127.0.0.1", "localhost"})
            )
        if self.kubeconfig_path is None:
            self.kubeconfig_path = self._state_dir / "kubeconfig"
        write_kubeconfig(
            self.kubeconfig_path,
            self.url,
            token=self.token,
            ca_pem=self.tls_files.ca_pem if self.tls_files else None,
        )
        app = ApiServer(self.cluster).build_app(token=self.token)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            access_log=False,
            ssl_certfile=str(self.tls_files.cert_path) if self.tls_files else None,
            ssl_keyfile=str(self.tls_files.key_path) if self.tls_files else None,
        )
        self._server = uvicorn.Server(config)
        await self.cluster.start()
        self._task = asyncio.create_task(self._server.serve(), name="sim-apiserver")
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        # End watches first: uvicorn waits for open streaming responses before it exits.
        self.cluster.store.close_watchers()
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except TimeoutError:
                if self._server is not None:
                    self._server.force_exit = True
                await self._task
        await self.cluster.stop()
        if self._temp is not None:
            self._temp.cleanup()

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
