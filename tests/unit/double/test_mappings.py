"""Pure mappings of the provider double: no Docker, no network."""

from __future__ import annotations

import io
import tarfile

import pytest

from tests.double import comparable, unwrap
from tests.double.commands import connection_defaults, random_password
from tests.double.go_format import command_error, go_quote, parse_duration, trim_one_newline
from tests.double.mappings import (
    DoubleError,
    check_container_inputs,
    classify_container_change,
    container_create_body,
    container_update_body,
    endpoint_config,
    nano_cpus,
    network_create_body,
    upload_mode,
    upload_tar,
    volume_create_body,
)

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("0s", 0),
        ("5s", 5 * 10**9),
        ("1m30s", 90 * 10**9),
        ("250ms", 250 * 10**6),
        ("1.5h", 5400 * 10**9),
        ("2h45m", (2 * 3600 + 45 * 60) * 10**9),
        ("100us", 100_000),
        ("-1s", -(10**9)),
    ],
)
def test_go_durations(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("bad", ["", "5", "1x", "s", "1s2"])
def test_bad_durations_are_refused(bad):
    with pytest.raises(ValueError, match="time: "):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("echo hi", '"echo hi"'),
        ('say "x"', '"say \\"x\\""'),
        ("a\\b", '"a\\\\b"'),
        ("l1\nl2\t", '"l1\\nl2\\t"'),
        ("\x01", '"\\x01"'),
        ("é", '"é"'),
        ("\x7f", '"\\x7f"'),
    ],
)
def test_go_quote(text, quoted):
    assert go_quote(text) == quoted


def test_command_error_text_and_trimming():
    assert command_error("exit status 2", "false 'x'", "oops\n") == "exit status 2: running \"false 'x'\":\noops\n"
    assert trim_one_newline("a\n\n") == "a\n" and trim_one_newline("a") == "a"


def test_minimal_container_body_applies_provider_defaults():
    body = container_create_body({"image": "img"})
    assert body["Image"] == "img"
    host = body["HostConfig"]
    assert host["Init"] is False  # always sent
    assert host["NetworkMode"] == "bridge"
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["LogConfig"] == {"Type": ""}  # daemon default driver
    assert body["NetworkingConfig"] == {}
    assert "Memory" not in host and "Healthcheck" not in body and "Cmd" not in body


def test_full_container_body_units_and_shapes():
    body = container_create_body(
        {
            "image": "img",
            "command": ["a", "b"],
            "entrypoints": ["/e"],
            "envs": ["A=1"],
            "user": "10001:10001",
            "workingDir": "/app",
            "labels": [{"label": "k", "value": "v"}],
            "ports": [{"internal": 8000, "ip": "127.0.0.1"}, {"internal": 53, "external": 5353, "protocol": "udp"}],
            "volumes": [
                {"volumeName": "data", "containerPath": "/data"},
                {"hostPath": "/etc/s", "volumeName": "ignored", "containerPath": "/run/s", "readOnly": True},
                {"containerPath": "/anon"},
            ],
            "mounts": [{"type": "tmpfs", "target": "/t", "tmpfsOptions": {"sizeBytes": 1024, "mode": 1777}}],
            "tmpfs": {"/tmp": "rw"},
            "memory": 256,
            "memoryReservation": 128,
            "memorySwap": -1,
            "cpus": "0.25",
            "cpuShares": 512,
            "logDriver": "json-file",
            "logOpts": {"max-size": "10m"},
            "restart": "on-failure",
            "maxRetryCount": 3,
            "healthcheck": {
                "tests": ["CMD", "x"],
                "interval": "10s",
                "timeout": "1m30s",
                "startPeriod": "5s",
                "startInterval": "1s",
                "retries": 5,
            },
            "readOnly": True,
            "capabilities": {"adds": ["CAP_CHOWN"], "drops": ["ALL"]},
            "securityOpts": ["no-new-privileges:true", "systempaths=unconfined"],
            "stopSignal": "SIGINT",
            "stopTimeout": 30,
            "shmSize": 128,
            "ulimits": [{"name": "nofile", "soft": 1024, "hard": 2048}],
            "sysctls": {"net.core.somaxconn": "1024"},
            "dns": ["1.1.1.1"],
        }
    )
    host = body["HostConfig"]
    assert body["Cmd"] == ["a", "b"] and body["Entrypoint"] == ["/e"] and body["Env"] == ["A=1"]
    assert body["User"] == "10001:10001" and body["WorkingDir"] == "/app" and body["Labels"] == {"k": "v"}
    assert body["ExposedPorts"] == {"8000/tcp": {}, "53/udp": {}}
    assert host["PortBindings"] == {
        "8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "0"}],
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],  # noqa: S104 -- the provider default
    }
    assert host["Binds"] == ["data:/data:rw", "/etc/s:/run/s:ro"]
    assert body["Volumes"] == {"/data": {}, "/run/s": {}, "/anon": {}}
    assert host["Mounts"] == [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 1777}}]
    assert host["Tmpfs"] == {"/tmp": "rw"}
    assert host["Memory"] == 256 * MB and host["MemoryReservation"] == 128 * MB and host["MemorySwap"] == -1
    assert host["NanoCpus"] == 250_000_000 and host["CpuShares"] == 512
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m"}}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert body["Healthcheck"] == {
        "Test": ["CMD", "x"],
        "Interval": 10 * 10**9,
        "Timeout": 90 * 10**9,
        "StartPeriod": 5 * 10**9,
        "StartInterval": 10**9,
        "Retries": 5,
    }
    assert host["ReadonlyRootfs"] is True and host["CapAdd"] == ["CAP_CHOWN"] and host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["MaskedPaths"] == [] and host["ReadonlyPaths"] == []
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 30
    assert host["ShmSize"] == 128 * MB
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"} and host["Dns"] == ["1.1.1.1"]


