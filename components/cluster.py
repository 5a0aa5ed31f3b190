"""The `cluster` stack: botstack as swarm services on several VDS (config `botstack:cluster`, docs/cluster.md).

Order: the swarm forms (init on the first manager, the others join with a token that travels on stdin), the
manager labels the nodes that hold the database, the cache and web; then, through a docker provider on the first
manager, the overlay networks, the swarm secrets and the services. Containers are declared from the same
`ContainerSpec`s as on one VDS (components/cluster_services.py maps them onto swarm services).

Each node is provisioned first as the single VDS is (components/server.py, server/provision.sh), in its cluster
mode: no live-restore (swarm refuses it), curl, and the swarm's ports open to the other nodes only.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components import catalogue, placement
from components.app_service import AppServiceArgs, app_container_spec
from components.backups import Backups, BackupsArgs
from components.catalogue import API, APP_SERVICES, BACKEND, BOT, CACHE, DATABASE, EDGE, WEB, Service
from components.cluster_config import ClusterConfig, ClusterNode
from components.cluster_services import (
    CACHE_LABEL,
    DATABASE_LABEL,
    WEB_LABEL,
    HostPort,
    Scheduling,
    SwarmSecretRef,
    label_constraint,
    service_args,
)
from components.cluster_swarm import init_script, join_script, join_token_script, label_script
from components.commands import SECRET_OUTPUTS
from components.config import ConfigError, StackConfig, VdsConfig
from components.config_messages import HEADER
from components.container import DEFAULT_TMPFS, ContainerSpec, Healthcheck, NetworkAttachment, secret_path
from components.deploy_check import DeployCheck, DeployCheckArgs
from components.migrations import Migrations, MigrationsArgs
from components.naming import Naming
from components.placement import local_target
from components.secrets import Secrets, secret
from components.server import (
    Server,
    ServerArgs,
    connection,
    docker_host,
    local_ssh_dir,
    ssh_options,
    write_identity,
    write_ssh_files,
)
from components.stack import HEALTH_PATH, secrets_args
from components.web import HTTP_PORT, Entrypoint, published_ports, web_environment

DATABASE_DATA = "/var/lib/postgresql/data"
CACHE_DATA = "/data"


def build_cluster(config: StackConfig, project: str, stack: str) -> dict[str, Any]:
    """Declare the swarm and the stack's services on it; return the stack outputs."""
    cluster = config.cluster
    if cluster is None or config.ssh_private_key is None:
        raise ValueError("build_cluster needs botstack:cluster and botstack:sshPrivateKey (the config checks both)")
    images = cluster_images(config, stack)
    refuse_pitr(config, stack)
    naming = Naming(project, stack)
    private_key = secret(config.ssh_private_key.get_secret_value())

    servers = {
        name: Server(f"server-{name}", ServerArgs(node_vds(node), config.ssh_private_key, node_provision_options(cluster, name)))
        for name, node in sorted(cluster.nodes.items())
    }
    swarm = Swarm("swarm", cluster, private_key, provisioned=list(servers.values()))
    # The database node keeps the secret files as one VDS does (root-only): the migrations read the database URL
    # there, and the values become the swarm secrets the services mount.
    database_node = servers[cluster.database_node]
    secrets = Secrets(
        "secrets", secrets_args(config, database_node.target), opts=pulumi.ResourceOptions(depends_on=[database_node])
    )
    provider = manager_docker_provider(config, cluster, stack, swarm)
    on_swarm = pulumi.ResourceOptions(provider=provider, depends_on=[swarm])

    labels = [docker.NetworkLabelArgs(label=k, value=v) for k, v in naming.stack_label().items()]
    overlays = {
        role: docker.Network(
            f"network-{role}",
            name=naming.network(role),
            driver="overlay",
            internal=role == BACKEND,
            # the migrations' one-off container joins the backend network beside the services
            attachable=role == BACKEND,
            labels=labels,
            opts=on_swarm,
        )
        for role in (BACKEND, EDGE)
    }
    # a service names its networks by id: swarm stores the id, so a name would read back as a change every time
    networks = {role: cast(pulumi.Output[str], network.id) for role, network in overlays.items()}
    refs = {name: swarm_secret(name, value, naming, on_swarm) for name, value in sorted(secrets.values.items())}

    entrypoint = cluster_entrypoint(config, cluster)
    specs = service_specs(config, naming, images, networks, entrypoint)
    schedules = schedules_of(cluster, entrypoint)

    def declare(name: str, after: Sequence[pulumi.Resource] = ()) -> docker.Service:
        opts = pulumi.ResourceOptions.merge(on_swarm, pulumi.ResourceOptions(depends_on=list(after)))
        return docker.Service(f"service-{name}", service_args(specs[name], naming, schedules[name], refs), opts=opts)

    services = {name: declare(name) for name in (DATABASE.name, CACHE.name)}
    # convergeConfig: the database service's task runs (healthy) before the migrations start
    migrations = Migrations(
        "migrations",
        MigrationsArgs(
            database_node.target,
            images["backend"],
            networks[BACKEND],
            config.resources_for(API.name),
            depends_on=[services[DATABASE.name], secrets],
        ),
        opts=pulumi.ResourceOptions(depends_on=[database_node, swarm]),
    )
    # verified backups as on one VDS, on the node that holds the database's volume (its task runs there)
    Backups(
        "backups",
        BackupsArgs(
            naming, database_node.target, config.backup, config.database, config.telegram_api_url, database_is_service=True
        ),
        opts=pulumi.ResourceOptions(depends_on=[database_node, services[DATABASE.name], secrets]),
    )
    schema_ready = [services[DATABASE.name], services[CACHE.name], migrations]
    # as on one VDS: the bot reads no table, and Caddy holds requests until an API answers, so both start beside
    # the migrations; the API and the worker start on the migrated schema
    for name in specs:
        if name not in services:
            services[name] = declare(name, [] if name in (BOT.name, WEB.name) else schema_ready)
    health_url = config.deploy_check.url or f"{entrypoint.url}{HEALTH_PATH}"
    DeployCheck(
        "deploy-check",
        DeployCheckArgs(
            health_url,
            config.deploy_check.timeout_seconds,
            local_target(stack),
            [service.id for service in services.values()],
            depends_on=[services[WEB.name]],
        ),
    )
    return {
        "profile": config.profile,
        "url": entrypoint.url,
        "healthUrl": health_url,
        "nodes": swarm.node_ids,
        "services": {name: service.name for name, service in services.items()},
        "networks": {role: network.name for role, network in overlays.items()},
        "databaseUrl": secrets.database_url,
        # make backup-now / backup-status run on the node that holds the database (its backups run there); no
        # dockerHost: one node's engine shows only that node's tasks
        **{name: value for name, value in database_node.outputs().items() if name != "dockerHost"},
    }


