"""The Docker resources, done for real through the Engine API (provider-semantics.md §0-4)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import docker
import docker.errors

from . import mappings
from .mappings import CONTAINER, DoubleError, refuse

PROVIDER_FIELDS = {"host", "sshOpts"}
_SSH_WRAPPER: dict[str, Any] = {}


def auto_name(name: str) -> str:
    """The bridge's automatic name: `<pulumi name>-<7 random hex>`."""
    return f"{name}-{secrets.token_hex(4)[:7]}"


_WRAPPER_SCRIPT = """#!{python}
# ssh as pulumi-docker runs it for an ssh:// host: `ssh <sshOpts> -o ConnectTimeout=30 -T <args>`, with the
# sshOpts of the provider registered for that destination. Any other ssh call passes through untouched.
import json, os, sys
args = sys.argv[1:]
user = args[args.index("-l") + 1] if "-l" in args else ""
port = args[args.index("-p") + 1] if "-p" in args else "22"
host = args[args.index("--") + 1] if "--" in args else ""
# the docker SDK passes the remote command as one word, the docker CLI (an image build) as three
dial = args[-1:] == ["docker system dial-stdio"] or args[-3:] == ["docker", "system", "dial-stdio"]
opts = json.load(open({registry!r})).get(f"{{user}}@{{host}}:{{port}}") if dial else None
extra = [*opts, "-o", "ConnectTimeout=30", "-T"] if opts is not None else []
os.execv({real!r}, [{real!r}, *extra, *args])
"""


def _install_ssh_wrapper(host: str, ssh_opts: list[str]) -> None:
    """Put an `ssh` on PATH that adds this provider's sshOpts to the docker SDK's ssh calls for its host only
    (the provider runs `ssh <sshOpts> ... host docker system dial-stdio`); other ssh calls are not touched."""
    if not _SSH_WRAPPER:
        real = shutil.which("ssh")
        if real is None:
            raise DoubleError('Error pinging Docker server: exec: "ssh": executable file not found in $PATH')
        wrapper_dir = Path(tempfile.mkdtemp(prefix="double-ssh-"))
        registry = wrapper_dir / "hosts.json"
        registry.write_text("{}")
        script = wrapper_dir / "ssh"
        script.write_text(_WRAPPER_SCRIPT.format(python=sys.executable, registry=str(registry), real=real))
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.environ["PATH"] = f"{wrapper_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        _SSH_WRAPPER.update(dir=wrapper_dir, registry=registry)
    parsed = urllib.parse.urlparse(host)
    key = f"{parsed.username or ''}@{parsed.hostname}:{parsed.port or 22}"
    hosts = json.loads(_SSH_WRAPPER["registry"].read_text())
    hosts[key] = list(ssh_opts)
    _SSH_WRAPPER["registry"].write_text(json.dumps(hosts))


def connect(host: str, ssh_opts: list[str] | None) -> docker.DockerClient:
    """A client for the provider's host, pinged first like the provider does."""
    try:
        if host.startswith("ssh://"):
            _install_ssh_wrapper(host, ssh_opts or [])
            client = docker.DockerClient(base_url=host, use_ssh_client=True, version="auto", timeout=120)
        else:
            client = docker.DockerClient(base_url=host, version="auto", timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001 -- any failure is the provider's ping error
        raise DoubleError(f"Error pinging Docker server: {exc}") from exc
    return client


def _api(client: docker.DockerClient):
    return client.api


def _post_json(client, path: str, body: Any, params: dict | None = None) -> dict:
    api = _api(client)
    resp = api._post_json(api._url(path), data=body, params=params)
    api._raise_for_status(resp)
    return resp.json() if resp.content else {}


def _not_found(exc: Exception) -> bool:
    return isinstance(exc, docker.errors.NotFound) or "No such container" in str(exc)


# ---- images ---------------------------------------------------------------------------------


def find_image(client, name: str) -> str:
    """findImage: use the local image if present, else pull (which fails here: surfaced as is)."""
    try:
        return client.images.get(name).id
    except docker.errors.ImageNotFound:
        pass
    repo, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
    try:
        return client.images.pull(repo, tag=tag or "latest").id
    except docker.errors.APIError as exc:
        raise DoubleError(f"Unable to pull image {name}: {exc}") from exc


def remote_image(client, inputs: dict) -> tuple[str, dict]:
    mappings.check_fields(
        "docker:index/remoteImage:RemoteImage",
        inputs,
        {"name", "keepLocally", "forceRemove", "pullTriggers", "triggers", "platform"},
    )
    name = inputs["name"]
    image_id = find_image(client, name)
    digests = client.images.get(image_id).attrs.get("RepoDigests") or []
    untagged = name.rsplit(":", 1)[0] if ":" in name.split("/")[-1] else name
    repo_digest = digests[0] if len(digests) == 1 else next((d for d in digests if d.startswith(untagged + "@")), "")
    outputs = {**inputs, "imageId": image_id, "repoDigest": repo_digest}
    return image_id + name, outputs


def delete_remote_image(client, state: dict) -> None:
    if state.get("keepLocally"):
        return
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_image(state["name"], force=bool(state.get("forceRemove")), noprune=True)


def _has_buildx() -> bool:
    probe = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False)
    return probe.returncode == 0


