"""CIS-style checks: each check prints `PASS <id> <what>` or `WAIVED <id> <what>: <reason>`; anything else is a FAIL.

The container checks follow the CIS Docker Benchmark's sections 4 and 5 (as docker-bench-security runs
them) over one container's `docker inspect`; tests/e2e/vds/test_cis.py checks the daemon and sshd of a
provisioned host the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SENSITIVE_HOST_DIRS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/var/run/docker.sock",
                       "/run/docker.sock")


@dataclass(frozen=True)
class Check:
    id: str
    what: str
    passes: Callable[[], bool]
    waived: str = ""  # the reason a check is not applied; empty: it must pass


def run_checks(checks: list[Check]) -> tuple[int, int, list[str]]:
    passed, waived, failed = 0, 0, []
    for check in checks:
        if check.waived:
            print(f"WAIVED {check.id} {check.what}: {check.waived}")
            waived += 1
        elif check.passes():
            print(f"PASS {check.id} {check.what}")
            passed += 1
        else:
            print(f"FAIL {check.id} {check.what}")
            failed.append(f"{check.id} {check.what}")
    print(f"{passed} PASS, {waived} WAIVED, {len(failed)} FAIL")
    return passed, waived, failed


PUBLIC_ENTRYPOINT = ("the public entrypoint serves 80/443 on every address by design; the firewall (ufw and "
                     "DOCKER-USER) lets only those two in")


def container_checks(name: str, attrs: dict[str, Any], public: bool = False) -> list[Check]:
    """CIS Docker 4.x/5.x for one container, from its `docker inspect`; `public`: the VDS's web entrypoint."""
    host, config = attrs["HostConfig"], attrs["Config"]
    user = (config.get("User") or "").split(":")[0]
    sources = [m.get("Source", "") for m in attrs.get("Mounts") or []]
    bindings = [b for bs in (host.get("PortBindings") or {}).values() for b in bs or []]
    ulimits = {u["Name"]: u for u in host.get("Ulimits") or []}
    security = host.get("SecurityOpt") or []

    def c(id_: str, what: str, passes: Callable[[], bool], waived: str = "") -> Check:
        return Check(f"{id_}[{name}]", what, passes, waived)

    return [
        c("4.1", "runs as a non-root user", lambda: user not in ("", "root", "0")),
        c("4.6", "has a healthcheck", lambda: bool((config.get("Healthcheck") or {}).get("Test"))),
        c("5.3", "all capabilities dropped, none added", lambda: host.get("CapDrop") == ["ALL"] and not host.get("CapAdd")),
        c("5.4", "not privileged", lambda: not host.get("Privileged")),
        c("5.5", "no sensitive host directory mounted", lambda: not [s for s in sources if s in SENSITIVE_HOST_DIRS]),
        c("5.7", "no privileged host port", lambda: all(int(b.get("HostPort") or 0) >= 1024 for b in bindings),
          waived=PUBLIC_ENTRYPOINT if public else ""),
        c("5.9", "not on the host's network namespace", lambda: host.get("NetworkMode") != "host"),
        c("5.10", "memory limited", lambda: host.get("Memory", 0) > 0),
        c("5.11", "CPU limited", lambda: host.get("NanoCpus", 0) > 0),
        c("5.12", "read-only root filesystem", lambda: host.get("ReadonlyRootfs") is True),
        c("5.13", "published ports bound to one address, not 0.0.0.0",
          lambda: all(b.get("HostIp") not in ("", "0.0.0.0", "::") for b in bindings),  # noqa: S104
          waived=PUBLIC_ENTRYPOINT if public else ""),
        c("5.14", "restart policy on-failure:5", lambda: False,
          waived="unless-stopped: a service must come back after a reboot or a crash loop's end, not give up after 5"),
        c("5.15", "host PID namespace not shared", lambda: host.get("PidMode") != "host"),
        c("5.16", "host IPC namespace not shared", lambda: host.get("IpcMode") != "host"),
        c("5.17", "no host devices", lambda: not host.get("Devices")),
        c("5.20", "host UTS namespace not shared", lambda: host.get("UTSMode") != "host"),
        c("5.21", "default seccomp profile kept", lambda: not [s for s in security if s.startswith("seccomp=unconfined")]),
        c("5.25", "no new privileges", lambda: "no-new-privileges:true" in security),
        c("5.28", "process count limited (nproc ulimit)", lambda: "nproc" in ulimits and ulimits["nproc"]["Hard"] > 0),
        # HostConfig.NetworkMode stays "bridge" (pulumi-docker creates there, then moves the container to its
        # networks): what counts is the networks it is attached to, as docker-bench-security reads them.
        c("5.29", "not on the default bridge",
          lambda: "bridge" not in (attrs["NetworkSettings"].get("Networks") or {}) and host.get("NetworkMode") != "host"),
        c("5.31", "docker socket not mounted", lambda: not [s for s in sources if s.endswith("docker.sock")]),
    ]
