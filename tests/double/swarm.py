"""docker.Service and docker.Secret for the provider double: pulumi-docker wire inputs -> Engine API swarm objects.

Followed from terraform-provider-docker (which pulumi-docker 5.x bridges), resource_docker_secret.go and
resource_docker_service_structures.go (`createServiceSpec` and its helpers):
- Secret: `data` is standard base64, decoded by the provider (invalid base64 is refused before any call) and sent
  as the secret's bytes; `name`, `data` and `labels` are ForceNew (any change replaces the secret).
- Service: `name` is ForceNew, every other change is a ServiceUpdate of the whole spec at the current version.
  Durations are Go durations (`time.ParseDuration`, nanoseconds); `max_failure_ratio` a string parsed as a float;
  secrets map to SecretReference{SecretID, SecretName, File{Name, UID, GID, Mode}}; networks to
  NetworkAttachmentConfig{Target: id (or the deprecated name), Aliases}; ports to PortConfig; labels to maps.
- Without `convergeConfig` the provider does not wait for the tasks: create and update return once the manager
  has accepted the spec (the double does the same, so a test that needs running tasks waits for them itself).
- With `convergeConfig` (resource_docker_service_funcs.go, `resourceDockerServiceCreate`/`Update` and their
  refresh funcs, polled by the plugin SDK's StateChangeConf with MinTimeout 5 s):
  create waits `delay` (default 7s), then polls until, counting one task per slot among the tasks whose desired
  state is running on nodes not down, as many are `running` as the service has replicas (a task with a
  healthcheck is `starting` until healthy); after `timeout` (default 3m) it deletes the service and fails with
  "Service with ID (<id>) did not converge after <timeout>". Update waits 7 s (fixed), then polls: the service's
  UpdateStatus `completed` ends it (swarm completes an update after its monitor period), `rollback_completed`,
  `paused` and `rollback_paused` fail it with their message, `updating`/`rollback_started` or none count the tasks
  as on create (a finished rollback fails); a timeout fails without deleting. Polls come 5 s, then 10 s apart.
- Delete removes the service, then waits up to its stop grace period for the service's tasks to be gone.

Anything else fails loudly (`NotImplementedError`), like the rest of the double.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator
from typing import Any

import docker.errors

from .go_format import parse_duration
from .mappings import DoubleError, check_fields

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"

SECRET_FIELDS = {"name", "data", "labels"}
SERVICE_FIELDS = {"name", "taskSpec", "mode", "updateConfig", "rollbackConfig", "endpointSpec", "labels", "convergeConfig"}
TASK_FIELDS = {"containerSpec", "resources", "restartPolicy", "placement", "networksAdvanceds", "logDriver", "forceUpdate"}
CONTAINER_FIELDS = {
    "image", "args", "commands", "env", "user", "dir", "hostname", "labels", "readOnly", "mounts", "healthcheck",
    "secrets", "stopGracePeriod", "stopSignal", "capDrops", "capAdds", "init",
}  # fmt: skip
NESTED = {
    "mounts": {"type", "target", "source", "readOnly", "tmpfsOptions"},
    "tmpfsOptions": {"sizeBytes", "mode"},
    "healthcheck": {"tests", "interval", "timeout", "startPeriod", "retries"},
    "secrets": {"secretId", "secretName", "fileName", "fileUid", "fileGid", "fileMode"},
    "resources": {"limits", "reservation"},
    "limits": {"memoryBytes", "nanoCpus"},
    "reservation": {"memoryBytes", "nanoCpus"},
    "restartPolicy": {"condition", "delay", "maxAttempts", "window"},
    "placement": {"constraints", "maxReplicas", "prefs"},
    "networksAdvanceds": {"id", "name", "aliases"},
    "logDriver": {"name", "options"},
    "mode": {"replicated", "global"},
    "replicated": {"replicas"},
    "updateConfig": {"parallelism", "delay", "failureAction", "monitor", "maxFailureRatio", "order"},
    "endpointSpec": {"mode", "ports"},
    "ports": {"targetPort", "publishedPort", "protocol", "publishMode", "name"},
    "labels": {"label", "value"},
    "convergeConfig": {"delay", "timeout"},
}


def _labels(items: list[dict] | None) -> dict[str, str]:
    return {item["label"]: item["value"] for item in items or []}


def _check(typ: str, value: Any, field: str, prefix: str) -> None:
    """Every nested input the double implements, and nothing else."""
    rows = value if isinstance(value, list) else [value]
    for row in rows:
        if isinstance(row, dict):
            allowed = NESTED.get("limits" if field == "reservation" else field, set())
            check_fields(typ, row, allowed, prefix=f"{prefix}{field}.")
            for key, inner in row.items():
                if isinstance(inner, (dict, list)) and key in NESTED:
                    _check(typ, inner, key, f"{prefix}{field}.")


def check_service_inputs(inputs: dict) -> None:
    check_fields(SERVICE, inputs, SERVICE_FIELDS)
    task = inputs.get("taskSpec") or {}
    check_fields(SERVICE, task, TASK_FIELDS, prefix="taskSpec.")
    check_fields(SERVICE, task.get("containerSpec") or {}, CONTAINER_FIELDS, prefix="taskSpec.containerSpec.")
    for key, value in (task.get("containerSpec") or {}).items():
        if key in NESTED:
            _check(SERVICE, value, key, "taskSpec.containerSpec.")
    for key, value in task.items():
        if key in NESTED:
            _check(SERVICE, value, key, "taskSpec.")
    for key in ("mode", "updateConfig", "rollbackConfig", "endpointSpec", "labels", "convergeConfig"):
        if inputs.get(key) is not None:
            _check(SERVICE, inputs[key], "updateConfig" if key == "rollbackConfig" else key, "")


# ---- Secret ---------------------------------------------------------------------------------------------------


def secret_data_bytes(data: str) -> bytes:
    """The provider's base64 check, then the bytes it sends."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise DoubleError("data must be base64 encoded") from None