def test_memory_swap_positive_is_mb():
    assert container_create_body({"image": "i", "memorySwap": 512})["HostConfig"]["MemorySwap"] == 512 * MB


@pytest.mark.parametrize(("cpus", "nano"), [("0.5", 500_000_000), ("1", 10**9), ("1.25", 1_250_000_000), ("0.001", 1_000_000)])
def test_cpus_to_nanocpus(cpus, nano):
    assert nano_cpus(cpus) == nano


def test_empty_command_element_is_the_providers_error():
    with pytest.raises(DoubleError, match="values for command may not be empty"):
        container_create_body({"image": "i", "command": ["a", ""]})


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"image": "i", "gpus": "all"}, "gpus"),
        ({"image": "i", "ports": [{"internal": 1, "hostIp": "x"}]}, "ports.hostIp"),
        ({"image": "i", "mounts": [{"type": "volume", "target": "/x", "volumeOptions": {}}]}, "mounts.volumeOptions"),
        ({"image": "i", "healthcheck": {"tests": ["CMD"], "foo": 1}}, "healthcheck.foo"),
        ({"image": "i", "privileged": True}, "privileged=true"),
    ],
)
def test_unimplemented_inputs_fail_loudly(inputs, field):
    with pytest.raises(NotImplementedError, match=f"input '{field}' is not implemented"):
        check_container_inputs(inputs)


def test_change_classification():
    base = {"image": "i", "memory": 64}
    assert classify_container_change(base, dict(base)) == "unchanged"
    assert classify_container_change(base, {**base, "memory": 128}) == "update"
    assert classify_container_change(base, {**base, "restart": "always"}) == "update"
    assert classify_container_change(base, {**base, "healthcheck": {"tests": ["CMD", "x"]}}) == "state"
    assert classify_container_change(base, {**base, "tmpfs": {"/tmp": ""}, "destroyGraceSeconds": 30}) == "state"
    assert classify_container_change(base, {**base, "image": "j"}) == "replace"
    assert classify_container_change(base, {**base, "envs": ["A=1"], "memory": 1}) == "replace"
    body = container_update_body({**base, "restart": "always", "cpuShares": 2})
    assert body == {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}, "CpuShares": 2, "Memory": 64 * MB}


