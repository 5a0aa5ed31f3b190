"""Pure mappings from pulumi-docker wire inputs to Docker Engine API bodies (provider-semantics.md §1-3).

Nothing here talks to Docker, so tests/unit/double can check every conversion quickly.
"""

from __future__ import annotations

import base64
import io
import tarfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from .go_format import parse_duration

MB = 1024 * 1024
CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
DEFAULT_PORT_IP = "0.0.0.0"  # noqa: S104 -- the provider's default, reproduced on purpose


class DoubleError(Exception):
    """An error the real provider would report (the double reproduces its text)."""



def memory_fields(i: dict) -> dict[str, int]:
    """memory, memoryReservation and memorySwap (MB; a swap of -1 passes through) as HostConfig fields."""
    out: dict[str, int] = {}
    if "memory" in i:
        out["Memory"] = _int(i["memory"]) * MB
    if "memoryReservation" in i:
        out["MemoryReservation"] = _int(i["memoryReservation"]) * MB
    if "memorySwap" in i:
        swap = _int(i["memorySwap"])
        out["MemorySwap"] = swap * MB if swap > 0 else swap
    return out

def refuse(typ: str, field: str) -> NotImplementedError:
    return NotImplementedError(f"double: {typ} input '{field}' is not implemented")


def check_fields(typ: str, inputs: dict, allowed: set[str], prefix: str = "") -> None:
    """Fail loudly on any input the double does not implement."""
    for key, value in inputs.items():
        if value is None:
            continue
        if key not in allowed:
            raise refuse(typ, prefix + key)


def _int(value: Any) -> int:
    return int(value)


# ---- Container ------------------------------------------------------------------------------

CONTAINER_FIELDS = {
    "image",
    "name",
    "command",
    "entrypoints",
    "envs",
    "user",
    "workingDir",
    "hostname",
    "labels",
    "ports",
    "volumes",
    "mounts",
    "tmpfs",
    "networksAdvanced",
    "networkMode",
    "memory",
    "memoryReservation",
    "memorySwap",
    "cpus",
    "cpuShares",
    "logDriver",
    "logOpts",
    "restart",
    "maxRetryCount",
    "healthcheck",
    "wait",
    "waitTimeout",
    "mustRun",
    "start",
    "readOnly",
    "capabilities",
    "securityOpts",
    "init",
    "stopSignal",
    "stopTimeout",
    "destroyGraceSeconds",
    "removeVolumes",
    "uploads",
    "shmSize",
    "ulimits",
    "sysctls",
    "dns",
    "privileged",
    "publishAllPorts",
    "rm",
    "attach",
    "logs",
}
SUBFIELDS = {
    "ports": {"internal", "external", "ip", "protocol"},
    "volumes": {"volumeName", "hostPath", "containerPath", "readOnly", "fromContainer"},
    "mounts": {"type", "source", "target", "readOnly", "tmpfsOptions"},
    "networksAdvanced": {"name", "aliases", "ipv4Address", "ipv6Address"},
    "healthcheck": {"tests", "interval", "timeout", "startPeriod", "startInterval", "retries"},
    "capabilities": {"adds", "drops"},
    "uploads": {"file", "content", "contentBase64", "source", "sourceHash", "executable", "permissions"},
    "ulimits": {"name", "soft", "hard"},
    "labels": {"label", "value"},
}
# Not ForceNew (provider-semantics.md §1): these two kinds are applied in place ...
CONTAINER_UPDATE_FIELDS = {"restart", "maxRetryCount", "cpuShares", "memory", "memoryReservation", "memorySwap"}
# ... and these touch the state only (mustRun false->true also starts the container).
CONTAINER_STATE_FIELDS = {
    "tmpfs",
    "healthcheck",
    "wait",
    "waitTimeout",
    "mustRun",
    "start",
    "init",
    "destroyGraceSeconds",
    "removeVolumes",
    "rm",
    "attach",
    "logs",
}

