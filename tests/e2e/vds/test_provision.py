"""server/provision.sh on a VDS-like host over real SSH: idempotence, host state, lock-out, pinning."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from tests.e2e.vds.conftest import DEPLOY_USER, DOCKER_USER_RULES, PG_CONTAINER, Provisioned, changes
from tests.e2e.vds.host import REPO

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


def test_sshd_effective_config(provisioned: Provisioned) -> None:
    effective = dict(
        line.split(" ", 1) for line in provisioned.host.run("sudo sshd -T").stdout.splitlines() if " " in line
    )
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["permitrootlogin"] == "no"
    assert effective["pubkeyauthentication"] == "yes"
    assert effective["permitemptypasswords"] == "no"


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
    rules = host.run("sudo ufw show added").stdout.split("\n", 1)[1].split()
    assert " ".join(rules) == "ufw allow 22/tcp ufw allow 80/tcp ufw allow 443/tcp"
    docker_user = host.run("sudo iptables -S DOCKER-USER").stdout.splitlines()
    assert docker_user[:len(DOCKER_USER_RULES)] == DOCKER_USER_RULES, docker_user
    assert host.run("sudo iptables -S FORWARD").stdout.splitlines()[1] == "-A FORWARD -j DOCKER-USER"


def test_daemon_json_docker_at_boot(provisioned: Provisioned) -> None:
    host = provisioned.host
    ti = host.testinfra()
    daemon = ti.file("/etc/docker/daemon.json")
    assert daemon.mode == 0o644
    assert json.loads(daemon.content_string) == {
        "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "live-restore": True}
    info = json.loads(host.run("docker info --format '{{json .}}'").stdout)
    assert info["LoggingDriver"] == "json-file" and info["LiveRestoreEnabled"] is True
    assert ti.service("docker").is_enabled and ti.service("docker").is_running


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
