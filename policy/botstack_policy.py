"""botstack's guardrails: the container, swarm service, image and connection rules the Pulumi program must keep.

Every rule is a plain function `check(props, stack) -> list[str]` over one resource's inputs (wire
names in camelCase, as pulumi-policy and the mock runtime give them). They are importable without
starting the policy pack's gRPC server: `policy/__main__.py` wraps them in `ResourceValidationPolicy`s
at MANDATORY level (see `make_policies`), and the unit tests call them directly or through
`validate_all`, which runs every applicable rule over a list of `(type token, props)` pairs.

A value that is unknown during preview (an output of another resource) is neither a pass nor a
violation: rules skip what they cannot see yet; `pulumi up` runs them again with known values.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The labels, the stacks that run on a VDS and the pinning rule are the program's own (components/contract.py:
# standard library only), so the policy and the program can't disagree.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from components.contract import ROLE_LABEL, SERVICE_LABEL, needs_vds, pin_problem  # noqa: E402

CONTAINER = "docker:index/container:Container"
SERVICE = "docker:index/service:Service"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
DOCKER_PROVIDER = "pulumi:providers:docker"
REMOTE_COMMAND_PREFIX = "command:remote:"

NO_PUBLISH_ROLES_IN_PROD = ("database", "cache")
# The only container that may listen on every address, and only on the HTTP(S) ports.
PUBLIC_ROLE = "web"
PUBLIC_PORTS = (80, 443)
ALLOWED_LOG_DRIVERS = ("json-file", "local")


class _Unknown:
    """A value not known yet (preview). Rules skip it."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()

# pulumi-policy's sentinels for unknown values (pulumi_policy/proxy.py); repeated here so the rules
# need nothing but the standard library.
_UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN or (isinstance(value, str) and value in _UNKNOWN_SENTINELS)