def build_image(host: str, inputs: dict, program_dir: Path) -> tuple[str, dict]:
    """Native `Image`: build with the docker CLI (BuildKit), outputs as with skipPush."""
    typ = "docker:index/image:Image"
    mappings.check_fields(typ, inputs, {"imageName", "build", "skipPush", "buildOnPreview"})
    if not inputs.get("skipPush"):
        raise refuse(typ, "skipPush=false (push)")
    build = dict(inputs.get("build") or {})
    mappings.check_fields(typ, build, {"context", "dockerfile", "args", "target", "platform", "builderVersion"}, prefix="build.")
    if build.get("builderVersion") not in (None, "BuilderBuildKit"):
        raise refuse(typ, f"build.builderVersion={build['builderVersion']}")
    context = build.get("context") or "."
    dockerfile = build.get("dockerfile") or str(Path(context) / "Dockerfile")
    ctx_path = (program_dir / context).resolve()
    df_path = (program_dir / dockerfile).resolve()
    if not df_path.is_file():
        raise DoubleError(f"could not open dockerfile at relative path {dockerfile}: no such file")
    platform = build.get("platform") or "linux/amd64"
    name = inputs["imageName"]
    argv = ["docker", "build", "--quiet", "--tag", name, "--file", str(df_path), "--platform", platform]
    for key, value in (build.get("args") or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    if build.get("target"):
        argv += ["--target", build["target"]]
    argv.append(str(ctx_path))
    # The provider builds with BuildKit. The docker CLI needs the buildx plugin for that; without it
    # (Debian has no package) the classic builder is used: same Dockerfile semantics for our images.
    env = {**os.environ, "DOCKER_BUILDKIT": "1" if _has_buildx() else "0", "DOCKER_HOST": host}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DoubleError(f"Error building image {name}: {proc.stderr.strip()[-4000:]}")
    image_id = proc.stdout.strip().splitlines()[-1]
    outputs = {
        **inputs,
        "imageName": name,
        "baseImageName": name,
        "registryServer": "",
        "context": context,
        "dockerfile": os.path.relpath(df_path, ctx_path),
        "platform": platform,
        "repoDigest": image_id,
    }
    outputs["build"] = {**build, "context": context, "dockerfile": dockerfile, "platform": platform}
    return name, outputs


# ---- network and volume ---------------------------------------------------------------------


def create_network(client, name: str, inputs: dict) -> tuple[str, dict]:
    body = mappings.network_create_body(name, inputs)
    net_id = _post_json(client, "/networks/create", body)["Id"]
    time.sleep(2)  # Read first waits 2 s (StateChangeConf delay)
    attrs = client.api.inspect_network(net_id)
    out = {
        **inputs,
        "name": name,
        "driver": attrs["Driver"],
        "internal": attrs["Internal"],
        "attachable": attrs["Attachable"],
        "ingress": attrs["Ingress"],
        "ipv6": attrs["EnableIPv6"],
        "scope": attrs["Scope"],
        "ipamDriver": attrs["IPAM"]["Driver"],
        "ipamConfigs": [
            {
                "subnet": c.get("Subnet", ""),
                "gateway": c.get("Gateway", ""),
                "ipRange": c.get("IPRange", ""),
                "auxAddress": c.get("AuxiliaryAddresses") or {},
            }
            for c in attrs["IPAM"].get("Config") or []
        ],
    }
    return net_id, out


def delete_network(client, net_id: str, retry_seconds: float = 30, pause: float = 5) -> None:
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            client.api.inspect_network(net_id)
        except docker.errors.NotFound:
            return
        try:
            client.api.remove_network(net_id)
            return
        except docker.errors.APIError as exc:
            if "has active endpoints" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)


def create_volume(client, name: str, inputs: dict) -> tuple[str, dict]:
    body = mappings.volume_create_body(name, inputs)
    attrs = _post_json(client, "/volumes/create", body)
    return name, {**inputs, "name": name, "driver": attrs["Driver"], "mountpoint": attrs["Mountpoint"]}


def delete_volume(client, name: str, retry_seconds: float = 30, pause: float = 5) -> None:
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            client.api.remove_volume(name, force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if "volume is in use" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)


# ---- container ------------------------------------------------------------------------------