def secret_create_body(name: str, inputs: dict) -> dict:
    check_fields(SECRET, inputs, SECRET_FIELDS)
    body: dict[str, Any] = {"Name": name, "Data": base64.b64encode(secret_data_bytes(inputs["data"])).decode()}
    if inputs.get("labels"):
        body["Labels"] = _labels(inputs["labels"])
    return body


# ---- Service --------------------------------------------------------------------------------------------------


def _duration(value: str | None) -> int | None:
    return None if value is None else parse_duration(value)


def _container_spec(c: dict) -> dict:
    out: dict[str, Any] = {"Image": c["image"]}
    if c.get("labels"):
        out["Labels"] = _labels(c["labels"])
    if c.get("commands"):
        out["Command"] = list(c["commands"])
    if c.get("args"):
        out["Args"] = list(c["args"])
    for key, api in (("hostname", "Hostname"), ("dir", "Dir"), ("user", "User"), ("stopSignal", "StopSignal")):
        if c.get(key):
            out[api] = c[key]
    if c.get("env"):
        out["Env"] = [f"{k}={v}" for k, v in c["env"].items()]
    if c.get("readOnly"):
        out["ReadOnly"] = True
    if c.get("init") is not None:
        out["Init"] = bool(c["init"])
    if c.get("capAdds"):
        out["CapabilityAdd"] = list(c["capAdds"])
    if c.get("capDrops"):
        out["CapabilityDrop"] = list(c["capDrops"])
    if c.get("mounts"):
        out["Mounts"] = [_mount(m) for m in c["mounts"]]
    if c.get("stopGracePeriod"):
        out["StopGracePeriod"] = parse_duration(c["stopGracePeriod"])
    if c.get("healthcheck"):
        h = c["healthcheck"]
        health: dict[str, Any] = {"Test": list(h.get("tests") or [])}
        for key, api in (("interval", "Interval"), ("timeout", "Timeout"), ("startPeriod", "StartPeriod")):
            if h.get(key):
                health[api] = parse_duration(h[key])
        if h.get("retries") is not None:
            health["Retries"] = int(h["retries"])
        out["Healthcheck"] = health
    if c.get("secrets"):
        out["Secrets"] = [
            {
                "SecretID": s["secretId"],
                "SecretName": s.get("secretName", ""),
                "File": {
                    "Name": s["fileName"],
                    "UID": s.get("fileUid", "0"),
                    "GID": s.get("fileGid", "0"),
                    "Mode": int(s.get("fileMode", 0o444)),
                },
            }
            for s in c["secrets"]
        ]
    return out


