"""HTTPS for `domain`, with a certificate from a real ACME server: pebble (Let's Encrypt's test CA, Debian's
`pebble` package) in a container on the stack's edge network, reached by Caddy at https://acme-ca:14000/dir
(`acmeCa`, whose own HTTPS certificate is signed by a throwaway root given as `acmeCaRoot`).

Pebble validates for real (no PEBBLE_VA_ALWAYS_VALID): it resolves `domain` through Docker's DNS to the web
container (web's alias on the edge network) and fetches the HTTP-01 or TLS-ALPN-01 answer on its ports 80/443.
"""

from __future__ import annotations

import datetime
import json
import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.devstack import DevStack, NetworkSidecar, free_port, remove_stack_leftovers, wait_until

pytestmark = pytest.mark.e2e

STACK = "e2etls"
DOMAIN = "e2etls.test"
PEBBLE_ALIAS = "acme-ca"
BASE_IMAGE = "botstack-test/debian:bookworm"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_listener_certificates(directory: Path) -> Path:
    """A throwaway root and pebble's HTTPS certificate for `acme-ca` signed by it; returns the root's PEM file."""
    now = datetime.datetime.now(datetime.UTC)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder().subject_name(_name("botstack e2e acme-ca root")).issuer_name(_name("botstack e2e acme-ca root"))
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(_name(PEBBLE_ALIAS)).issuer_name(root.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PEBBLE_ALIAS)]), critical=False)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    (directory / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    root_file = directory / "root.pem"
    root_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return root_file


class Pebble(NetworkSidecar):
    """pebble in a container on the stack's edge network (alias `acme-ca`), started as soon as that network exists,
    before the double creates web (Caddy asks for the certificate as it starts and retries only after a minute)."""

    aliases = [PEBBLE_ALIAS]

    def __init__(self, client: docker.DockerClient, network: str, directory: Path) -> None:
        self.directory = directory
        self.management_port = free_port()
        config = {
            "pebble": {
                "listenAddress": "0.0.0.0:14000",
                "managementListenAddress": "0.0.0.0:15000",
                "certificate": "/pebble/cert.pem",
                "privateKey": "/pebble/key.pem",
                "httpPort": 80,
                "tlsPort": 443,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (directory / "pebble-config.json").write_text(json.dumps(config))
        for path in directory.iterdir():
            path.chmod(0o644)  # read by pebble's unprivileged user
        directory.chmod(0o755)
        super().__init__(client, network, f"botstack-e2e-{STACK}-pebble")

    def create(self) -> docker.models.containers.Container:
        pebble = shutil.which("pebble") or "/usr/bin/pebble"
        return self.client.containers.create(
            BASE_IMAGE,
            ["/usr/local/bin/pebble", "-config", "/pebble/pebble-config.json"],
            name=self.name,
            volumes={
                pebble: {"bind": "/usr/local/bin/pebble", "mode": "ro"},
                str(self.directory): {"bind": "/pebble", "mode": "ro"},
            },
            ports={"15000/tcp": ("127.0.0.1", self.management_port)},
            labels={"botstack.e2e": "1"},
            user="65534:65534",
            # No random 0-5 s wait before each validation, and no deliberately rejected nonces: real checks, faster.
            environment={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
        )

    def management(self, path: str) -> str:
        self.raise_if_failed()
        response = httpx.get(f"https://127.0.0.1:{self.management_port}{path}", verify=False, timeout=5)  # noqa: S501 - pebble's own listener
        response.raise_for_status()
        return response.text

    def issued(self) -> int:
        """How many certificates pebble issued (its log line per issuance)."""
        logs = self.client.containers.get(self.name).logs().decode()
        return logs.count("Issued certificate serial")

    def logs(self) -> str:
        try:
            return self.client.containers.get(self.name).logs().decode()
        except docker.errors.NotFound:
            return "(no pebble container)"


def https_get(port: int, path: str, ca_pem: str) -> tuple[int, x509.Certificate]:
    """GET https://DOMAIN<path> through 127.0.0.1:<port>, verifying the server against ca_pem; (status, peer cert)."""
    context = ssl.create_default_context(cadata=ca_pem)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
        peer = tls.getpeercert(binary_form=True)
    assert peer is not None
    return int(answer.split(b" ", 2)[1]), x509.load_der_x509_certificate(peer)


@pytest.fixture(scope="module")
def tls_stack(real_parts, docker_client, tmp_path_factory) -> Iterator[tuple[DevStack, Pebble, dict[str, Any]]]:
    directory = tmp_path_factory.mktemp("pebble")
    root_file = write_listener_certificates(directory)
    stack = DevStack(docker_client, STACK, "minimal")
    remove_stack_leftovers(docker_client, STACK)
    pebble = Pebble(docker_client, f"botstack-{STACK}-edge", directory)
    config = {
        "domain": DOMAIN,
        "acmeCa": f"https://{PEBBLE_ALIAS}:14000/dir",
        "acmeCaRoot": str(root_file),
        "ports": {"web": stack.web_port, "webHttps": free_port()},
    }
    try:
        stack.up(**config)
        yield stack, pebble, config
    except Exception:
        print(pebble.logs()[-3000:])
        raise
    finally:
        pebble.remove()
        stack.teardown()


def test_https_serves_the_app_with_a_certificate_from_the_acme_server(tls_stack):
    stack, pebble, config = tls_stack
    port = config["ports"]["webHttps"]
    root = pebble.management("/roots/0")
    status, certificate = wait_until(lambda: https_get(port, "/api/health", root), 90, "HTTPS answered with pebble's certificate")
    assert status == 200
    intermediate = x509.load_pem_x509_certificate(pebble.management("/intermediates/0").encode())
    assert certificate.issuer == intermediate.subject
    assert certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == [DOMAIN]
    assert pebble.issued() == 1
    logs = pebble.logs()  # all of it: the validation lines come early, before the order is finalised
    # pebble's validation authority took the challenge for our domain and completed it (no always-valid mode)
    assert f'Identifier:acme.Identifier{{Type:"dns", Value:"{DOMAIN}"}}' in logs, logs[-3000:]
    assert " set VALID by completed challenge " in logs, logs[-3000:]


def test_http_redirects_to_https(tls_stack):
    stack, _, _ = tls_stack
    response = httpx.get(f"{stack.url}/api/health", headers={"Host": DOMAIN}, timeout=10)
    assert response.status_code in (301, 308), response.text
    assert response.headers["location"] == f"https://{DOMAIN}/api/health"


def test_the_certificate_survives_a_replacement_of_the_web_container(tls_stack):
    stack, pebble, config = tls_stack
    port = config["ports"]["webHttps"]
    root = pebble.management("/roots/0")
    _, before = wait_until(lambda: https_get(port, "/api/health", root), 90, "HTTPS answered")
    old_web = stack.container("web").id
    stack.up(**config, proxy={"lbTryDuration": "29s"})  # web's environment changes: a new container
    assert stack.container("web").id != old_web
    status, after = wait_until(lambda: https_get(port, "/api/health", root), 30, "HTTPS answered after the replacement")
    assert status == 200
    assert after.serial_number == before.serial_number
    assert pebble.issued() == 1
