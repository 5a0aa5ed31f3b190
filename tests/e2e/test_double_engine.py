"""The provider test double against the real local Docker engine (tests/double/README.md)."""

from __future__ import annotations

import contextlib
import subprocess

import pytest

docker = pytest.importorskip("docker")

import pulumi  # noqa: E402
import pulumi_command as command  # noqa: E402
import pulumi_docker as pdocker  # noqa: E402

from tests.double import DoubleError, RealMocks, run_program  # noqa: E402
from tests.double.mappings import CONTAINER, NETWORK, VOLUME  # noqa: E402

pytestmark = pytest.mark.e2e

IMAGE = "botstack-test/debian:bookworm"
PREFIX = "dbltest-"


VDS = f"{PREFIX}vds"  # the SSH test host: started and removed by its own fixture


def _cleanup(client) -> None:
    for c in client.containers.list(all=True, filters={"name": PREFIX}):
        if c.name.startswith(PREFIX) and not c.name.startswith(VDS):
            c.remove(force=True, v=True)
    for n in client.networks.list(names=[PREFIX]):
        if n.name.startswith(PREFIX):
            n.remove()
    for v in client.volumes.list(filters={"name": PREFIX}):
        if v.name.startswith(PREFIX) and not v.name.startswith(VDS):
            v.remove(force=True)


@pytest.fixture(scope="module")
def client(real_parts, docker_client):
    """The engine and base image come from tests/setup (the shared e2e fixtures)."""
    docker_client.images.get(IMAGE)
    _cleanup(docker_client)
    yield docker_client
    _cleanup(docker_client)


@pytest.fixture
def mocks(client, tmp_path):
    m = RealMocks(program_dir=tmp_path)
    yield m
    with contextlib.suppress(Exception):
        m.destroy_all()
    _cleanup(client)


def _app(image_cmd="sleep infinity", memory=64, extra_env="A=1"):
    # not internal: Docker publishes no port of a container whose only network is internal
    net = pdocker.Network("net", name=f"{PREFIX}net")
    vol = pdocker.Volume("vol", name=f"{PREFIX}vol", opts=pulumi.ResourceOptions(retain_on_delete=True))
    app = pdocker.Container(
        "app",
        name=f"{PREFIX}app",
        image=IMAGE,
        command=["sh", "-c", f"touch /tmp/ready && {image_cmd}"],
        envs=[extra_env],
        user="65534:65534",
        read_only=True,
        tmpfs={"/tmp": "rw,size=8m"},
        memory=memory,
        cpus="0.5",
        restart="unless-stopped",
        log_driver="json-file",
        log_opts={"max-size": "10m", "max-file": "3"},
        capabilities=pdocker.ContainerCapabilitiesArgs(drops=["ALL"], adds=["CAP_NET_BIND_SERVICE"]),
        security_opts=["no-new-privileges:true"],
        healthcheck=pdocker.ContainerHealthcheckArgs(
            tests=["CMD-SHELL", "test -f /tmp/ready"],
            interval="1s",
            timeout="1m30s",
            retries=3,
            start_period="2s",
        ),
        wait=True,
        wait_timeout=30,
        ports=[pdocker.ContainerPortArgs(internal=8080, ip="127.0.0.1")],
        volumes=[pdocker.ContainerVolumeArgs(volume_name=vol.name, container_path="/data")],
        networks_advanced=[pdocker.ContainerNetworksAdvancedArgs(name=net.name, aliases=["api"])],
        destroy_grace_seconds=5,
    )
    pulumi.export("app_id", app.id)
    pulumi.export("ports", app.ports)
    return app


