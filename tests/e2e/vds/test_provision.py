"""server/provision.sh on a VDS-like host over real SSH: idempotence, host state, lock-out, pinning."""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
import time
import urllib.request

import pytest

from tests.e2e.vds.conftest import DEPLOY_USER, DOCKER_USER_RULES, PG_CONTAINER, Provisioned, changes
from tests.e2e.vds.host import REPO, start_vds_host

pytestmark = pytest.mark.e2e


def test_first_run_changes_the_host_and_the_second_changes_nothing(provisioned: Provisioned) -> None:
    assert changes(provisioned.first.stdout) >= 10, provisioned.first.stdout
    assert "changed: installed docker.io" in provisioned.first.stdout
    second = provisioned.second.stdout
    assert changes(second) == 0, second
    assert "changed:" not in second
    assert second.count("ok:") >= 15


def test_dry_run_reports_without_changing(provisioned: Provisioned) -> None:
    host = provisioned.host
    host.put("server/provision.sh", "provision.sh")
    before = host.run("sudo stat -c '%a %Y' /etc/botstack /etc/ssh/sshd_config.d/10-botstack.conf").stdout
    host.run("sudo chmod 755 /etc/botstack")
    try:
        out = host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER} --dry-run").stdout
        assert "changed: (dry run) /etc/botstack (mode 700, root:root)" in out
        assert out.strip().endswith("botstack-provision: 1 changed (dry run)")
        assert host.run("sudo stat -c %a /etc/botstack").stdout.strip() == "755"
        # a real run repairs the drift and reports exactly that
        out = host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER}").stdout
        assert changes(out) == 1, out
    finally:
        host.run("sudo chmod 700 /etc/botstack")
    assert host.run("sudo stat -c '%a %Y' /etc/botstack /etc/ssh/sshd_config.d/10-botstack.conf").stdout == before


def test_a_dialled_port_other_than_sshds_never_closes_ssh(provisioned: Provisioned) -> None:
    """Behind NAT (like this test host) the port the client dials is not the port sshd listens on."""
    host = provisioned.host
    host.put("server/provision.sh", "provision.sh")
    out = host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER} --ssh-port {host.port}")
    assert f"sshd listens on port 22, not {host.port}" in out.stderr
    assert changes(out.stdout) == 0 and "ok: ufw allow 22/tcp" in out.stdout


def test_deploy_user_key_groups_and_sudo(provisioned: Provisioned) -> None:
    host = provisioned.host
    ti = host.testinfra()
    user = ti.user(DEPLOY_USER)
    assert user.exists and "docker" in user.groups
    ssh_dir = ti.file(f"{user.home}/.ssh")
    keys = ti.file(f"{user.home}/.ssh/authorized_keys")
    assert (ssh_dir.mode, ssh_dir.user) == (0o700, DEPLOY_USER)
    assert (keys.mode, keys.user) == (0o600, DEPLOY_USER)
    assert keys.content_string.splitlines().count(host.public_key) == 1
    sudoers = ti.file("/etc/sudoers.d/10-botstack")
    assert (sudoers.mode, sudoers.user) == (0o440, "root")
    assert host.run("sudo -n id -u").stdout.strip() == "0"
    assert host.run("docker info --format '{{.ServerVersion}}'").stdout.strip()  # docker group works


def sshd_effective(host, user: str | None = None) -> dict[str, list[str]]:
    """`sshd -T`: what sshd really uses, after every include and default (keys lowercased)."""
    effective: dict[str, list[str]] = {}
    for line in host.run("sudo sshd -T", user=user).stdout.splitlines():
        key, _, value = line.partition(" ")
        effective.setdefault(key, []).append(value)
    return effective


WEAK_ALGORITHMS = ("sha1", "nistp", "cbc", "md5", "umac-64", "group14", "group1-", "group-exchange")