# ---- the swarm ----------------------------------------------------------------------------------------------------


def node_vds(node: ClusterNode) -> VdsConfig:
    """A node as the single VDS's SSH settings, so the same connection and docker-host helpers serve both."""
    return VdsConfig(host=node.host, port=node.port, user=node.user, host_key=node.host_key)


def node_provision_options(cluster: ClusterConfig, name: str) -> tuple[str, ...]:
    """provision.sh's cluster mode for a node: its role, and every other node's swarm address as a peer."""
    peers = sorted(node.address for other, node in cluster.nodes.items() if other != name)
    return ("--swarm-role", cluster.nodes[name].role, *(arg for peer in peers for arg in ("--swarm-peer", peer)))


def node_labels(cluster: ClusterConfig, name: str) -> dict[str, str]:
    """The user's labels of a node plus the ones that place the database, the cache and web."""
    labels = dict(cluster.nodes[name].labels)
    if name == cluster.database_node:
        labels[DATABASE_LABEL] = "true"
    if name == cluster.cache_home:
        labels[CACHE_LABEL] = "true"
    if name in cluster.publish_on:
        labels[WEB_LABEL] = "true"
    return labels


class Swarm(pulumi.ComponentResource):
    """The nodes as one swarm: init, joins and labels, each an idempotent command over SSH."""

    node_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        cluster: ClusterConfig,
        private_key: pulumi.Input[str],
        provisioned: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("botstack:cluster:Swarm", name, None, opts)
        # every command waits for the nodes' provisioning, said on each command (its own dependencies show it)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(provisioned))
        first = cluster.first_manager
        manager = cluster.nodes[first]
        connections = {n: connection(node_vds(node), node.user, private_key) for n, node in cluster.nodes.items()}

        init = command.remote.Command(
            f"{name}-init-{first}",
            connection=connections[first],
            create=init_script(manager.address, cluster.heartbeat_seconds),
            add_previous_output_in_env=False,
            opts=child,
        )
        tokens = {
            role: command.remote.Command(
                f"{name}-{role}-token",
                connection=connections[first],
                create=join_token_script(role),
                add_previous_output_in_env=False,
                logging=command.remote.Logging.NONE,
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=[init], additional_secret_outputs=SECRET_OUTPUTS)
                ),
            )
            for role in ("manager", "worker")
        }
        self.node_ids = {first: cast(pulumi.Output[str], init.stdout)}
        # managers join one at a time, so raft never waits for two new members at once
        previous: list[pulumi.Resource] = [init]
        for node_name in sorted(cluster.nodes, key=lambda n: (cluster.nodes[n].role != "manager", n)):
            if node_name == first:
                continue
            node = cluster.nodes[node_name]
            join = command.remote.Command(
                f"{name}-join-{node_name}",
                connection=connections[node_name],
                create=join_script(node.address, manager.address),
                stdin=secret(cast(pulumi.Output[str], tokens[node.role].stdout).apply(lambda token: token.strip() + "\n")),
                add_previous_output_in_env=False,
                logging=command.remote.Logging.STDOUT,  # the node id; stdin (the token) is never logged
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(previous))),
            )
            self.node_ids[node_name] = cast(pulumi.Output[str], join.stdout)
            if node.role == "manager":
                previous = [join]
        for node_name in sorted(cluster.nodes):
            labels = node_labels(cluster, node_name)
            if labels:
                command.remote.Command(
                    f"{name}-labels-{node_name}",
                    connection=connections[first],
                    create=self.node_ids[node_name].apply(_labelling(labels)),
                    add_previous_output_in_env=False,
                    opts=child,
                )
        self.register_outputs({"nodeIds": self.node_ids})