def _wait_healthy(client, cid: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = client.api.inspect_container(cid)["State"]
        if state.get("Health") is None:
            raise DoubleError("you have supplied a 'wait' argument, but the container does not have a healthcheck defined")
        if state["Health"]["Status"] == "healthy":
            return
        if time.monotonic() + 1 > deadline:
            raise DoubleError("container failed to be in healthy state")
        time.sleep(1)


def create_container(client, name: str, inputs: dict, program_dir: Path) -> tuple[str, dict]:
    mappings.check_container_inputs(inputs)
    i = mappings.with_container_defaults(inputs)
    try:
        find_image(client, i["image"])
    except DoubleError as exc:
        raise DoubleError(f"Unable to create container with image {i['image']}: {exc}") from exc
    body = mappings.container_create_body(inputs)
    try:
        cid = _post_json(client, "/containers/create", body, params={"name": name})["Id"]
    except docker.errors.APIError as exc:
        raise DoubleError(f"Unable to create container: {exc}") from exc
    if i.get("networksAdvanced"):
        try:
            client.api.disconnect_container_from_network(cid, "bridge")
        except docker.errors.APIError as exc:
            if "is not connected" not in str(exc):
                raise
        for net in i["networksAdvanced"]:
            try:
                endpoint = mappings.endpoint_config(net)
                _post_json(client, f"/networks/{net['name']}/connect", {"Container": cid, "EndpointConfig": endpoint})
            except docker.errors.APIError as exc:
                raise DoubleError(f"Unable to connect to network '{net['name']}': {exc}") from exc
    for upload in i.get("uploads") or []:
        data = mappings.upload_tar(upload, program_dir)
        try:
            client.api.put_archive(cid, "/", data)
        except docker.errors.APIError as exc:
            raise DoubleError(f"Unable to upload volume content: {exc}") from exc
    logs = ""
    if i["start"]:
        try:
            client.api.start(cid)
        except docker.errors.APIError as exc:
            raise DoubleError(f"Unable to start container: {exc}") from exc
        if i["wait"]:
            _wait_healthy(client, cid, float(i["waitTimeout"]))
        if i["attach"]:
            client.api.wait(cid, condition="not-running")
            if i["logs"]:
                logs = client.api.logs(cid, stdout=True, stderr=True).decode(errors="replace")
    return cid, read_container(client, cid, i, logs)


def read_container(client, cid: str, inputs: dict, logs: str = "") -> dict:
    attrs = client.api.inspect_container(cid)
    out = dict(inputs)
    out["name"] = attrs["Name"].lstrip("/")
    out["hostname"] = attrs["Config"]["Hostname"]
    out["exitCode"] = attrs["State"]["ExitCode"]
    out["containerLogs"] = logs
    if not attrs["State"]["Running"] and out.get("mustRun"):
        out["mustRun"] = False
    nets = attrs["NetworkSettings"]["Networks"] or {}
    out["networkDatas"] = [
        {
            "networkName": n,
            "ipAddress": v.get("IPAddress", ""),
            "ipPrefixLength": v.get("IPPrefixLen", 0),
            "gateway": v.get("Gateway", ""),
            "macAddress": v.get("MacAddress", ""),
            "globalIpv6Address": v.get("GlobalIPv6Address", ""),
            "globalIpv6PrefixLength": v.get("GlobalIPv6PrefixLen", 0),
            "ipv6Gateway": v.get("IPv6Gateway", ""),
        }
        for n, v in sorted(nets.items())
    ]
    if inputs.get("ports"):
        live = attrs["NetworkSettings"]["Ports"] or {}
        ports = []
        for p in inputs["ports"]:
            proto = p.get("protocol") or "tcp"
            ip = p.get("ip") or mappings.DEFAULT_PORT_IP
            bound = [b for b in live.get(f"{int(p['internal'])}/{proto}") or [] if b["HostIp"] == ip]
            external = int(bound[0]["HostPort"]) if bound else p.get("external")
            ports.append({**p, "ip": ip, "protocol": proto, "external": external})
        out["ports"] = ports
    return out


def update_container(client, cid: str, inputs: dict) -> None:
    body = mappings.container_update_body(inputs)
    _post_json(client, f"/containers/{cid}/update", body)


def delete_container(client, cid: str, state: dict) -> None:
    if not state.get("attach"):
        try:
            client.api.stop(cid, timeout=int(state.get("destroyGraceSeconds") or 0))
        except docker.errors.APIError as exc:
            if not _not_found(exc):
                raise
    try:
        client.api.remove_container(cid, v=bool(state.get("removeVolumes", True)), force=True)
    except docker.errors.APIError as exc:
        if not (_not_found(exc) or "is already in progress" in str(exc)):
            raise
    try:
        client.api.wait(cid, condition="removed" if state.get("rm") else "not-running")
    except docker.errors.APIError as exc:
        if not (_not_found(exc) or "is already in progress" in str(exc)):
            raise


def parse_ssh_opts(value: Any) -> list[str]:
    if value is None:
        return []
    return list(json.loads(value)) if isinstance(value, str) else list(value)


__all__ = ["CONTAINER"]