CONTAINER_DEFAULTS = {
    "wait": False,
    "waitTimeout": 60,
    "mustRun": True,
    "start": True,
    "init": False,
    "destroyGraceSeconds": 0,
    "removeVolumes": True,
    "readOnly": False,
    "privileged": False,
    "publishAllPorts": False,
    "rm": False,
    "attach": False,
    "logs": False,
    "restart": "no",
    "maxRetryCount": 0,
    "networkMode": "bridge",
}


def check_container_inputs(inputs: dict) -> None:
    check_fields(CONTAINER, inputs, CONTAINER_FIELDS)
    for field, allowed in SUBFIELDS.items():
        value = inputs.get(field)
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            check_fields(CONTAINER, item, allowed, prefix=f"{field}.")
    for mount in inputs.get("mounts") or []:
        opts = mount.get("tmpfsOptions") or {}
        check_fields(CONTAINER, opts, {"sizeBytes", "mode"}, prefix="mounts.tmpfsOptions.")
    if inputs.get("privileged"):
        raise refuse(CONTAINER, "privileged=true")
    if "image" not in inputs:
        raise DoubleError('Missing required argument: "image"')


def with_container_defaults(inputs: dict) -> dict:
    out = dict(CONTAINER_DEFAULTS)
    out.update({k: v for k, v in inputs.items() if v is not None})
    return out


def nano_cpus(cpus: str) -> int:
    """`cpus` is a decimal string; the provider multiplies it by 1e9 (NanoCPUs)."""
    return int(Decimal(str(cpus)) * 1_000_000_000)


def healthcheck_body(hc: dict) -> dict:
    body: dict[str, Any] = {
        "Test": list(hc.get("tests") or []),
        "Interval": parse_duration(hc.get("interval") or "0s"),
        "Timeout": parse_duration(hc.get("timeout") or "0s"),
        "StartPeriod": parse_duration(hc.get("startPeriod") or "0s"),
        "StartInterval": parse_duration(hc.get("startInterval") or "0s"),
        "Retries": _int(hc.get("retries") or 0),
    }
    return body


def port_bindings(ports: list[dict]) -> tuple[dict, dict]:
    exposed: dict[str, dict] = {}
    bindings: dict[str, list] = {}
    for p in ports:
        key = f"{_int(p['internal'])}/{p.get('protocol') or 'tcp'}"
        exposed[key] = {}
        external = p.get("external")
        bindings.setdefault(key, []).append(
            {"HostIp": p.get("ip") or DEFAULT_PORT_IP, "HostPort": str(_int(external)) if external else "0"}
        )
    return exposed, bindings


def volume_binds(volumes: list[dict]) -> tuple[list[str], dict, list[str]]:
    binds: list[str] = []
    config_volumes: dict[str, dict] = {}
    volumes_from: list[str] = []
    for v in volumes:
        if v.get("fromContainer"):
            volumes_from.append(v["fromContainer"])
            continue
        path = v["containerPath"]
        config_volumes[path] = {}
        source = v.get("hostPath") or v.get("volumeName")
        if source:
            binds.append(f"{source}:{path}:{'ro' if v.get('readOnly') else 'rw'}")
    return binds, config_volumes, volumes_from


def mounts_body(mounts: list[dict]) -> list[dict]:
    out = []
    for m in mounts:
        body: dict[str, Any] = {"Type": m["type"], "Target": m["target"]}
        if m.get("source"):
            body["Source"] = m["source"]
        if m.get("readOnly"):
            body["ReadOnly"] = True
        t = m.get("tmpfsOptions")
        if t:
            opts = {}
            if t.get("sizeBytes") is not None:
                opts["SizeBytes"] = _int(t["sizeBytes"])
            if t.get("mode") is not None:
                opts["Mode"] = _int(t["mode"])
            body["TmpfsOptions"] = opts
        out.append(body)
    return out