def _labelling(labels: dict[str, str]) -> Callable[[str], str]:
    """The label script for a node id (the stdout of its membership command)."""

    def script(node_id: str) -> str:
        return label_script(node_id.strip(), labels)

    return script


def manager_docker_provider(config: StackConfig, cluster: ClusterConfig, stack: str, swarm: Swarm) -> docker.Provider:
    """The docker provider on the first manager's engine, over `ssh://` with the host key pinned (as on one VDS)."""
    assert config.ssh_private_key is not None
    vds = node_vds(cluster.nodes[cluster.first_manager])
    ssh_dir = local_ssh_dir(placement.REPO_ROOT, stack)
    write_ssh_files(vds, ssh_dir)
    write_identity(config.ssh_private_key.get_secret_value(), ssh_dir)
    return docker.Provider(
        "cluster-docker",
        docker.ProviderArgs(host=docker_host(vds), ssh_opts=ssh_options(ssh_dir)),
        opts=pulumi.ResourceOptions(depends_on=[swarm]),
    )


# ---- secrets ------------------------------------------------------------------------------------------------------


def secret_data(value: str) -> str:
    """A swarm secret's `data` input: standard base64 of the value (what the provider decodes)."""
    return base64.b64encode(value.encode()).decode()


def swarm_secret(name: str, value: pulumi.Output[str], naming: Naming, opts: pulumi.ResourceOptions) -> SwarmSecretRef:
    """One swarm secret. Swarm secrets are immutable: a new value is a new secret (auto-named, so it is created
    before the old one is deleted) and the services that mount it roll onto it."""
    resource = docker.Secret(
        f"secret-{name.replace('.', '-')}",
        data=secret(value.apply(secret_data)),
        labels=[docker.SecretLabelArgs(label=k, value=v) for k, v in naming.stack_label().items()],
        opts=opts,
    )
    return SwarmSecretRef(cast(pulumi.Output[str], resource.id), cast(pulumi.Output[str], resource.name))


# ---- services -----------------------------------------------------------------------------------------------------


def cluster_images(config: StackConfig, stack: str) -> dict[str, str]:
    """Every node pulls the same pinned images: none is built on a node."""
    images = config.images
    refs = {name: images.app_image(name) for name in ("backend", "web")}
    missing = [name for name, ref in refs.items() if ref is None]
    if missing:
        raise ConfigError(
            f"{HEADER.format(stack=stack)}\n- botstack:images.repository: is required with cluster (every node pulls "
            f"the {' and '.join(missing)} image; nothing is built on a node).\n"
            f"  fix: pulumi config set -s {stack} --path 'botstack:images.repository' ghcr.io/acme/botstack; "
            f"pulumi config set -s {stack} --path 'botstack:images.tag' sha-1a2b3c4"
        )
    return {"backend": str(refs["backend"]), "web": str(refs["web"]), "postgres": images.postgres, "redis": images.redis}


def refuse_pitr(config: StackConfig, stack: str) -> None:
    """Point-in-time recovery needs pgBackRest in the database's image and pitr.sh working on a fixed container
    name: neither is there on a cluster yet (docs/cluster.md), so turning it on is an error, not a silent no-op."""
    if config.pitr is not None:
        raise ConfigError(
            f"{HEADER.format(stack=stack)}\n- botstack:backup.pitr.enabled: point-in-time recovery is not available on a "
            "cluster yet (the verified dumps are).\n"
            f"  fix: pulumi config rm -s {stack} --path 'botstack:backup.pitr.enabled'"
        )


def cluster_entrypoint(config: StackConfig, cluster: ClusterConfig) -> Entrypoint:
    """web on the named nodes: 80 (and 443 with a domain) public on each."""
    first_edge = cluster.nodes[cluster.publish_on[0]]
    return Entrypoint(
        url=f"https://{config.domain}" if config.domain else f"http://{first_edge.host}",
        https=bool(config.domain),
        public=True,
        http_port=HTTP_PORT,
        domain=config.domain,
        acme_email=config.acme_email,
        acme_ca=config.acme_ca,
    )


