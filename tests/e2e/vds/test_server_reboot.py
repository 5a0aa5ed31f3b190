"""After a reboot the provisioned host comes back as it was: Docker, the stack's containers (restart
policy), the firewall with its DOCKER-USER rules, fail2ban, sshd hardening. Runs last (file name order)."""

from __future__ import annotations

import pytest

from tests.e2e.vds.conftest import DEPLOY_USER, DOCKER_USER_RULES, Database

pytestmark = pytest.mark.e2e


def test_reboot_keeps_everything(backups: Database) -> None:
    host = backups.host
    rows = backups.sql("SELECT count(*) FROM posts")
    host.reboot()
    assert host.run("whoami").stdout.strip() == DEPLOY_USER
    assert host.run("true", user="root", check=False).returncode == 255
    assert host.run("systemctl is-active docker ufw cron ssh fail2ban").stdout.split() == ["active"] * 5
    assert host.run("sudo fail2ban-client status sshd").returncode == 0
    host.run(f"for i in $(seq 60); do docker exec {backups.container} pg_isready -q -U {backups.user} "
             f"-d {backups.db} && exit 0; sleep 0.5; done; exit 1")
    assert backups.sql("SELECT count(*) FROM posts") == rows
    docker_user = host.run("sudo iptables -S DOCKER-USER").stdout.splitlines()
    assert docker_user[:len(DOCKER_USER_RULES)] == DOCKER_USER_RULES, docker_user
    assert host.run("sudo iptables -S FORWARD").stdout.splitlines()[1] == "-A FORWARD -j DOCKER-USER"
    assert "Status: active" in host.run("sudo ufw status").stdout
    assert "latest" in host.run("sudo ls /var/backups/botstack").stdout