Check = Callable[[Mapping[str, Any], str], list[str]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    applies_to: Callable[[str], bool]
    check: Check


# ---- helpers ------------------------------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    if value is None or is_unknown(value):
        return []
    if isinstance(value, str):
        # Provider inputs can arrive JSON-encoded.
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return [value]
        return decoded if isinstance(decoded, list) else [value]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def _map(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and not is_unknown(value):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return decoded if isinstance(decoded, Mapping) else {}
    return {}


def labels(props: Mapping[str, Any]) -> dict[str, str]:
    """Container labels (`[{label, value}]` on the wire; a plain map is accepted too)."""
    raw = props.get("labels")
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    out: dict[str, str] = {}
    for item in _list(raw):
        if isinstance(item, Mapping) and "label" in item:
            out[str(item["label"])] = str(item.get("value", ""))
    return out


def _roles(props: Mapping[str, Any]) -> set[str]:
    """The container's `botstack.role` and `botstack.service` labels (either names a database, cache or web)."""
    found = labels(props)
    return {found[key] for key in (ROLE_LABEL, SERVICE_LABEL) if key in found}


def _is_job(props: Mapping[str, Any]) -> bool:
    """A one-off container (migrate, seed): the provider attaches and waits for it to exit."""
    return props.get("attach") is True


def _missing(props: Mapping[str, Any], key: str) -> bool:
    value = props.get(key)
    if is_unknown(value):
        return False
    return value is None or value == "" or value == 0 or value == "0"


# ---- container rules --------------------------------------------------------------------------------------


def check_resource_limits(props: Mapping[str, Any], stack: str) -> list[str]:
    """memory, memoryReservation and cpus are set (CIS Docker 5.11, 5.12)."""
    out = [f"{key} must be set" for key in ("memory", "memoryReservation", "cpus") if _missing(props, key)]
    memory, reservation = props.get("memory"), props.get("memoryReservation")
    if isinstance(memory, int | float) and isinstance(reservation, int | float) and reservation > memory:
        out.append(f"memoryReservation ({reservation} MB) must not exceed memory ({memory} MB)")
    return out


def check_log_rotation(props: Mapping[str, Any], stack: str) -> list[str]:
    """logDriver is json-file or local, with max-size and max-file (without them json-file grows forever)."""
    driver = props.get("logDriver")
    if is_unknown(driver):
        return []
    if driver not in ALLOWED_LOG_DRIVERS:
        return [f"logDriver must be one of {', '.join(ALLOWED_LOG_DRIVERS)} (got {driver!r})"]
    opts = props.get("logOpts")
    if is_unknown(opts):
        return []
    opts = _map(opts)
    return [f"logOpts must set {key}" for key in ("max-size", "max-file") if not opts.get(key)]


def check_healthcheck(props: Mapping[str, Any], stack: str) -> list[str]:
    """Long-running containers have a healthcheck with a test (CIS Docker 4.6)."""
    if _is_job(props):
        return []
    health = props.get("healthcheck")
    if is_unknown(health):
        return []
    tests = _list(_map(health).get("tests"))
    if not tests or tests[0] == "NONE":
        return ["healthcheck with tests must be set (e.g. ['CMD', 'botstack-healthcheck', 'api'])"]
    if tests[0] not in ("CMD", "CMD-SHELL"):
        return [f"healthcheck.tests must start with CMD or CMD-SHELL (got {tests[0]!r})"]
    if len(tests) < 2:
        return ["healthcheck.tests names no command"]
    return []


def check_no_new_privileges(props: Mapping[str, Any], stack: str) -> list[str]:
    """securityOpts contains no-new-privileges:true (CIS Docker 5.26)."""
    opts = props.get("securityOpts")
    if is_unknown(opts):
        return []
    normalised = {str(o).replace("=", ":").strip() for o in _list(opts)}
    if not normalised & {"no-new-privileges:true", "no-new-privileges"}:
        return ["securityOpts must contain 'no-new-privileges:true'"]
    return []


def check_capabilities(props: Mapping[str, Any], stack: str) -> list[str]:
    """All capabilities are dropped (adds may bring back the few a service needs)."""
    caps = props.get("capabilities")
    if is_unknown(caps):
        return []
    drops = {str(d).upper() for d in _list(_map(caps).get("drops"))}
    if not drops & {"ALL", "CAP_ALL"}:
        return ["capabilities.drops must contain 'ALL'"]
    adds = {str(a).upper().removeprefix("CAP_") for a in _list(_map(caps).get("adds"))}
    forbidden = sorted(adds & {"ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH"})
    if forbidden:
        return [f"capabilities.adds must not add {', '.join(forbidden)}"]
    return []


def check_not_privileged(props: Mapping[str, Any], stack: str) -> list[str]:
    """Never privileged, never the host's namespaces (CIS Docker 5.4, 5.9, 5.15, 5.16)."""
    out = []
    if props.get("privileged") is True:
        out.append("privileged must not be true")
    for key in ("networkMode", "pidMode", "ipcMode", "usernsMode"):
        if props.get(key) == "host":
            out.append(f"{key} must not be 'host'")
    return out


def _is_docker_socket(path: Any) -> bool:
    return isinstance(path, str) and not is_unknown(path) and path.rstrip("/").endswith("docker.sock")


def check_no_docker_socket(props: Mapping[str, Any], stack: str) -> list[str]:
    """The Docker socket is never mounted: it is root on the host (CIS Docker 5.32)."""
    out = []
    for volume in _list(props.get("volumes")):
        volume = _map(volume)
        if _is_docker_socket(volume.get("hostPath")) or _is_docker_socket(volume.get("containerPath")):
            out.append(f"volumes must not mount the Docker socket ({volume.get('hostPath')})")
    for mount in _list(props.get("mounts")):
        mount = _map(mount)
        if _is_docker_socket(mount.get("source")) or _is_docker_socket(mount.get("target")):
            out.append(f"mounts must not mount the Docker socket ({mount.get('source')})")
    return out


def check_non_root_user(props: Mapping[str, Any], stack: str) -> list[str]:
    """user is set and is not root (CIS Docker 4.1). Every botstack image runs as a non-root uid."""
    user = props.get("user")
    if is_unknown(user):
        return []
    if not user:
        return ["user must be set to a non-root uid:gid (e.g. '10001:10001')"]
    name = str(user).split(":", 1)[0].strip()
    if name in ("root", "0"):
        return [f"user must not be root (got {user!r})"]
    return []


def check_restart_policy(props: Mapping[str, Any], stack: str) -> list[str]:
    """Services restart unless-stopped (survives daemon restarts and reboots); jobs never restart."""
    restart = props.get("restart")
    if is_unknown(restart):
        return []
    if _is_job(props):
        if restart not in (None, "", "no"):
            return [f"a one-off container must not restart (restart={restart!r})"]
        return []
    if restart != "unless-stopped":
        return [f"restart must be 'unless-stopped' (got {restart!r})"]
    return []


def _port_ip(port: Mapping[str, Any]) -> Any:
    ip = port.get("ip")
    return "0.0.0.0" if ip in (None, "") else ip  # noqa: S104 - the provider's default, which this rule forbids


def check_published_ports(props: Mapping[str, Any], stack: str) -> list[str]:
    """No port on every address except the web's 80/443; in prod the database and cache publish nothing.

    Docker's published ports bypass ufw, so a port on 0.0.0.0 is open to the internet.
    """
    ports = [_map(p) for p in _list(props.get("ports"))]
    roles = _roles(props)
    out = []
    private = sorted(roles & set(NO_PUBLISH_ROLES_IN_PROD))
    if needs_vds(stack) and private and ports:
        out.append(f"a {private[0]} container must not publish ports in prod")
    for port in ports:
        ip = _port_ip(port)
        if is_unknown(ip):
            continue
        if ip in ("0.0.0.0", "::", "[::]"):  # noqa: S104 - comparing, not binding
            external = port.get("external", port.get("internal"))
            if PUBLIC_ROLE in roles and external in PUBLIC_PORTS:
                continue
            out.append(
                f"port {port.get('internal')} is published on {ip}:{external}; bind it to 127.0.0.1 "
                f"(only the web's {'/'.join(map(str, PUBLIC_PORTS))} may listen on every address)"
            )
    return out


# ---- swarm service rules ---------------------------------------------------------------------------------
# A swarm service (the cluster stack) is a container template: the same hardening, read from its task spec.
# A service always runs on the cluster's VDSs, whatever the stack's name, so it is held to the VDS rules.
# `no-new-privileges` and ulimits have no input in a service's spec (the Engine API's service spec of Docker
# 20.10 has none), so no rule can ask for them.

# Secret files readable by their owner only: swarm's default mode is 0444 (everyone in the container).
SECRET_FILE_PRIVATE_BITS = 0o077


def _shown(value: Any) -> Any:
    """A number as the user wrote it: the wire carries every number as a float (80.0)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _task(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(props.get("taskSpec"))


def _container_spec(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(_task(props).get("containerSpec"))


def _service_roles(props: Mapping[str, Any]) -> set[str]:
    """The roles the service's labels or its containers' labels name."""
    return _roles(props) | _roles(_container_spec(props))


def check_service_resource_limits(props: Mapping[str, Any], stack: str) -> list[str]:
    """Tasks have a memory and CPU limit and a memory reservation no larger than the limit (CIS Docker 5.11, 5.12)."""
    resources = _map(_task(props).get("resources"))
    limits, reservation = _map(resources.get("limits")), _map(resources.get("reservation"))
    out = [
        f"taskSpec.resources.{where}.{key} must be set"
        for where, found, key in (
            ("limits", limits, "memoryBytes"),
            ("limits", limits, "nanoCpus"),
            ("reservation", reservation, "memoryBytes"),
        )
        if _missing(found, key)
    ]
    limit, reserved = limits.get("memoryBytes"), reservation.get("memoryBytes")
    if isinstance(limit, int | float) and isinstance(reserved, int | float) and reserved > limit:
        out.append(f"taskSpec.resources.reservation.memoryBytes ({reserved:.0f}) must not exceed the limit ({limit:.0f})")
    return out


def check_service_log_rotation(props: Mapping[str, Any], stack: str) -> list[str]:
    """Tasks log with json-file or local, with max-size and max-file."""
    log_driver = _task(props).get("logDriver")
    if is_unknown(log_driver):
        return []
    driver = _map(log_driver)
    return [
        f"taskSpec.{message}"
        for message in check_log_rotation({"logDriver": driver.get("name"), "logOpts": driver.get("options")}, stack)
    ]


def check_service_healthcheck(props: Mapping[str, Any], stack: str) -> list[str]:
    """Tasks have a healthcheck: swarm replaces an unhealthy task, and a start-first update waits for health."""
    health = _container_spec(props).get("healthcheck")
    return [f"taskSpec.containerSpec.{message}" for message in check_healthcheck({"healthcheck": health}, stack)]


def check_service_capabilities(props: Mapping[str, Any], stack: str) -> list[str]:
    """Tasks drop ALL capabilities (adds may bring back the few a service needs)."""
    spec = _container_spec(props)
    if is_unknown(spec.get("capDrops")) or is_unknown(spec.get("capAdds")):
        return []
    caps = {"drops": spec.get("capDrops"), "adds": spec.get("capAdds")}
    return [
        message.replace("capabilities.drops", "taskSpec.containerSpec.capDrops").replace(
            "capabilities.adds", "taskSpec.containerSpec.capAdds"
        )
        for message in check_capabilities({"capabilities": caps}, stack)
    ]


def check_service_read_only(props: Mapping[str, Any], stack: str) -> list[str]:
    """Tasks run with a read-only root filesystem (CIS Docker 5.12); they write to volumes and tmpfs mounts."""
    value = _container_spec(props).get("readOnly")
    if is_unknown(value) or value is True:
        return []
    return ["taskSpec.containerSpec.readOnly must be true"]


def check_service_non_root(props: Mapping[str, Any], stack: str) -> list[str]:
    """Tasks run as a non-root user (CIS Docker 4.1)."""
    user = _container_spec(props).get("user")
    return [f"taskSpec.containerSpec.{message}" for message in check_non_root_user({"user": user}, stack)]


def check_service_no_docker_socket(props: Mapping[str, Any], stack: str) -> list[str]:
    """No task mounts the Docker socket: it is root on the node (CIS Docker 5.32)."""
    mounts = _container_spec(props).get("mounts")
    return [f"taskSpec.containerSpec.{message}" for message in check_no_docker_socket({"mounts": mounts}, stack)]


def check_service_restart_policy(props: Mapping[str, Any], stack: str) -> list[str]:
    """Tasks restart on any exit (swarm's default is 'any'; 'none' or 'on-failure' would leave a service short)."""
    policy = _task(props).get("restartPolicy")
    if is_unknown(policy):
        return []
    condition = _map(policy).get("condition")
    if condition in (None, "any") or is_unknown(condition):
        return []
    return [f"taskSpec.restartPolicy.condition must be 'any' (got {condition!r})"]


def check_service_secret_files(props: Mapping[str, Any], stack: str) -> list[str]:
    """Secret files are readable by their owner only (fileMode 0400; swarm's default 0444 lets every user read)."""
    out = []
    for item in _list(_container_spec(props).get("secrets")):
        secret = _map(item)
        mode = secret.get("fileMode")
        if is_unknown(mode):
            continue
        if not isinstance(mode, int | float) or int(mode) & SECRET_FILE_PRIVATE_BITS:
            shown = oct(int(mode)) if isinstance(mode, int | float) else "unset (swarm's default 0o444)"
            out.append(f"secret file {secret.get('fileName')!r} has mode {shown}; set fileMode 0o400")
    return out


def check_service_published_ports(props: Mapping[str, Any], stack: str) -> list[str]:
    """Only web publishes, and only 80/443 in host mode.

    A published port of a service listens on every address of a node (host mode) or of every node (the routing
    mesh, 'ingress', the default), and Docker's published ports bypass ufw: the port is open to the internet.
    """
    ports = [_map(p) for p in _list(_map(props.get("endpointSpec")).get("ports"))]
    web = PUBLIC_ROLE in _service_roles(props)
    out = []
    for port in ports:
        published, mode = _shown(port.get("publishedPort")), port.get("publishMode") or "ingress"
        if is_unknown(published) or is_unknown(mode):
            continue
        if not web or published not in PUBLIC_PORTS:
            out.append(
                f"port {_shown(port.get('targetPort'))} is published on {published or 'a port swarm picks'} of every address; "
                f"only the web's {'/'.join(map(str, PUBLIC_PORTS))} may be published"
            )
        elif mode != "host":
            out.append(f"web's port {published} must be published in host mode (got {mode!r}: the routing mesh)")
    return out


def check_service_image_pinned(props: Mapping[str, Any], stack: str) -> list[str]:
    """Every node pulls the image by its reference: pinned, and app images to an immutable tag or a digest."""
    ref = _container_spec(props).get("image")
    if not isinstance(ref, str) or is_unknown(ref):
        return []
    problem = pin_problem(ref, immutable_app_tags=True)
    return [problem] if problem else []


# ---- images ------------------------------------------------------------------------------------------------

def image_problem(ref: Any, stack: str) -> str | None:
    """Why an image reference is not pinned, or None. `sha256:` image IDs are pinned by definition."""
    if not isinstance(ref, str) or is_unknown(ref):
        return None
    return pin_problem(ref, immutable_app_tags=needs_vds(stack))


def check_remote_image_pinned(props: Mapping[str, Any], stack: str) -> list[str]:
    problem = image_problem(props.get("name"), stack)
    return [problem] if problem else []


def check_container_image_pinned(props: Mapping[str, Any], stack: str) -> list[str]:
    problem = image_problem(props.get("image"), stack)
    return [problem] if problem else []


# ---- connections ------------------------------------------------------------------------------------------


def ssh_options(opts: Iterable[Any]) -> dict[str, str]:
    """`-o Key=Value`, `-oKey=Value`, `-o 'Key Value'` -> {key (lowercase): value}."""
    tokens = [str(t) for t in opts]
    found: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        arg = tokens[i]
        value = None
        if arg == "-o" and i + 1 < len(tokens):
            value, i = tokens[i + 1], i + 2
        elif arg.startswith("-o") and len(arg) > 2:
            value, i = arg[2:], i + 1
        else:
            i += 1
        if value is None:
            continue
        match = re.match(r"^\s*([A-Za-z]+)\s*(?:=|\s)\s*(.*?)\s*$", value)
        if match:
            found[match[1].lower()] = match[2]
    return found


def check_docker_provider_host_key(props: Mapping[str, Any], stack: str) -> list[str]:
    """An ssh:// Docker host pins its host key: StrictHostKeyChecking=yes and a UserKnownHostsFile."""
    host = props.get("host")
    if not isinstance(host, str) or is_unknown(host) or not host.startswith("ssh://"):
        return []
    raw = props.get("sshOpts")
    if is_unknown(raw):
        return []
    opts = ssh_options(_list(raw))
    out = []
    if opts.get("stricthostkeychecking", "").lower() != "yes":
        out.append("sshOpts must contain '-o StrictHostKeyChecking=yes' (never 'no' or 'accept-new')")
    if not opts.get("userknownhostsfile"):
        out.append("sshOpts must contain '-o UserKnownHostsFile=<file with the pinned host key>'")
    return out


def check_remote_command_host_key(props: Mapping[str, Any], stack: str) -> list[str]:
    """command:remote resources pin the host key (without connection.hostKey it is not checked at all)."""
    connection = props.get("connection")
    if is_unknown(connection):
        return []
    out = []
    hops = [("connection", _map(connection))]
    proxy = _map(connection).get("proxy")
    if proxy:
        hops.append(("connection.proxy", _map(proxy)))
    for where, hop in hops:
        key = hop.get("hostKey")
        if is_unknown(key):
            continue
        if not key or not isinstance(key, str) or len(key.split()) < 2:
            out.append(f"{where}.hostKey must pin the server's host key ('ssh-ed25519 AAAA...')")
    return out


# ---- the rule set -------------------------------------------------------------------------------------------


def _is(token: str) -> Callable[[str], bool]:
    return lambda t: t == token


RULES: tuple[Rule, ...] = (
    Rule("container-resource-limits", "Containers set memory, memoryReservation and cpus.",
         _is(CONTAINER), check_resource_limits),
    Rule("container-log-rotation", "Containers log with json-file or local and rotate (max-size, max-file).",
         _is(CONTAINER), check_log_rotation),
    Rule("container-healthcheck", "Long-running containers have a healthcheck.", _is(CONTAINER), check_healthcheck),
    Rule("container-no-new-privileges", "Containers run with no-new-privileges:true.",
         _is(CONTAINER), check_no_new_privileges),
    Rule("container-drop-capabilities", "Containers drop ALL capabilities.", _is(CONTAINER), check_capabilities),
    Rule("container-not-privileged", "Containers are never privileged nor share host namespaces.",
         _is(CONTAINER), check_not_privileged),
    Rule("container-no-docker-socket", "No container mounts the Docker socket.",
         _is(CONTAINER), check_no_docker_socket),
    Rule("container-non-root", "Containers run as a non-root user.", _is(CONTAINER), check_non_root_user),
    Rule("container-restart-policy", "Services restart unless-stopped.", _is(CONTAINER), check_restart_policy),
    Rule("container-published-ports",
         "No published database/cache ports in prod; nothing on 0.0.0.0 but the web's 80/443.",
         _is(CONTAINER), check_published_ports),
    Rule("container-image-pinned", "Containers use pinned images (no 'latest').",
         _is(CONTAINER), check_container_image_pinned),
    Rule("service-resource-limits", "Swarm tasks set memory and CPU limits and a memory reservation.",
         _is(SERVICE), check_service_resource_limits),
    Rule("service-log-rotation", "Swarm tasks log with json-file or local and rotate (max-size, max-file).",
         _is(SERVICE), check_service_log_rotation),
    Rule("service-healthcheck", "Swarm tasks have a healthcheck.", _is(SERVICE), check_service_healthcheck),
    Rule("service-drop-capabilities", "Swarm tasks drop ALL capabilities.", _is(SERVICE), check_service_capabilities),
    Rule("service-read-only-root", "Swarm tasks run with a read-only root filesystem.",
         _is(SERVICE), check_service_read_only),
    Rule("service-non-root", "Swarm tasks run as a non-root user.", _is(SERVICE), check_service_non_root),
    Rule("service-no-docker-socket", "No swarm task mounts the Docker socket.",
         _is(SERVICE), check_service_no_docker_socket),
    Rule("service-restart-policy", "Swarm tasks restart on any exit.", _is(SERVICE), check_service_restart_policy),
    Rule("service-secret-files-private", "Swarm secret files are readable by their owner only (0400).",
         _is(SERVICE), check_service_secret_files),
    Rule("service-published-ports", "Only the web service publishes, 80/443 in host mode.",
         _is(SERVICE), check_service_published_ports),
    Rule("service-image-pinned", "Swarm services use pinned images (app images: sha-<commit> or a digest).",
         _is(SERVICE), check_service_image_pinned),
    Rule("remote-image-pinned", "Pulled images are pinned to a tag other than 'latest' or a digest.",
         _is(REMOTE_IMAGE), check_remote_image_pinned),
    Rule("docker-ssh-host-key-pinned", "An ssh:// Docker provider checks the pinned host key.",
         _is(DOCKER_PROVIDER), check_docker_provider_host_key),
    Rule("remote-command-host-key-pinned", "Remote commands pin the server's host key.",
         lambda t: t.startswith(REMOTE_COMMAND_PREFIX), check_remote_command_host_key),
)


def stack_from_urn(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> stack."""
    match = re.match(r"^urn:pulumi:([^:]+)::", urn)
    if match:
        return match[1]
    return ""


def validate_resource(type_token: str, props: Mapping[str, Any], stack: str) -> list[tuple[str, str]]:
    """Every violation of one resource as (rule name, message)."""
    return [(rule.name, msg) for rule in RULES if rule.applies_to(type_token) for msg in rule.check(props, stack)]


def validate_all(resources: Iterable[Sequence[Any]], stack: str) -> list[str]:
    """Run every rule over `(type token, props)` or `(type token, props, name)` items.

    Returns one line per violation, `<rule>: <type> <name or #index>: <message>`; empty means compliant.
    """
    out = []
    for index, item in enumerate(resources):
        type_token, props = item[0], item[1]
        name = item[2] if len(item) > 2 else f"#{index}"
        for rule_name, message in validate_resource(type_token, props, stack):
            out.append(f"{rule_name}: {type_token} {name}: {message}")
    return out


# ---- the pulumi-policy glue -------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """pulumi-policy's unknown-checking proxies -> plain dicts/lists with UNKNOWN where a value is unknown."""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except Exception as error:  # pulumi_policy.proxy.UnknownValueError
                if type(error).__name__ != "UnknownValueError":
                    raise
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence):
        items = []
        for i in range(len(value)):
            try:
                items.append(plain(value[i]))
            except Exception as error:
                if type(error).__name__ != "UnknownValueError":
                    raise
                items.append(UNKNOWN)
        return items
    return value


def make_policies() -> list[Any]:
    """The rules as pulumi-policy ResourceValidationPolicies at MANDATORY level."""
    import os

    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

    def wrap(rule: Rule) -> Callable[[Any, Callable[..., None]], None]:
        def validate(args: Any, report_violation: Callable[..., None]) -> None:
            if not rule.applies_to(args.resource_type):
                return
            stack = stack_from_urn(args.urn) or os.environ.get("PULUMI_STACK", "")
            for message in rule.check(plain(args.props), stack):
                report_violation(message)

        return validate

    return [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            enforcement_level=EnforcementLevel.MANDATORY,
            validate=wrap(rule),
        )
        for rule in RULES
    ]