def _mount(m: dict) -> dict:
    out: dict[str, Any] = {"Type": m["type"], "Target": m["target"], "Source": m.get("source", "")}
    if m.get("readOnly"):
        out["ReadOnly"] = True
    if m.get("tmpfsOptions"):
        t = m["tmpfsOptions"]
        out["TmpfsOptions"] = {k: int(t[w]) for w, k in (("sizeBytes", "SizeBytes"), ("mode", "Mode")) if t.get(w) is not None}
    return out


def _update_config(u: dict) -> dict:
    out: dict[str, Any] = {}
    if u.get("parallelism") is not None:
        out["Parallelism"] = int(u["parallelism"])
    for key, api in (("delay", "Delay"), ("monitor", "Monitor")):
        if u.get(key):
            out[api] = parse_duration(u[key])
    if u.get("failureAction"):
        out["FailureAction"] = u["failureAction"]
    if u.get("maxFailureRatio"):
        out["MaxFailureRatio"] = float(u["maxFailureRatio"])
    if u.get("order"):
        out["Order"] = u["order"]
    return out


def service_spec(name: str, inputs: dict) -> dict:
    """The Engine API ServiceSpec the provider's createServiceSpec builds from the inputs."""
    check_service_inputs(inputs)
    task = inputs["taskSpec"]
    template: dict[str, Any] = {"ContainerSpec": _container_spec(task["containerSpec"])}
    if task.get("resources"):
        r = task["resources"]
        template["Resources"] = {
            api: {k: int(v) for w, k in (("memoryBytes", "MemoryBytes"), ("nanoCpus", "NanoCPUs")) if (v := r[key].get(w))}
            for key, api in (("limits", "Limits"), ("reservation", "Reservations"))
            if r.get(key)
        }
    if task.get("restartPolicy"):
        p = task["restartPolicy"]
        policy: dict[str, Any] = {}
        if p.get("condition"):
            policy["Condition"] = p["condition"]
        for key, api in (("delay", "Delay"), ("window", "Window")):
            if p.get(key):
                policy[api] = parse_duration(p[key])
        if p.get("maxAttempts") is not None:
            policy["MaxAttempts"] = int(p["maxAttempts"])
        template["RestartPolicy"] = policy
    if task.get("placement"):
        p = task["placement"]
        placement: dict[str, Any] = {}
        if p.get("constraints"):
            placement["Constraints"] = list(p["constraints"])
        if p.get("prefs"):
            placement["Preferences"] = [{"Spread": {"SpreadDescriptor": pref}} for pref in p["prefs"]]
        if p.get("maxReplicas"):
            placement["MaxReplicas"] = int(p["maxReplicas"])
        template["Placement"] = placement
    if task.get("networksAdvanceds"):
        template["Networks"] = [
            {"Target": n.get("id") or n["name"], "Aliases": list(n.get("aliases") or [])} for n in task["networksAdvanceds"]
        ]
    if task.get("logDriver"):
        template["LogDriver"] = {"Name": task["logDriver"]["name"], "Options": dict(task["logDriver"].get("options") or {})}
    if task.get("forceUpdate"):
        template["ForceUpdate"] = int(task["forceUpdate"])
    spec: dict[str, Any] = {"Name": name, "TaskTemplate": template}
    if inputs.get("labels"):
        spec["Labels"] = _labels(inputs["labels"])
    mode = inputs.get("mode") or {}
    if mode.get("global"):
        spec["Mode"] = {"Global": {}}
    elif mode.get("replicated") is not None:
        replicas = mode["replicated"].get("replicas")
        spec["Mode"] = {"Replicated": {} if replicas is None else {"Replicas": int(replicas)}}
    for key, api in (("updateConfig", "UpdateConfig"), ("rollbackConfig", "RollbackConfig")):
        if inputs.get(key):
            spec[api] = _update_config(inputs[key])
    if inputs.get("endpointSpec"):
        e = inputs["endpointSpec"]
        endpoint: dict[str, Any] = {}
        if e.get("mode"):
            endpoint["Mode"] = e["mode"]
        if e.get("ports"):
            endpoint["Ports"] = [
                {
                    k: v
                    for k, v in (
                        ("Name", p.get("name")),
                        ("Protocol", p.get("protocol")),
                        ("TargetPort", int(p["targetPort"])),
                        ("PublishedPort", int(p["publishedPort"]) if p.get("publishedPort") is not None else None),
                        ("PublishMode", p.get("publishMode")),
                    )
                    if v is not None
                }
                for p in e["ports"]
            ]
        spec["EndpointSpec"] = endpoint
    return spec