def test_container_engine_fields_match_semantics(client, mocks):
    out = run_program(_app, mocks=mocks)
    attrs = client.api.inspect_container(f"{PREFIX}app")
    assert out["app_id"] == attrs["Id"]
    cfg, host = attrs["Config"], attrs["HostConfig"]
    assert attrs["State"]["Health"]["Status"] == "healthy"
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["ReadonlyRootfs"] is True
    assert host["Tmpfs"] == {"/tmp": "rw,size=8m"}
    assert host["CapDrop"] == ["ALL"] and host["CapAdd"] == ["CAP_NET_BIND_SERVICE"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    assert host["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert host["Init"] is False
    assert cfg["User"] == "65534:65534"
    assert cfg["Healthcheck"]["Interval"] == 1_000_000_000
    assert cfg["Healthcheck"]["Timeout"] == 90_000_000_000
    assert cfg["Healthcheck"]["Retries"] == 3
    assert host["Binds"] == [f"{PREFIX}vol:/data:rw"]
    # bridge disconnected, only the internal network with its alias
    nets = attrs["NetworkSettings"]["Networks"]
    assert list(nets) == [f"{PREFIX}net"] and "api" in nets[f"{PREFIX}net"]["Aliases"]
    # port bound on 127.0.0.1 with a random external port, reported back in the outputs
    assert host["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "0"}]}
    bound = attrs["NetworkSettings"]["Ports"]["8080/tcp"]
    assert bound[0]["HostIp"] == "127.0.0.1"
    assert out["ports"][0]["external"] == int(bound[0]["HostPort"]) > 0
    assert ("created", CONTAINER, "app") in mocks.actions()

    # second run with identical inputs changes nothing
    run_program(_app, mocks=mocks)
    assert [a for a, t, n in mocks.actions() if t == CONTAINER] == ["created", "unchanged"]
    assert client.api.inspect_container(f"{PREFIX}app")["Id"] == attrs["Id"]

    # memory is applied in place (ContainerUpdate), same container
    run_program(lambda: _app(memory=96), mocks=mocks)
    after = client.api.inspect_container(f"{PREFIX}app")
    assert after["Id"] == attrs["Id"] and after["HostConfig"]["Memory"] == 96 * 1024 * 1024
    assert mocks.actions(CONTAINER)[-1] == ("updated", CONTAINER, "app")

    # envs force replacement: delete-then-create; the named volume is kept
    client.containers.get(f"{PREFIX}app").exec_run(["sh", "-c", "true"])
    run_program(lambda: _app(memory=96, extra_env="A=2"), mocks=mocks)
    replaced = client.api.inspect_container(f"{PREFIX}app")
    assert replaced["Id"] != attrs["Id"] and "A=2" in replaced["Config"]["Env"]
    tail = mocks.actions()[-3:]
    assert ("deleted", CONTAINER, "app") in mocks.actions()
    assert ("replaced", CONTAINER, "app") in tail
    log = mocks.actions()
    assert log.index(("deleted", CONTAINER, "app")) < log.index(("replaced", CONTAINER, "app"))
    assert ("unchanged", VOLUME, "vol") in tail or ("unchanged", VOLUME, "vol") in log[-6:]

    # destroy: reverse order, the retained volume stays
    mocks.destroy_all()
    assert not client.containers.list(all=True, filters={"name": f"{PREFIX}app"})
    assert not client.networks.list(names=[f"{PREFIX}net"])
    assert client.volumes.get(f"{PREFIX}vol")
    assert ("kept", VOLUME, "vol") in mocks.actions()
    assert ("deleted", NETWORK, "net") in mocks.actions()


def test_upload_into_read_only_rootfs_fails_like_docker(client, mocks):
    """The provider always PUTs the archive at `/`, which Docker refuses for a read-only rootfs,
    even when the file would land in a volume: uploads and read_only do not mix."""

    def prog():
        pdocker.Container(
            "ro",
            name=f"{PREFIX}ro",
            image=IMAGE,
            command=["sleep", "infinity"],
            read_only=True,
            uploads=[pdocker.ContainerUploadArgs(file="/tmp/x.conf", content="x")],
            tmpfs={"/tmp": ""},
        )

    with pytest.raises(DoubleError, match="Unable to upload volume content: .*read-only"):
        run_program(prog, mocks=mocks)


def test_wait_timeout_error_leaves_container(client, mocks):
    def prog():
        pdocker.Container(
            "sick",
            name=f"{PREFIX}sick",
            image=IMAGE,
            command=["sleep", "infinity"],
            healthcheck=pdocker.ContainerHealthcheckArgs(tests=["CMD", "false"], interval="1s", retries=1),
            wait=True,
            wait_timeout=3,
        )

    with pytest.raises(Exception, match="container failed to be in healthy state"):
        run_program(prog, mocks=mocks)
    assert client.containers.get(f"{PREFIX}sick").status == "running"  # nothing is rolled back


def test_wait_without_healthcheck_is_an_error(client, mocks):
    def prog():
        pdocker.Container("nohc", name=f"{PREFIX}nohc", image=IMAGE, command=["sleep", "infinity"], wait=True)

    with pytest.raises(Exception, match="does not have a healthcheck defined"):
        run_program(prog, mocks=mocks)


def test_unknown_input_is_refused(client, mocks):
    def prog():
        pdocker.Container("gpu", name=f"{PREFIX}gpu", image=IMAGE, gpus="all")

    with pytest.raises(NotImplementedError, match="input 'gpus' is not implemented"):
        run_program(prog, mocks=mocks)
    assert not client.containers.list(all=True, filters={"name": f"{PREFIX}gpu"})


def test_local_command_runs_and_fails_like_the_provider(mocks, tmp_path):
    def prog():
        ok = command.local.Command(
            "ok", create="printf 'out\\n\\n'; echo err >&2; cat", stdin="in", environment={"DBL": "x"}, dir="."
        )
        pulumi.export("stdout", ok.stdout)
        pulumi.export("stderr", ok.stderr)

    out = run_program(prog, mocks=mocks)
    assert out["stdout"] == "out\n\nin"
    assert out["stderr"] == "err"

    def bad():
        command.local.Command("bad", create='echo "boom"; exit 3')

    with pytest.raises(DoubleError) as err:
        run_program(bad, mocks=RealMocks(program_dir=tmp_path))
    assert str(err.value) == 'exit status 3: running "echo \\"boom\\"; exit 3":\nboom\n'


def test_program_file_with_config_twice(mocks, tmp_path):
    prog = tmp_path / "__main__.py"
    prog.write_text(
        "import pulumi\nimport pulumi_command as command\n"
        "cfg = pulumi.Config('botstack')\n"
        "c = command.local.Command('echo', create='echo $WHO', environment={'WHO': cfg.require('who')})\n"
        "pulumi.export('who', c.stdout)\npulumi.export('token', cfg.require_secret('token'))\n"
    )
    first = run_program(prog, config={"botstack:who": "one", "botstack:token": "t"}, mocks=mocks, secret_keys=["botstack:token"])
    assert first == {"who": "one", "token": "t"} and first.secret_keys == {"token"}
    second = run_program(prog, config={"botstack:who": "two", "botstack:token": "t"}, mocks=mocks, secret_keys=["botstack:token"])
    assert second["who"] == "two"
    assert (
        mocks.actions(
            command.local.Command._pulumi_type if hasattr(command.local.Command, "_pulumi_type") else "command:local:Command"
        )[-1][0]
        == "updated"
    )


def test_default_port_ip_and_uploads(client, mocks):
    """Ports without ip bind 0.0.0.0 (the provider's default): the double reproduces it."""

    def prog():
        pdocker.Container(
            "pub",
            name=f"{PREFIX}pub",
            image=IMAGE,
            command=["sleep", "infinity"],
            ports=[pdocker.ContainerPortArgs(internal=80)],
            uploads=[
                pdocker.ContainerUploadArgs(file="/etc/dbl.sh", content="hello\n", executable=True),
                pdocker.ContainerUploadArgs(file="/etc/dbl.conf", content_base64="aGk=", permissions="0600"),
            ],
        )

    run_program(prog, mocks=mocks)
    bound = client.api.inspect_container(f"{PREFIX}pub")["NetworkSettings"]["Ports"]["80/tcp"]
    assert any(b["HostIp"] == "0.0.0.0" for b in bound)  # noqa: S104
    assert int(bound[0]["HostPort"]) > 0
    box = client.containers.get(f"{PREFIX}pub")
    assert box.exec_run(["stat", "-c", "%a %u %s", "/etc/dbl.sh"]).output.decode().split() == ["744", "0", "6"]
    assert box.exec_run(["stat", "-c", "%a %u %s", "/etc/dbl.conf"]).output.decode().split() == ["600", "0", "2"]
    mocks.destroy_all()
    assert not client.containers.list(all=True, filters={"name": f"{PREFIX}pub"})
    assert subprocess.run(["docker", "inspect", f"{PREFIX}pub"], capture_output=True, check=False).returncode


# ---- remote commands over real SSH (the VDS-like test host of tests/e2e/vds) ----------------------


@pytest.fixture(scope="module")
def vds(real_parts):
    from tests.e2e.vds.host import start_vds_host

    host = start_vds_host(name=VDS)
    yield host
    host.stop()


def _conn(vds, **extra):
    return command.remote.ConnectionArgs(host="127.0.0.1", port=vds.port, private_key=vds.key_path.read_text(), **extra)


def test_remote_command_stdin_outputs_and_pinned_host_key(vds, mocks):
    def prog():
        c = command.remote.Command(
            "r",
            connection=_conn(vds, host_key=vds.host_key),
            create="cat; echo e >&2; id -un",
            stdin=pulumi.Output.secret("from-stdin\n"),
        )
        pulumi.export("stdout", c.stdout)
        pulumi.export("stderr", c.stderr)

    out = run_program(prog, mocks=mocks)
    assert out["stdout"] == "from-stdin\nroot" and out["stderr"] == "e"


def test_remote_host_key_mismatch_fails(vds, mocks):
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIeq3kTAbjPZ7uhWxYcY6sSTkWb1NB8qJr0b3KN6VdTp"

    def prog():
        command.remote.Command("bad-key", connection=_conn(vds, host_key=other, dial_error_limit=0), create="true")

    with pytest.raises(DoubleError, match="host key"):
        run_program(prog, mocks=mocks)


def test_remote_environment_refused_by_sshd_and_failure_text(vds, mocks, tmp_path):
    def refused():
        command.remote.Command("env", connection=_conn(vds), create="echo $FOO", environment={"FOO": "x"})

    with pytest.raises(DoubleError, match='could not set environment variable "FOO": ssh: setenv failed'):
        run_program(refused, mocks=mocks)

    def fails():
        command.remote.Command("exit", connection=_conn(vds), create="echo out; exit 4")

    with pytest.raises(DoubleError) as err:
        run_program(fails, mocks=RealMocks(program_dir=tmp_path))
    assert str(err.value) == 'Process exited with status 4: running "echo out; exit 4":\nout\n'


def test_copy_to_remote_string_and_file(vds, mocks, tmp_path):
    src = tmp_path / "script.sh"
    src.write_text("#!/bin/sh\necho hi\n")
    src.chmod(0o755)

    def prog():
        s = command.remote.CopyToRemote(
            "s", connection=_conn(vds), source=pulumi.StringAsset("abc"), remote_path="/tmp/dbl/a/s.txt"
        )
        # After "s": /tmp/dbl must exist as a directory for the file to land inside it (else it becomes /tmp/dbl).
        command.remote.CopyToRemote(
            "f",
            connection=_conn(vds),
            source=pulumi.FileAsset(str(src)),
            remote_path="/tmp/dbl",
            opts=pulumi.ResourceOptions(depends_on=[s]),
        )

    run_program(prog, mocks=mocks)
    assert vds.run("cat /tmp/dbl/a/s.txt").stdout.strip() == b"abc" or vds.run("cat /tmp/dbl/a/s.txt").stdout.strip() == "abc"
    mode = vds.run("stat -c %a /tmp/dbl/script.sh").stdout
    mode = mode.decode() if isinstance(mode, bytes) else mode
    assert mode.strip() == "644"  # no permissions are set: the local exec bit is lost


def test_docker_provider_over_ssh_runs_ssh_with_ssh_opts_and_pings_first(vds, mocks, capfd):
    """The unprovisioned test host has sshd but no docker CLI: the provider's ping must fail, after ssh
    (with sshOpts: key, pinned known_hosts) reached the host and ran `docker system dial-stdio` there."""

    def prog():
        p = pdocker.Provider(
            "vds",
            host=f"ssh://root@127.0.0.1:{vds.port}",
            ssh_opts=[o for o in vds.ssh_options() if o not in ("-p", str(vds.port))],
        )
        pdocker.Network("n", name=f"{PREFIX}remote", opts=pulumi.ResourceOptions(provider=p))

    with pytest.raises(DoubleError, match="^Error pinging Docker server"):
        run_program(prog, mocks=mocks)
    assert "docker: command not found" in capfd.readouterr().err
    assert not [a for a in mocks.actions() if a[1] == NETWORK]


def test_image_build_and_remote_image(client, mocks, tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "Dockerfile").write_text(f'FROM {IMAGE}\nARG GREETING\nRUN echo "$GREETING" > /greeting\n')
    tag = f"{PREFIX}img:test"

    def prog():
        built = pdocker.Image(
            "img",
            image_name=tag,
            skip_push=True,
            build=pdocker.DockerBuildArgs(context="img", args={"GREETING": "hi"}),
        )
        base = pdocker.RemoteImage("base", name=IMAGE, keep_locally=True)
        pulumi.export("built", built.repo_digest)
        pulumi.export("base", base.image_id)

    try:
        out = run_program(prog, mocks=mocks)
        assert out["built"] == client.images.get(tag).id  # skipPush: repoDigest is the local image ID
        assert out["base"] == client.images.get(IMAGE).id
        assert client.containers.run(tag, ["cat", "/greeting"], remove=True).decode() == "hi\n"
        mocks.destroy_all()
        assert client.images.get(IMAGE)  # keepLocally: not removed
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag, force=True)


def test_push_is_refused(mocks, tmp_path):
    def prog():
        pdocker.Image("p", image_name="registry.example/x:1", build=pdocker.DockerBuildArgs(context="."))

    with pytest.raises(NotImplementedError, match="skipPush=false"):
        run_program(prog, mocks=mocks)
