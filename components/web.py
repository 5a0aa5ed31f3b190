"""WebFrontend: Caddy serving the static site and proxying /api to the API; HTTPS for `domain` in prod.

The certificate comes from Let's Encrypt, or from the ACME server `acmeCa` (Let's Encrypt's staging server, or a
test CA such as pebble, whose own HTTPS root `acmeCaRoot` is then mounted read-only). Dev serves HTTPS for
`domain` too when `ports.webHttps` publishes 443 (the e2e suite gets a certificate from pebble this way).

Caddy reaches the API by its network alias `api`, which Docker's DNS answers with every API container: during
an update the new one (already healthy) and the old one (draining). A request that meets the old one as it
stops is retried (`proxy.lbTryDuration`), so an update through the web entrypoint fails no request
(docs/rollout.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_docker as docker

from components.app_service import API_PORT, APP_USER
from components.config import StackConfig
from components.container import (
    DEFAULT_TMPFS,
    ContainerSpec,
    Healthcheck,
    NetworkAttachment,
    PublishedPort,
    data_volume,
    hardened_container,
    secret_path,
)
from components.naming import Naming

HTTP_PORT = 80
HTTPS_PORT = 443
GRACE_SECONDS = 10
# Mounted like a secret file (read-only from the Docker host) although a CA root is public.
ACME_CA_ROOT_FILE = "acme-ca-root.pem"


@dataclass(frozen=True)
class WebFrontendArgs:
    config: StackConfig
    naming: Naming
    image: pulumi.Input[str]
    edge_network: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class WebFrontend(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    public_url: str
    container: docker.Container

    def __init__(self, name: str, args: WebFrontendArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("botstack:components:WebFrontend", name, None, opts)
        config, naming = args.config, args.naming
        # Certificates and ACME account: kept across replacements so renewals don't hit rate limits.
        volume = data_volume(name, "web", naming, self, protect=config.on_vds)
        spec = ContainerSpec(
            service="web",
            role="web",
            image=args.image,
            user=APP_USER,
            envs=web_environment(config),
            secret_files={ACME_CA_ROOT_FILE: config.acme_ca_root} if config.acme_ca_root else {},
            volumes={"/data": volume.name},
            tmpfs={**DEFAULT_TMPFS, "/config": "rw,noexec,nosuid,size=8m"},
            # every 2 s (the shared default is 5 s): `up` waits for web last, so this is time every apply waits
            healthcheck=Healthcheck(
                ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{HTTP_PORT}/healthz"], interval="2s", retries=25
            ),
            # `domain` as an alias too: containers on the edge network (an ACME server validating the domain in
            # the e2e suite, a bot calling its own site) reach web by its public name without leaving the host.
            networks=[NetworkAttachment(args.edge_network, ["web", *([config.domain] if config.domain else [])])],
            ports=published_ports(config),
            resources=config.resources_for("web"),
            logging=config.logging,
            grace_seconds=GRACE_SECONDS,
        )
        self.container = hardened_container(name, spec, naming, self, [volume, *args.depends_on])
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self.public_url = public_url(config)
        self.register_outputs({"containerName": self.container_name, "publicUrl": self.public_url})


def serves_https(config: StackConfig) -> bool:
    """HTTPS for `domain`: in prod, or in dev when 443 is published (`ports.webHttps`)."""
    return bool(config.domain) and (config.on_vds or config.ports.web_https is not None)


def web_environment(config: StackConfig) -> dict[str, pulumi.Input[str]]:
    """The web image's settings (app/web/Caddyfile reads them)."""
    https = serves_https(config)
    return {
        "SITE_ADDRESS": config.domain if https and config.domain else f":{HTTP_PORT}",
        "ACME_EMAIL": config.acme_email or "",
        "ACME_CA_OPTION": f"acme_ca {config.acme_ca}" if config.acme_ca else "",
        "ACME_CA_ROOT_OPTION": f"acme_ca_root {secret_path(ACME_CA_ROOT_FILE)}" if config.acme_ca_root else "",
        # Plain HTTP to 127.0.0.1 serves the app where that is the local entrypoint; where port 80 is public and
        # redirects to HTTPS, only the healthcheck.
        "LOOPBACK_SERVES": "health" if https and config.on_vds else "app",
        "API_UPSTREAM": f"api:{API_PORT}",
        "LB_TRY_DURATION": config.proxy.lb_try_duration,
        "LB_TRY_INTERVAL": config.proxy.lb_try_interval,
    }


def published_ports(config: StackConfig) -> list[PublishedPort]:
    """dev: ports on 127.0.0.1. prod: 80 (and 443 with a domain) on every address: the public entrypoint."""
    if not config.on_vds:
        ports = [PublishedPort(HTTP_PORT, config.ports.web)]
        if serves_https(config) and config.ports.web_https is not None:
            ports.append(PublishedPort(HTTPS_PORT, config.ports.web_https))
        return ports
    ports = [PublishedPort(HTTP_PORT, HTTP_PORT, ip="0.0.0.0")]  # noqa: S104 - the public entrypoint
    if config.domain:
        ports.append(PublishedPort(HTTPS_PORT, HTTPS_PORT, ip="0.0.0.0"))  # noqa: S104
    return ports


def public_url(config: StackConfig) -> str:
    """Where users reach the stack."""
    if config.on_vds and config.domain:
        return f"https://{config.domain}"
    if config.vds is not None:
        return f"http://{config.vds.host}"
    return f"http://127.0.0.1:{config.ports.web}"