def container_create_body(inputs: dict) -> dict:
    """The `POST /containers/create` body the provider sends for these (defaulted) inputs."""
    i = with_container_defaults(inputs)
    config: dict[str, Any] = {"Image": i["image"]}
    host: dict[str, Any] = {
        "Init": bool(i["init"]),  # always sent
        "NetworkMode": i["networkMode"],
        "RestartPolicy": {"Name": i["restart"], "MaximumRetryCount": _int(i["maxRetryCount"])},
        "ReadonlyRootfs": bool(i["readOnly"]),
        "Privileged": bool(i["privileged"]),
        "PublishAllPorts": bool(i["publishAllPorts"]),
        "AutoRemove": bool(i["rm"]),
    }
    if "command" in i:
        if any(c == "" for c in i["command"]):
            raise DoubleError("values for command may not be empty")
        config["Cmd"] = list(i["command"])
    if "entrypoints" in i:
        config["Entrypoint"] = list(i["entrypoints"])
    if "envs" in i:
        config["Env"] = list(i["envs"])
    for wire, api in (("user", "User"), ("workingDir", "WorkingDir"), ("hostname", "Hostname"), ("stopSignal", "StopSignal")):
        if i.get(wire):
            config[api] = i[wire]
    if "stopTimeout" in i:
        config["StopTimeout"] = _int(i["stopTimeout"])
    if "labels" in i:
        config["Labels"] = {x["label"]: x["value"] for x in i["labels"]}
    if "ports" in i:
        config["ExposedPorts"], host["PortBindings"] = port_bindings(i["ports"])
    if "volumes" in i:
        binds, config_volumes, volumes_from = volume_binds(i["volumes"])
        config["Volumes"] = config_volumes
        if binds:
            host["Binds"] = binds
        if volumes_from:
            host["VolumesFrom"] = volumes_from
    if "mounts" in i:
        host["Mounts"] = mounts_body(i["mounts"])
    if "tmpfs" in i:
        host["Tmpfs"] = dict(i["tmpfs"])
    host.update(memory_fields(i))
    if "cpus" in i:
        host["NanoCpus"] = nano_cpus(i["cpus"])
    if "cpuShares" in i:
        host["CpuShares"] = _int(i["cpuShares"])
    log_config: dict[str, Any] = {"Type": i.get("logDriver", "")}
    if "logOpts" in i:
        log_config["Config"] = dict(i["logOpts"])
    host["LogConfig"] = log_config
    if "healthcheck" in i:
        config["Healthcheck"] = healthcheck_body(i["healthcheck"])
    caps = i.get("capabilities") or {}
    if caps.get("adds"):
        host["CapAdd"] = list(caps["adds"])
    if caps.get("drops"):
        host["CapDrop"] = list(caps["drops"])
    if "securityOpts" in i:
        opts = list(i["securityOpts"])
        if "systempaths=unconfined" in opts:
            opts.remove("systempaths=unconfined")
            host["MaskedPaths"] = []
            host["ReadonlyPaths"] = []
        host["SecurityOpt"] = opts
    if "shmSize" in i:
        host["ShmSize"] = _int(i["shmSize"]) * MB
    if "ulimits" in i:
        host["Ulimits"] = [{"Name": u["name"], "Soft": _int(u["soft"]), "Hard": _int(u["hard"])} for u in i["ulimits"]]
    if "sysctls" in i:
        host["Sysctls"] = dict(i["sysctls"])
    if "dns" in i:
        host["Dns"] = list(i["dns"])
    config["HostConfig"] = host
    config["NetworkingConfig"] = {}  # always empty: networksAdvanced are connected after create
    return config


def endpoint_config(net: dict) -> dict:
    ipam: dict[str, Any] = {}
    if net.get("ipv4Address"):
        ipam["IPv4Address"] = net["ipv4Address"]
    if net.get("ipv6Address"):
        ipam["IPv6Address"] = net["ipv6Address"]
    body: dict[str, Any] = {"Aliases": list(net.get("aliases") or [])}
    if ipam:
        body["IPAMConfig"] = ipam
    return body


def upload_mode(upload: dict) -> int:
    if upload.get("permissions"):
        return int(str(upload["permissions"]), 8)
    return 0o744 if upload.get("executable") else 0o644