def classify_service_change(old: dict, new: dict) -> str:
    return "replace" if old.get("name") != new.get("name") else "update"


# ---- Engine API -----------------------------------------------------------------------------------------------


def _post(client, path: str, body: Any, params: dict | None = None) -> dict:
    api = client.api
    resp = api._post_json(api._url(path), data=body, params=params)
    api._raise_for_status(resp)
    return resp.json() if resp.content else {}


def create_secret(client, name: str, inputs: dict) -> tuple[str, dict]:
    secret_id = _post(client, "/secrets/create", secret_create_body(name, inputs))["ID"]
    return secret_id, {**inputs, "name": name}


def delete_secret(client, secret_id: str) -> None:
    client.api.remove_secret(secret_id)


def create_service(client, name: str, inputs: dict, sleep=time.sleep) -> tuple[str, dict]:
    service_id = _post(client, "/services/create", service_spec(name, inputs))["ID"]
    converge = inputs.get("convergeConfig")
    if converge is not None:
        try:
            wait_converged(client, service_id, converge, creating=True, sleep=sleep)
        except DoubleError:
            delete_service(client, service_id, inputs)  # the provider deletes a service that did not converge
            raise
    return service_id, {**inputs, "name": name}


def update_service(client, service_id: str, inputs: dict, sleep=time.sleep) -> dict:
    name = inputs["name"]
    version = client.api.inspect_service(service_id)["Version"]["Index"]
    _post(client, f"/services/{service_id}/update", service_spec(name, inputs), params={"version": version})
    if inputs.get("convergeConfig") is not None:
        wait_converged(client, service_id, inputs["convergeConfig"], creating=False, sleep=sleep)
    return {**inputs, "name": name}


# ---- convergence (convergeConfig) -----------------------------------------------------------------------------

TASK_STATE_ORDER = {
    state: number
    for number, state in enumerate(
        ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running",
         "complete", "shutdown", "failed", "rejected"),
        start=1,
    )
}  # fmt: skip
DEFAULT_CONVERGE_DELAY = "7s"
DEFAULT_CONVERGE_TIMEOUT = "3m"
UPDATE_CONVERGE_DELAY = 7.0  # the provider's update waits this long whatever convergeConfig.delay says
POLL_MIN_SECONDS = 5.0  # the plugin SDK's StateChangeConf: MinTimeout 5 s, the wait doubles up to 10 s
POLL_MAX_SECONDS = 10.0


def _terminal(state: str) -> bool:
    return TASK_STATE_ORDER.get(state, 0) > TASK_STATE_ORDER["running"]