def test_sshd_effective_config(provisioned: Provisioned) -> None:
    effective = {key: values[-1] for key, values in sshd_effective(provisioned.host).items()}
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["permitrootlogin"] == "no"
    assert effective["pubkeyauthentication"] == "yes"
    assert effective["authenticationmethods"] == "publickey"
    assert effective["permitemptypasswords"] == "no"
    assert sshd_effective(provisioned.host)["allowusers"] == [DEPLOY_USER]
    assert effective["maxauthtries"] == "3"
    assert (effective["clientaliveinterval"], effective["clientalivecountmax"]) == ("300", "2")
    for forwarding in ("allowtcpforwarding", "allowagentforwarding", "allowstreamlocalforwarding", "x11forwarding",
                       "permittunnel"):
        assert effective[forwarding] == "no", forwarding
    assert effective["kexalgorithms"].split(",")[0] == "sntrup761x25519-sha512"  # Debian 12's OpenSSH 9.2
    for key in ("kexalgorithms", "ciphers", "macs"):
        weak = [a for a in effective[key].split(",") if any(w in a for w in WEAK_ALGORITHMS)]
        assert not weak, f"{key}: {weak}"
    assert set(effective["macs"].split(",")) == {
        "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"}


def test_forwarding_and_weak_algorithms_are_refused(provisioned: Provisioned) -> None:
    host = provisioned.host
    # -W asks sshd to forward stdio to a TCP port (sshd's own, which listens): refused with TCP forwarding off
    forward = subprocess.run([*host.ssh_argv(), "-W", "127.0.0.1:22"], capture_output=True, text=True,
                             input="", timeout=30)
    assert forward.returncode == 255 and "stdio forwarding failed" in forward.stderr, forward.stderr
    agent = subprocess.run([*host.ssh_argv(), "-A", "echo ${SSH_AUTH_SOCK:-none}"], capture_output=True, text=True,
                           env={"SSH_AUTH_SOCK": "/nonexistent/agent.sock", "PATH": "/usr/bin:/bin"}, timeout=30)
    assert agent.stdout.strip() == "none", agent  # no agent socket on the server
    # (a MAC is only negotiated with a non-AEAD cipher, hence aes128-ctr with the weak MAC)
    for options in (["Ciphers=aes128-ctr", "MACs=hmac-sha1"], ["KexAlgorithms=diffie-hellman-group14-sha1"],
                    ["Ciphers=aes128-cbc"]):
        argv = ["LogLevel=INFO" if word == "LogLevel=ERROR" else word for word in host.ssh_argv()]  # ssh's reason
        weak = subprocess.run([*argv, *(f"-o{o}" for o in options), "true"], capture_output=True, text=True, timeout=30)
        assert weak.returncode == 255 and "no matching" in weak.stderr, (options, weak.stderr)
    assert subprocess.run([*host.ssh_argv(), "-oCiphers=aes128-ctr", "-oMACs=hmac-sha2-256-etm@openssh.com", "true"],
                          timeout=30).returncode == 0


def test_root_is_locked_out_and_deploy_user_still_gets_in(provisioned: Provisioned) -> None:
    host = provisioned.host
    root = host.run("true", user="root", check=False)
    assert root.returncode == 255 and "Permission denied" in root.stderr
    password = subprocess.run(
        [*host.ssh_argv(DEPLOY_USER), "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
         "true"], capture_output=True, text=True)
    assert password.returncode == 255 and "Permission denied" in password.stderr
    assert host.run("whoami", user=DEPLOY_USER).stdout.strip() == DEPLOY_USER


def test_wrong_pinned_host_key_is_refused(provisioned: Provisioned, tmp_path) -> None:
    host = provisioned.host
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = (tmp_path / "other.pub").read_text().split()
    wrong = tmp_path / "known_hosts_wrong"
    wrong.write_text(f"[127.0.0.1]:{host.port} {other[0]} {other[1]}\n")
    refused = subprocess.run([*host.ssh_argv(known_hosts=wrong), "true"], capture_output=True, text=True)
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    unknown = subprocess.run([*host.ssh_argv(known_hosts=empty), "true"], capture_output=True, text=True)
    assert unknown.returncode == 255 and "Host key verification failed" in unknown.stderr
    assert host.run("true").returncode == 0  # the pinned key itself works