def service_specs(
    config: StackConfig,
    naming: Naming,
    images: Mapping[str, str],
    networks: Mapping[str, pulumi.Input[str]],
    entrypoint: Entrypoint,
) -> dict[str, ContainerSpec]:
    """The container of every service of the profile, as on one VDS (the app services' from the same function)."""
    db = config.database
    ping = f'REDISCLI_AUTH="$(cat {secret_path(catalogue.REDIS_PASSWORD)})" redis-cli -h 127.0.0.1 ping | grep -q PONG'
    specs = {
        DATABASE.name: ContainerSpec.of(
            DATABASE,
            image=images["postgres"],
            envs={
                "POSTGRES_USER": db.user,
                "POSTGRES_DB": db.name,
                "POSTGRES_PASSWORD_FILE": secret_path(catalogue.DB_PASSWORD),
                "PGDATA": DATABASE_DATA,
            },
            secret_files={name: name for name in DATABASE.secrets},
            volumes={DATABASE_DATA: naming.volume(DATABASE.name)},
            tmpfs={**DEFAULT_TMPFS, "/var/run/postgresql": "rw,nosuid,size=8m"},
            healthcheck=Healthcheck(
                ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", db.user, "-d", db.name], interval="1s", retries=50
            ),
            networks=[NetworkAttachment(networks[BACKEND], DATABASE.aliases_on(BACKEND))],
            resources=config.resources_for(DATABASE.name),
            logging=config.logging,
        ),
        CACHE.name: ContainerSpec.of(
            CACHE,
            image=images["redis"],
            command=["redis-server", secret_path(catalogue.REDIS_CONF)],
            secret_files={name: name for name in CACHE.secrets},
            volumes={CACHE_DATA: naming.volume(CACHE.name)},
            healthcheck=Healthcheck(["CMD-SHELL", ping], interval="1s", retries=50),
            networks=[NetworkAttachment(networks[BACKEND], CACHE.aliases_on(BACKEND))],
            resources=config.resources_for(CACHE.name),
            logging=config.logging,
        ),
    }
    for service in APP_SERVICES:
        if service.name in config.services():
            specs[service.name] = app_container_spec(app_args(config, service, naming, images["backend"], networks))
    specs[WEB.name] = ContainerSpec.of(
        WEB,
        image=images["web"],
        envs=web_environment(entrypoint, config.proxy),
        volumes={"/data": naming.volume(WEB.name)},
        tmpfs={**DEFAULT_TMPFS, "/config": "rw,noexec,nosuid,size=8m"},
        healthcheck=Healthcheck(
            ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{HTTP_PORT}/healthz"], interval="1s", retries=50
        ),
        networks=[NetworkAttachment(networks[EDGE], WEB.aliases_on(EDGE))],
        resources=config.resources_for(WEB.name),
        logging=config.logging,
    )
    return specs


def app_args(
    config: StackConfig, service: Service, naming: Naming, image: str, networks: Mapping[str, pulumi.Input[str]]
) -> AppServiceArgs:
    """An app service's args as on one VDS, with its secrets as swarm secrets (mounted by name, no file on a host)."""
    bot_settings = {"TELEGRAM_API_URL": config.telegram_api_url, "API_URL": f"http://{API.address}"}
    return AppServiceArgs(
        service=service,
        naming=naming,
        image=image,
        networks=networks,
        secret_files={name: name for name in service.secrets},
        secrets_revision="",
        resources=config.resources_for(service.name),
        logging=config.logging,
        environment=bot_settings if service is BOT else {},
    )


def schedules_of(cluster: ClusterConfig, entrypoint: Entrypoint) -> dict[str, Scheduling]:
    """How many tasks of each service run where, and how they are replaced (the catalogue's `overlaps`)."""
    return {
        DATABASE.name: Scheduling(1, "stop-first", constraints=[label_constraint(DATABASE_LABEL)]),
        CACHE.name: Scheduling(1, "stop-first", constraints=[label_constraint(CACHE_LABEL)]),
        API.name: Scheduling(cluster.api_replicas, "start-first"),
        catalogue.WORKER.name: Scheduling(cluster.worker_replicas, "start-first"),
        # Telegram answers a second getUpdates poller 409 Conflict: one bot, the old one gone before the new starts
        BOT.name: Scheduling(1, "stop-first"),
        # one web per named node; a host port is held by one task of a node, so the old one stops first
        WEB.name: Scheduling(
            len(cluster.publish_on),
            "stop-first",
            constraints=[label_constraint(WEB_LABEL)],
            max_per_node=1,
            ports=[HostPort(port.internal, port.external) for port in published_ports(entrypoint)],
        ),
    }