def tasks_by_slot(tasks: list[dict], active_nodes: set[str]) -> dict[int, dict]:
    """One task per slot: the lowest desired state wins, then the lowest observed state (start-first updates run
    two tasks in a slot); tasks on nodes that are down are left out."""
    by_slot: dict[int, dict] = {}
    for task in tasks:
        desired, state = task.get("DesiredState", ""), task.get("Status", {}).get("State", "")
        if not TASK_STATE_ORDER.get(desired) or not TASK_STATE_ORDER.get(state):
            continue
        slot = task.get("Slot", 0)
        existing = by_slot.get(slot)
        if existing is not None:
            old_desired, new_desired = TASK_STATE_ORDER[existing["DesiredState"]], TASK_STATE_ORDER[desired]
            if old_desired < new_desired:
                continue
            if old_desired == new_desired and TASK_STATE_ORDER[existing["Status"]["State"]] <= TASK_STATE_ORDER[state]:
                continue
        if task.get("NodeID") and task["NodeID"] not in active_nodes:
            continue
        by_slot[slot] = task
    return by_slot


def replicas_running(service: dict, tasks: list[dict], active_nodes: set[str]) -> bool:
    """The provider's replicatedConsoleLogUpdater: as many slots running as the service has replicas."""
    replicas = (service.get("Spec", {}).get("Mode", {}).get("Replicated") or {}).get("Replicas")
    if replicas is None:
        raise DoubleError("no replica count")
    running = sum(
        1
        for task in tasks_by_slot(tasks, active_nodes).values()
        if not _terminal(task["DesiredState"]) and task["Status"]["State"] == "running"
    )
    return running == replicas


def converge_state(service: dict, tasks: list[dict], active_nodes: set[str], creating: bool) -> str:
    """One poll of the provider's refresh func: 'running'/'completed' when done, 'creating'/'updating' while not."""
    if creating:
        return "running" if replicas_running(service, tasks, active_nodes) else "creating"
    status = service.get("UpdateStatus") or {}
    state, message = status.get("State"), status.get("Message", "")
    rollback = False
    if state == "completed":
        return "completed"
    if state == "rollback_started":
        rollback = True
    elif state == "rollback_completed":
        raise DoubleError(f"service rollback completed: {message}")
    elif state == "paused":
        raise DoubleError(f"service update paused: {message}")
    elif state == "rollback_paused":
        raise DoubleError(f"service rollback paused: {message}")
    if replicas_running(service, tasks, active_nodes):
        if rollback:
            raise DoubleError(f"service rollback completed: {message}")
        return "completed"
    return "updating"


def poll_waits(first: float) -> Iterator[float]:
    """The waits before each poll: the delay, then 5 s, then 10 s every time."""
    yield first
    wait = POLL_MIN_SECONDS
    while True:
        yield wait
        wait = min(wait * 2, POLL_MAX_SECONDS)


def wait_converged(client, service_id: str, converge: dict, creating: bool, sleep=time.sleep) -> None:
    """Wait as the provider does for a service with convergeConfig (see the module docstring)."""
    timeout_text = converge.get("timeout") or DEFAULT_CONVERGE_TIMEOUT
    timeout = parse_duration(timeout_text) / 1e9
    first = parse_duration(converge.get("delay") or DEFAULT_CONVERGE_DELAY) / 1e9 if creating else UPDATE_CONVERGE_DELAY
    waited = 0.0
    for wait in poll_waits(first):
        if waited + wait > timeout:
            sleep(timeout - waited)
            raise DoubleError(f"Service with ID ({service_id}) did not converge after {timeout_text}")
        sleep(wait)
        waited += wait
        service = client.api.inspect_service(service_id)
        tasks = client.api.tasks(filters={"service": service_id, "desired-state": "running"})
        active = {node["ID"] for node in client.api.nodes() if node.get("Status", {}).get("State") != "down"}
        if converge_state(service, tasks, active, creating) in ("running", "completed"):
            return


def delete_service(client, service_id: str, state: dict, poll: float = 0.5) -> None:
    grace = (state.get("taskSpec") or {}).get("containerSpec", {}).get("stopGracePeriod")
    client.api.remove_service(service_id)
    deadline = time.monotonic() + (parse_duration(grace) / 1e9 if grace else 0)
    while time.monotonic() < deadline:
        try:
            if not client.api.tasks(filters={"service": service_id}):
                return
        except docker.errors.NotFound:  # the manager has forgotten the service, and its tasks with it
            return
        time.sleep(poll)