def test_firewall_rules(provisioned: Provisioned) -> None:
    host = provisioned.host
    status = host.run("sudo ufw status verbose").stdout
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing), deny (routed)" in status
    rules = host.run("sudo ufw show added").stdout.splitlines()[1:]
    assert rules == [f"ufw allow {port}/tcp comment 'botstack'" for port in (22, 80, 443)]
    docker_user = host.run("sudo iptables -S DOCKER-USER").stdout.splitlines()
    assert docker_user[:len(DOCKER_USER_RULES)] == DOCKER_USER_RULES, docker_user
    assert host.run("sudo iptables -S FORWARD").stdout.splitlines()[1] == "-A FORWARD -j DOCKER-USER"


def test_provisioning_removes_only_its_own_firewall_rules(provisioned: Provisioned) -> None:
    """A user's own ufw rule survives a re-provisioning; a stale rule of ours (an old SSH port) goes."""
    host = provisioned.host
    host.put("server/provision.sh", "provision.sh")
    host.run("sudo ufw allow 5000/tcp && sudo ufw allow from 192.0.2.7 to any port 6000 proto tcp "
             "&& sudo ufw allow 2222/tcp comment botstack")
    try:
        out = host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER}").stdout
        assert "changed: ufw rule of an earlier provisioning removed: allow 2222/tcp" in out
        assert changes(out) == 1, out
        rules = host.run("sudo ufw show added").stdout.splitlines()[1:]
        assert "ufw allow 5000/tcp" in rules and "ufw allow from 192.0.2.7 to any port 6000 proto tcp" in rules
        assert not [r for r in rules if "2222" in r]
        assert changes(host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER}").stdout) == 0
    finally:
        host.run("sudo ufw --force delete allow 5000/tcp; sudo ufw --force delete allow from 192.0.2.7 to any "
                 "port 6000 proto tcp; sudo ufw --force delete allow 2222/tcp", check=False)


def test_fail2ban_bans_an_address_after_failed_logins(provisioned: Provisioned) -> None:
    host = provisioned.host
    assert host.run("sudo fail2ban-client get sshd maxretry").stdout.strip() == "5"
    attempts = 0
    try:
        # an unknown user, with our key: "Invalid user", one failure each. Earlier tests' refused logins (root)
        # count too, so the ban comes after at most 5 of ours.
        while attempts < 8 and not _banned(host):
            attempts += 1
            counted = _total_failed(host)
            if not _ssh_refused(host, "mallory"):
                break  # no answer: banned while this attempt connected
            deadline = time.monotonic() + 10  # fail2ban follows the journal with a short lag
            while _total_failed(host) == counted and time.monotonic() < deadline:
                time.sleep(0.3)
            assert _total_failed(host) > counted, "a refused login was not counted"
            time.sleep(0.5)  # the ban action runs after the count
        assert attempts <= 5 and _banned(host), attempts
        # banned: even the deploy user's good key gets no connection from that address now
        assert not _ssh_answers(host, DEPLOY_USER)
    finally:
        _docker_exec(host, "fail2ban-client", "unban", "--all")
    assert host.run("whoami").stdout.strip() == DEPLOY_USER


