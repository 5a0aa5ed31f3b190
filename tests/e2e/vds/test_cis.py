"""CIS-style check of a provisioned server: the Docker daemon (CIS Docker Benchmark, section 2) from
daemon.json and `docker info`, and sshd (CIS Debian, 5.2) from `sshd -T`, on the VDS test host.

Every check prints one line, `PASS <id> <what>` or `WAIVED <id> <what>: <reason>`; a check that
neither passes nor is waived is a FAIL and fails the test. Run with `-s` to see the list.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.cis import Check, run_checks
from tests.e2e.vds.conftest import Provisioned

pytestmark = pytest.mark.e2e

WEAK = ("sha1", "md5", "cbc", "nistp", "umac-64", "group14", "group1-", "group-exchange", "arcfour", "3des")


def docker_daemon_checks(daemon: dict, info: dict) -> list[Check]:
    opts = daemon.get("log-opts", {})
    return [
        Check("2.1", "icc off on the default bridge", lambda: daemon.get("icc") is False),
        Check("2.2", "log level info", lambda: daemon.get("log-level", "info") == "info"),
        Check("2.3", "Docker may change iptables", lambda: daemon.get("iptables", True) is True),
        Check("2.4", "no insecure registries",
              lambda: set(info["RegistryConfig"]["InsecureRegistryCIDRs"] or []) <= {"127.0.0.0/8", "::1/128"}
              and not daemon.get("insecure-registries")),
        Check("2.5", "no aufs storage driver", lambda: info["Driver"] != "aufs"),
        Check("2.6", "TLS for the daemon socket", lambda: False,
              waived="no TCP socket: the engine listens on its unix socket only, reached over SSH"),
        Check("2.7", "default ulimits", lambda: False,
              waived="set per container (nproc on every container) rather than daemon-wide"),
        Check("2.8", "user namespace remapping", lambda: False,
              waived="containers run as non-root uids without capabilities; remapping would break the "
                     "bind-mounted secret files and the data volumes' owners"),
        Check("2.9", "default cgroup parent", lambda: "cgroup-parent" not in daemon),
        Check("2.11", "authorization plugin", lambda: False,
              waived="one deploy user; access to the socket is the docker group, reached only with the SSH key"),
        Check("2.12", "centralised and rotated logging",
              lambda: daemon.get("log-driver") == "json-file" and opts.get("max-size") == "10m"
              and opts.get("max-file") == "3"),
        Check("2.14", "live restore", lambda: daemon.get("live-restore") is True and info["LiveRestoreEnabled"]),
        Check("2.15", "userland proxy off", lambda: daemon.get("userland-proxy") is False),
        Check("2.17", "experimental features off", lambda: info.get("ExperimentalBuild") is False),
        Check("2.18", "no new privileges by default", lambda: daemon.get("no-new-privileges") is True),
    ]


def sshd_checks(sshd: dict[str, list[str]]) -> list[Check]:
    def one(key: str) -> str:
        return sshd[key][-1]

    def algorithms(key: str) -> list[str]:
        return one(key).split(",")

    start = [int(n) for n in one("maxstartups").split(":")]
    return [
        Check("5.2.4", "SSH access limited (AllowUsers)", lambda: bool(sshd.get("allowusers"))),
        Check("5.2.5", "LogLevel INFO or VERBOSE", lambda: one("loglevel") in ("INFO", "VERBOSE")),
        Check("5.2.6", "PAM enabled", lambda: one("usepam") == "yes"),
        Check("5.2.7", "root login disabled", lambda: one("permitrootlogin") == "no"),
        Check("5.2.8", "HostbasedAuthentication off", lambda: one("hostbasedauthentication") == "no"),
        Check("5.2.9", "PermitEmptyPasswords off", lambda: one("permitemptypasswords") == "no"),
        Check("5.2.10", "PermitUserEnvironment off", lambda: one("permituserenvironment") == "no"),
        Check("5.2.11", "IgnoreRhosts on", lambda: one("ignorerhosts") == "yes"),
        Check("5.2.12", "X11 forwarding off", lambda: one("x11forwarding") == "no"),
        Check("5.2.13", "only strong ciphers", lambda: not [a for a in algorithms("ciphers") if any(w in a for w in WEAK)]),
        Check("5.2.14", "only strong MACs (encrypt-then-MAC)",
              lambda: all(a.endswith("-etm@openssh.com") for a in algorithms("macs"))
              and not [a for a in algorithms("macs") if any(w in a for w in WEAK)]),
        Check("5.2.15", "only strong key exchange",
              lambda: not [a for a in algorithms("kexalgorithms") if any(w in a for w in WEAK)]),
        Check("5.2.16", "TCP forwarding off", lambda: one("allowtcpforwarding") == "no"),
        Check("5.2.16a", "agent and stream-local forwarding, tunnels off",
              lambda: (one("allowagentforwarding"), one("allowstreamlocalforwarding"), one("permittunnel"))
              == ("no", "no", "no")),
        Check("5.2.17", "warning banner", lambda: False,
              waived="a legal banner is an organisation's policy text, not a control botstack can choose"),
        Check("5.2.18", "MaxAuthTries 4 or less", lambda: int(one("maxauthtries")) <= 4),
        Check("5.2.19", "MaxStartups 10:30:60 or stricter", lambda: start[0] <= 10 and start[1] >= 30 and start[2] <= 60),
        Check("5.2.20", "MaxSessions 10 or less", lambda: int(one("maxsessions")) <= 10),
        Check("5.2.21", "LoginGraceTime 60 s or less", lambda: 0 < int(one("logingracetime")) <= 60),
        Check("5.2.22", "idle clients dropped (ClientAliveInterval 1..900, CountMax 1..3)",
              lambda: 0 < int(one("clientaliveinterval")) <= 900 and 0 < int(one("clientalivecountmax")) <= 3),
        Check("5.2.x", "password and keyboard-interactive login off, keys only",
              lambda: (one("passwordauthentication"), one("kbdinteractiveauthentication"), one("authenticationmethods"))
              == ("no", "no", "publickey")),
    ]


def test_cis_server_daemon_and_sshd(provisioned: Provisioned) -> None:
    host = provisioned.host
    daemon = json.loads(host.run("cat /etc/docker/daemon.json").stdout)
    info = json.loads(host.run("docker info --format '{{json .}}'").stdout)
    sshd: dict[str, list[str]] = {}
    for line in host.run("sudo sshd -T").stdout.splitlines():
        key, _, value = line.partition(" ")
        sshd.setdefault(key, []).append(value)
    print("\n# Docker daemon (CIS Docker Benchmark 2.x) on the provisioned host")
    passed, waived, failed = run_checks(docker_daemon_checks(daemon, info))
    print("# sshd -T (CIS Debian 5.2.x) on the provisioned host")
    ssh_passed, ssh_waived, ssh_failed = run_checks(sshd_checks(sshd))
    assert not failed + ssh_failed, failed + ssh_failed
    assert (passed + ssh_passed, waived + ssh_waived) == (31, 5)