def test_network_endpoint_and_volume_bodies():
    body = network_create_body("n", {"internal": True, "labels": [{"label": "a", "value": "b"}]})
    assert body == {
        "Name": "n",
        "Labels": {"a": "b"},
        "Driver": "",
        "Options": {},
        "Internal": True,
        "Attachable": False,
        "Ingress": False,
        "IPAM": {"Driver": "default", "Config": [], "Options": {}},
    }
    body6 = network_create_body("n", {"ipv6": True, "ipamConfigs": [{"subnet": "10.9.0.0/24"}]})
    assert body6["EnableIPv6"] is True and body6["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24"}]
    assert endpoint_config({"name": "n", "aliases": ["db"]}) == {"Aliases": ["db"]}
    assert endpoint_config({"name": "n", "ipv4Address": "10.0.0.5"})["IPAMConfig"] == {"IPv4Address": "10.0.0.5"}
    assert volume_create_body("v", {}) == {"Name": "v", "Labels": {}, "Driver": "local", "DriverOpts": {}}
    with pytest.raises(NotImplementedError, match="input 'scope'"):
        network_create_body("n", {"scope": "swarm"})


@pytest.mark.parametrize(
    ("upload", "mode"),
    [
        ({}, 0o644),
        ({"executable": True}, 0o744),
        ({"permissions": "0600", "executable": True}, 0o600),
        ({"permissions": "755"}, 0o755),
    ],
)
def test_upload_modes(upload, mode):
    assert upload_mode(upload) == mode


def test_upload_tar_is_one_root_owned_entry(tmp_path):
    (tmp_path / "src.txt").write_bytes(b"from file")
    for upload, data in (
        ({"file": "/a/b", "content": "txt"}, b"txt"),
        ({"file": "/c", "contentBase64": "aGk="}, b"hi"),
        ({"file": "/d", "source": "src.txt", "executable": True}, b"from file"),
    ):
        raw = upload_tar(upload, tmp_path, now=1_700_000_000)
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            (member,) = tar.getmembers()
            assert member.name.lstrip("/") == upload["file"].lstrip("/")
            assert (member.uid, member.gid, member.mtime) == (0, 0, 1_700_000_000)
            assert member.mode == upload_mode(upload)
            assert tar.extractfile(member).read() == data
    with pytest.raises(DoubleError, match="only one of"):
        upload_tar({"file": "/x", "content": "a", "contentBase64": "Yg=="}, tmp_path)


def test_secret_wrappers_and_numbers_are_unwrapped():
    from pulumi.runtime import rpc

    wrapped = {"a": {rpc._special_sig_key: rpc._special_secret_sig, "value": {"n": 22.0}}, "b": [1.5]}
    assert unwrap(wrapped) == ({"a": {"n": 22}, "b": [1.5]}, True)
    assert unwrap({"x": "y"}) == ({"x": "y"}, False)


def test_assets_compare_by_content(tmp_path):
    import pulumi

    assert comparable({"s": pulumi.StringAsset("a")}) == comparable({"s": pulumi.StringAsset("a")})
    assert comparable(pulumi.StringAsset("a")) != comparable(pulumi.StringAsset("b"))
    f = tmp_path / "f"
    f.write_text("1")
    before = comparable(pulumi.FileAsset(str(f)))
    f.write_text("2")
    assert comparable(pulumi.FileAsset(str(f))) != before


def test_connection_defaults_and_refusals():
    assert connection_defaults({"host": "h"}) == {
        "host": "h",
        "user": "root",
        "port": 22,
        "dialErrorLimit": 10,
        "perDialTimeout": 15,
    }
    with pytest.raises(NotImplementedError, match="connection.proxy"):
        connection_defaults({"host": "h", "proxy": {"host": "b"}})


def test_random_password_honours_classes_and_minimums():
    pw = random_password({"length": 40, "special": True, "overrideSpecial": "_-", "minNumeric": 5, "minUpper": 3})
    assert len(pw) == 40
    assert set(pw) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == set()
    assert sum(c.isdigit() for c in pw) >= 5 and sum(c.isupper() for c in pw) >= 3
    only_digits = random_password({"length": 12, "special": False, "upper": False, "lower": False})
    assert only_digits.isdigit() and len(only_digits) == 12
    with pytest.raises(NotImplementedError, match="input 'bogus'"):
        random_password({"length": 3, "bogus": 1})