def _total_failed(host) -> int:
    status = _docker_exec(host, "fail2ban-client", "status", "sshd")
    return int(re.search(r"Total failed:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def _banned(host) -> bool:
    status = _docker_exec(host, "fail2ban-client", "status", "sshd")
    return "Currently banned:\t0" not in status


def _ssh_refused(host, user: str) -> bool:
    """True if sshd answered and refused the login; False if nothing answered (the address is banned)."""
    try:
        result = subprocess.run([*host.ssh_argv(user), "true"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 255 and "Permission denied" in result.stderr


def _ssh_answers(host, user: str) -> bool:
    try:
        return subprocess.run([*host.ssh_argv(user), "true"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _docker_exec(host, *argv: str) -> str:
    """Run on the test host through Docker, not SSH (used while SSH itself is banned)."""
    return subprocess.run(["docker", "exec", host.container, *argv], capture_output=True, text=True,
                          check=True).stdout


DAEMON_JSON = {
    "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "live-restore": True,
    "no-new-privileges": True, "icc": False, "userland-proxy": False,
}


def test_daemon_json_docker_at_boot(provisioned: Provisioned) -> None:
    host = provisioned.host
    ti = host.testinfra()
    daemon = ti.file("/etc/docker/daemon.json")
    assert daemon.mode == 0o644
    assert json.loads(daemon.content_string) == DAEMON_JSON
    info = json.loads(host.run("docker info --format '{{json .}}'").stdout)
    assert info["LoggingDriver"] == "json-file" and info["LiveRestoreEnabled"] is True
    assert ti.service("docker").is_enabled and ti.service("docker").is_running


def test_daemon_json_takes_effect_and_user_networks_still_connect(provisioned: Provisioned, database) -> None:
    """no-new-privileges for every container; icc off isolates the default bridge only, so the stack's own
    (user-defined) networks still connect; with the userland proxy off no docker-proxy process runs."""
    host = provisioned.host
    image = database_image(host)
    run = f"docker run --rm --entrypoint perl {image}"
    assert "NoNewPrivs:\t1" in host.run(f"{run} -ne 'print if /NoNewPrivs/' /proc/self/status").stdout
    host.run("cat > /tmp/botstack-fw-server.pl", input=HTTP_SERVER)
    connect = "use IO::Socket::INET; IO::Socket::INET->new(PeerAddr => shift, Timeout => 3) or exit 1"
    host.run("docker network create botstack-icc-test >/dev/null")
    try:
        for network in ("bridge", "botstack-icc-test"):
            host.run(f"docker run -d --name icc-{network} --network {network} "
                     f"-v /tmp/botstack-fw-server.pl:/srv.pl:ro --entrypoint perl {image} /srv.pl 8000")
        ip = host.run("docker inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' icc-bridge").stdout.strip()
        # wait until both listen (from the host, which icc does not restrict)
        host.run(f"for i in $(seq 40); do curl -fsS --max-time 1 http://{ip}:8000/ >/dev/null && exit 0; sleep 0.25; "
                 "done; exit 1")
        same_user_network = host.run(
            f"for i in $(seq 20); do docker run --rm --network botstack-icc-test --entrypoint perl {image} "
            f"-e '{connect}' icc-botstack-icc-test:8000 && exit 0; sleep 0.5; done; exit 1", check=False)
        assert same_user_network.returncode == 0, same_user_network.stderr
        default_bridge = host.run(f"{run} -e '{connect}' {ip}:8000", check=False)
        assert default_bridge.returncode == 1, "icc: false must stop container-to-container on the default bridge"
        assert host.run("pgrep -x docker-proxy", check=False).returncode == 1, "userland proxy still running"
    finally:
        host.run("docker rm -f icc-bridge icc-botstack-icc-test; docker network rm botstack-icc-test", check=False)


MV_RECORDER = """#!/bin/sh
printf '%s\\n' "$*" >>"$MV_LOG"
exec /bin/mv "$@"
"""
ETC_DRIFT = ("/etc/apt/apt.conf.d/20auto-upgrades", "/etc/fail2ban/jail.d/botstack.local",
             "/etc/ssh/sshd_config.d/10-botstack.conf")


def test_files_under_etc_are_replaced_by_a_rename_within_their_directory(provisioned: Provisioned, tmp_path) -> None:
    """Every `mv` provision.sh does onto /etc comes from a temp file in the same directory (an atomic rename,
    never a copy across file systems). A wrapper first on PATH records each mv; drift makes the script rewrite."""
    host = provisioned.host
    host.put("server/provision.sh", "provision.sh")
    (tmp_path / "mv").write_text(MV_RECORDER)
    host.run("mkdir -p mvbin && rm -f mvbin/log")
    host.put(tmp_path / "mv", "mvbin/mv")
    drift = "".join(f"echo '# drift' >> {path}\n" for path in ETC_DRIFT)
    drift += "sed -i '/BEGIN botstack docker-user/,/END botstack docker-user/d' /etc/ufw/after.rules\n"
    host.run("sudo bash -s", input=drift)
    out = host.run(f"sudo env PATH=$HOME/mvbin:/usr/sbin:/usr/bin:/sbin:/bin MV_LOG=$HOME/mvbin/log "
                   f"bash provision.sh --deploy-user {DEPLOY_USER}").stdout
    assert changes(out) == 4, out
    moves = [line.split() for line in host.run("cat mvbin/log").stdout.splitlines()]
    assert {words[-1] for words in moves} >= {*ETC_DRIFT, "/etc/ufw/after.rules"}, moves
    for words in moves:
        source, target = words[-2], words[-1]
        assert posixpath.dirname(source) == posixpath.dirname(target), words
        assert posixpath.basename(source).startswith(".botstack-"), words
    leftovers = host.run("sudo ls -a /etc/ssh/sshd_config.d /etc/ufw /etc/fail2ban/jail.d /etc/apt/apt.conf.d").stdout
    assert ".botstack-" not in leftovers
    assert changes(host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER}").stdout) == 0


def test_unattended_upgrades_and_directories(provisioned: Provisioned) -> None:
    ti = provisioned.host.testinfra()
    assert ti.package("unattended-upgrades").is_installed
    auto = ti.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in auto
    assert ti.service("apt-daily-upgrade.timer").is_enabled
    with ti.sudo():
        for path in ("/etc/botstack", "/var/backups/botstack"):
            d = ti.file(path)
            assert d.is_directory and (d.mode, d.user, d.group) == (0o700, "root", "root"), path


HTTP_SERVER = r"""
use IO::Socket::INET;
my $port = shift;
my $s = IO::Socket::INET->new(LocalPort => $port, Listen => 5, ReuseAddr => 1) or die "listen: $!";
while (my $c = $s->accept) {
  my $req = <$c>;
  if ($req =~ m{/fail}) { print $c "HTTP/1.0 503 Service Unavailable\r\n\r\n{\"database\":\"down\"}\n"; }
  else { print $c "HTTP/1.0 200 OK\r\n\r\nhello from $port\n"; }
  close $c;
}
"""


def _http(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as response:
            return response.read().decode()
    except OSError as exc:  # refused, reset or timed out
        return f"unreachable: {exc}"


def test_published_docker_ports_other_than_80_443_are_blocked(provisioned: Provisioned, database) -> None:
    """Docker's DNAT bypasses ufw's INPUT rules; the DOCKER-USER rules must stop port 8080."""
    host = provisioned.host
    host.run("cat > /tmp/botstack-fw-server.pl", input=HTTP_SERVER)
    image = database_image(host)
    for port in (80, 8080):
        host.run(f"docker rm -f fw-{port} >/dev/null 2>&1; docker run -d --name fw-{port} -p {port}:{port} "
                 f"-v /tmp/botstack-fw-server.pl:/srv.pl:ro --entrypoint perl {image} /srv.pl {port}")
    try:
        host.run("for p in 80 8080; do for i in $(seq 40); do curl -fsS --max-time 1 "
                 "http://$(docker inspect -f '{{.NetworkSettings.IPAddress}}' fw-$p):$p/ >/dev/null && break;"
                 " sleep 0.25; done; done")
        assert "hello from 80" in _http(host.published[80])
        assert _http(host.published[8080]).startswith("unreachable")
        # server/deploy-check.sh through the same published ports, from the deploying machine
        check = [str(REPO / "server" / "deploy-check.sh")]
        good = subprocess.run([*check, f"http://127.0.0.1:{host.published[80]}/health", "10", "1"],
                              capture_output=True, text=True)
        assert good.returncode == 0 and "answered 200" in good.stdout, good.stderr
        started = time.monotonic()
        bad = subprocess.run([*check, f"http://127.0.0.1:{host.published[80]}/fail", "3", "1"],
                             capture_output=True, text=True)
        assert bad.returncode == 1 and time.monotonic() - started < 15
        assert "last status: 503" in bad.stderr and '{"database":"down"}' in bad.stderr
    finally:
        host.run("docker rm -f fw-80 fw-8080", check=False)


def database_image(host) -> str:
    return host.run(f"docker inspect -f '{{{{.Config.Image}}}}' {PG_CONTAINER}").stdout.strip()


def test_invalid_sshd_config_is_rolled_back_and_nobody_is_locked_out(provisioned: Provisioned) -> None:
    host = provisioned.host
    host.put("server/provision.sh", "provision.sh")
    host.run("sudo sh -c 'echo NoSuchOption yes > /etc/ssh/sshd_config.d/05-broken.conf && "
             "mv /etc/ssh/sshd_config.d/10-botstack.conf /root/10-botstack.conf.saved'")
    try:
        out = host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER}", check=False)
        assert out.returncode != 0 and "rolled back /etc/ssh/sshd_config.d/10-botstack.conf" in out.stderr
        assert host.run("sudo test -e /etc/ssh/sshd_config.d/10-botstack.conf", check=False).returncode == 1
        assert host.run("whoami").stdout.strip() == DEPLOY_USER  # sshd was not reloaded with it
    finally:
        host.run("sudo sh -c 'rm -f /etc/ssh/sshd_config.d/05-broken.conf && "
                 "mv /root/10-botstack.conf.saved /etc/ssh/sshd_config.d/10-botstack.conf'")
    assert changes(host.run(f"sudo bash provision.sh --deploy-user {DEPLOY_USER}").stdout) == 0


def test_a_sudo_bootstrap_user_provisions_and_is_shut_out_once_the_deploy_user_takes_over() -> None:
    """Cloud images log in as a sudoer (debian, ubuntu), not root: the bootstrap runs provision.sh through
    `sudo -n` with the exact command the Server component declares, on a fresh host of its own."""
    from components.commands import shipped_script
    from components.config import VdsConfig
    from components.server import bootstrap_command, provision_command

    host = start_vds_host()
    try:
        admin = "admin"
        setup = (f"useradd --create-home --shell /bin/bash {admin} && install -d -m 700 -o {admin} -g {admin} "
                 f"/home/{admin}/.ssh && printf '%s\\n' '{host.public_key}' > /home/{admin}/.ssh/authorized_keys && "
                 f"chown {admin}: /home/{admin}/.ssh/authorized_keys && echo '{admin} ALL=(ALL) NOPASSWD: ALL' "
                 f"> /etc/sudoers.d/90-{admin}")
        subprocess.run(["docker", "exec", host.container, "sh", "-c", setup], check=True)
        vds = VdsConfig.model_construct(host=host.host, port=host.port, user=DEPLOY_USER, bootstrap_user=admin,
                                        host_key=host.host_key)
        script = shipped_script("provision.sh")  # the stdin the Server component sends: lib.sh, contract.sh, the script
        first = host.run(bootstrap_command(vds, host.public_key), user=admin, input=script)
        assert changes(first.stdout) >= 10, first.stdout
        assert sshd_effective(host, admin)["allowusers"] == [DEPLOY_USER, admin]
        assert host.run("whoami", user=admin).stdout.strip() == admin  # still admitted while bootstrapping
        second = host.run(provision_command(vds, host.public_key), user=DEPLOY_USER, input=script)
        assert changes(second.stdout) == 1 and "sshd reloaded" in second.stdout, second.stdout
        host.user = DEPLOY_USER
        assert sshd_effective(host)["allowusers"] == [DEPLOY_USER]
        refused = host.run("true", user=admin, check=False)
        assert refused.returncode == 255 and "Permission denied" in refused.stderr
    finally:
        host.stop()