def upload_content(upload: dict, base_dir: Path) -> bytes:
    kinds = [k for k in ("content", "contentBase64", "source") if upload.get(k)]
    if len(kinds) != 1:
        raise DoubleError("only one of 'content', 'content_base64', or 'source' can be set")
    if kinds[0] == "content":
        return upload["content"].encode()
    if kinds[0] == "contentBase64":
        return base64.b64decode(upload["contentBase64"])
    return (base_dir / upload["source"]).read_bytes()


def upload_tar(upload: dict, base_dir: Path, now: float | None = None) -> bytes:
    """The one-entry tar the provider PUTs at `/` before start."""
    data = upload_content(upload, base_dir)
    info = tarfile.TarInfo(name=upload["file"])
    info.size = len(data)
    info.mode = upload_mode(upload)
    info.uid = info.gid = 0
    info.mtime = int(time.time() if now is None else now)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def classify_container_change(old: dict, new: dict) -> str:
    """ "replace", "update" (ContainerUpdate), "state" (state only) or "unchanged"."""
    changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
    if not changed:
        return "unchanged"
    if changed - CONTAINER_UPDATE_FIELDS - CONTAINER_STATE_FIELDS:
        return "replace"
    if changed & CONTAINER_UPDATE_FIELDS:
        return "update"
    return "state"


def container_update_body(inputs: dict) -> dict:
    """The single ContainerUpdate the provider sends for in-place changes (F:1016-1071)."""
    i = with_container_defaults(inputs)
    body: dict[str, Any] = {
        "RestartPolicy": {"Name": i["restart"], "MaximumRetryCount": _int(i["maxRetryCount"])},
    }
    if "cpuShares" in i:
        body["CpuShares"] = _int(i["cpuShares"])
    body.update(memory_fields(i))
    return body


# ---- Network and Volume ---------------------------------------------------------------------

NETWORK_FIELDS = {
    "name",
    "driver",
    "internal",
    "attachable",
    "ingress",
    "ipv6",
    "labels",
    "options",
    "ipamDriver",
    "ipamConfigs",
    "ipamOptions",
}
VOLUME_FIELDS = {"name", "driver", "driverOpts", "labels"}


def network_create_body(name: str, inputs: dict) -> dict:
    check_fields(NETWORK, inputs, NETWORK_FIELDS)
    for cfg in inputs.get("ipamConfigs") or []:
        check_fields(NETWORK, cfg, {"subnet", "ipRange", "gateway", "auxAddress"}, prefix="ipamConfigs.")
    body: dict[str, Any] = {
        "Name": name,
        "Labels": {x["label"]: x["value"] for x in inputs.get("labels") or []},
        "Driver": inputs.get("driver") or "",
        "Options": dict(inputs.get("options") or {}),
        "Internal": bool(inputs.get("internal")),
        "Attachable": bool(inputs.get("attachable")),
        "Ingress": bool(inputs.get("ingress")),
        "IPAM": {
            "Driver": inputs.get("ipamDriver") or "default",
            "Config": [
                {
                    k2: c[k1]
                    for k1, k2 in (
                        ("subnet", "Subnet"),
                        ("ipRange", "IPRange"),
                        ("gateway", "Gateway"),
                        ("auxAddress", "AuxAddress"),
                    )
                    if c.get(k1)
                }
                for c in inputs.get("ipamConfigs") or []
            ],
            "Options": dict(inputs.get("ipamOptions") or {}),
        },
    }
    if inputs.get("ipv6"):
        body["EnableIPv6"] = True
    return body


def volume_create_body(name: str, inputs: dict) -> dict:
    check_fields(VOLUME, inputs, VOLUME_FIELDS)
    return {
        "Name": name,
        "Labels": {x["label"]: x["value"] for x in inputs.get("labels") or []},
        "Driver": inputs.get("driver") or "local",
        "DriverOpts": dict(inputs.get("driverOpts") or {}),
    }
