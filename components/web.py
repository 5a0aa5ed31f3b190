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

from components import container
from components.catalogue import API, EDGE, WEB
from components.config import LoggingConfig, ProxyConfig, ServiceResources, StackConfig
from components.naming import Naming

HTTP_PORT = WEB.listening_port
HTTPS_PORT = 443
# Mounted like a secret file (read-only from the Docker host) although a CA root is public.
ACME_CA_ROOT_FILE = "acme-ca-root.pem"


@dataclass(frozen=True)
class Entrypoint:
    """Where users reach the stack and how: decided once from the config (`Entrypoint.of`)."""

    url: str
    https: bool  # Caddy serves HTTPS for `domain`: in prod, or in dev when 443 is published (`ports.webHttps`)
    public: bool  # on the VDS: 80 (and 443 with a domain) on every address
    http_port: int  # dev: the host port of HTTP on 127.0.0.1
    https_port: int | None = None  # dev: the host port of HTTPS on 127.0.0.1
    domain: str | None = None
    acme_email: str | None = None
    acme_ca: str | None = None
    acme_ca_root: str | None = None  # a file on the Docker host

    @classmethod
    def of(cls, config: StackConfig) -> Entrypoint:
        public = config.on_vds
        https = bool(config.domain) and (public or config.ports.web_https is not None)
        if public and config.domain:
            url = f"https://{config.domain}"
        elif config.vds is not None:
            url = f"http://{config.vds.host}"
        else:
            url = f"http://127.0.0.1:{config.ports.web}"
        return cls(
            url=url,
            https=https,
            public=public,
            http_port=config.ports.web,
            https_port=config.ports.web_https,
            domain=config.domain,
            acme_email=config.acme_email,
            acme_ca=config.acme_ca,
            acme_ca_root=config.acme_ca_root,
        )


@dataclass(frozen=True)
class WebFrontendArgs:
    naming: Naming
    image: pulumi.Input[str]
    edge_network: pulumi.Input[str]
    entrypoint: Entrypoint
    proxy: ProxyConfig
    resources: ServiceResources
    logging: LoggingConfig
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class WebFrontend(pulumi.ComponentResource):
    container_name: pulumi.Output[str]
    public_url: str
    container: docker.Container

    def __init__(self, name: str, args: WebFrontendArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(WEB.component_type, name, None, opts)
        entrypoint, naming = args.entrypoint, args.naming
        # Certificates and ACME account: kept across replacements so renewals don't hit rate limits.
        volume = container.data_volume(name, WEB.name, naming, self, protect=entrypoint.public)
        # `domain` as an alias too: containers on the edge network (an ACME server validating the domain in
        # the e2e suite, a bot calling its own site) reach web by its public name without leaving the host.
        aliases = WEB.aliases_on(EDGE) + ([entrypoint.domain] if entrypoint.domain else [])
        spec = container.ContainerSpec.of(
            WEB,
            image=args.image,
            envs=web_environment(entrypoint, args.proxy),
            secret_files={ACME_CA_ROOT_FILE: entrypoint.acme_ca_root} if entrypoint.acme_ca_root else {},
            volumes={"/data": volume.name},
            tmpfs={**container.DEFAULT_TMPFS, "/config": "rw,noexec,nosuid,size=8m"},
            # every second (the shared default is 5 s): `up` waits for web last, so this is time every apply waits
            healthcheck=container.Healthcheck(
                ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{HTTP_PORT}/healthz"], interval="1s", retries=50
            ),
            networks=[container.NetworkAttachment(args.edge_network, aliases)],
            ports=published_ports(entrypoint),
            resources=args.resources,
            logging=args.logging,
        )
        self.container = container.hardened_container(name, spec, naming, self, [volume, *args.depends_on])
        self.container_name = cast(pulumi.Output[str], self.container.name)
        self.public_url = entrypoint.url
        self.register_outputs({"containerName": self.container_name, "publicUrl": self.public_url})


def web_environment(entrypoint: Entrypoint, proxy: ProxyConfig) -> dict[str, pulumi.Input[str]]:
    """The web image's settings (app/web/Caddyfile reads them)."""
    https = entrypoint.https
    return {
        "SITE_ADDRESS": entrypoint.domain if https and entrypoint.domain else f":{HTTP_PORT}",
        "ACME_EMAIL": entrypoint.acme_email or "",
        "ACME_CA_OPTION": f"acme_ca {entrypoint.acme_ca}" if entrypoint.acme_ca else "",
        "ACME_CA_ROOT_OPTION": f"acme_ca_root {container.secret_path(ACME_CA_ROOT_FILE)}" if entrypoint.acme_ca_root else "",
        # Plain HTTP to 127.0.0.1 serves the app where that is the local entrypoint; where port 80 is public and
        # redirects to HTTPS, only the healthcheck.
        "LOOPBACK_SERVES": "health" if https and entrypoint.public else "app",
        "API_UPSTREAM": API.address,
        "LB_TRY_DURATION": proxy.lb_try_duration,
        "LB_TRY_INTERVAL": proxy.lb_try_interval,
    }


def published_ports(entrypoint: Entrypoint) -> list[container.PublishedPort]:
    """dev: ports on 127.0.0.1. prod: 80 (and 443 with a domain) on every address: the public entrypoint."""
    if not entrypoint.public:
        ports = [container.PublishedPort(HTTP_PORT, entrypoint.http_port)]
        if entrypoint.https and entrypoint.https_port is not None:
            ports.append(container.PublishedPort(HTTPS_PORT, entrypoint.https_port))
        return ports
    ports = [container.PublishedPort(HTTP_PORT, HTTP_PORT, ip="0.0.0.0")]  # noqa: S104 - the public entrypoint
    if entrypoint.domain:
        ports.append(container.PublishedPort(HTTPS_PORT, HTTPS_PORT, ip="0.0.0.0"))  # noqa: S104
    return ports
