"""pulumi-command's Command/CopyToRemote and pulumi-random, done for real (provider-semantics.md §5)."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
import string
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paramiko

from .go_format import command_error, trim_one_newline
from .mappings import DoubleError, check_fields, refuse

LOCAL = "command:local:Command"
REMOTE = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
LOCAL_FIELDS = {
    "create",
    "update",
    "delete",
    "dir",
    "environment",
    "interpreter",
    "stdin",
    "triggers",
    "logging",
    "addPreviousOutputInEnv",
}
REMOTE_FIELDS = {
    "connection",
    "create",
    "update",
    "delete",
    "environment",
    "stdin",
    "triggers",
    "logging",
    "addPreviousOutputInEnv",
}
CONNECTION_FIELDS = {
    "host",
    "port",
    "user",
    "password",
    "privateKey",
    "privateKeyPassword",
    "hostKey",
    "dialErrorLimit",
    "perDialTimeout",
}


def previous_output_env(state: dict | None, inputs: dict) -> dict[str, str]:
    if state is None or inputs.get("addPreviousOutputInEnv") is False:
        return {}
    env = {}
    if state.get("stdout"):
        env["PULUMI_COMMAND_STDOUT"] = state["stdout"]
    if state.get("stderr"):
        env["PULUMI_COMMAND_STDERR"] = state["stderr"]
    return env


def run_local(inputs: dict, cmd: str, program_dir: Path, previous: dict | None = None) -> dict:
    """Run one local command the way local.Command does; returns {stdout, stderr} or raises."""
    interpreter = list(inputs.get("interpreter") or ["/bin/sh", "-c"])
    env = {**os.environ, **(inputs.get("environment") or {}), **previous_output_env(previous, inputs)}
    stdin = inputs.get("stdin") or ""
    workdir = program_dir / inputs["dir"] if inputs.get("dir") else program_dir
    proc = subprocess.Popen(
        interpreter + [cmd],
        cwd=workdir,
        env=env,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    combined: list[bytes] = []
    lock = threading.Lock()
    buffers: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    def pump(stream, key):
        for chunk in iter(lambda: stream.read1(65536), b""):
            with lock:
                buffers[key].append(chunk)
                combined.append(chunk)

    pumps = [
        threading.Thread(target=pump, args=(proc.stdout, "stdout")),
        threading.Thread(target=pump, args=(proc.stderr, "stderr")),
    ]
    for t in pumps:
        t.start()
    if stdin:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin.encode())
        proc.stdin.close()
    for t in pumps:
        t.join()
    code = proc.wait()
    if code != 0:
        prefix = f"exit status {code}" if code > 0 else f"signal: {_signal_name(-code)}"
        raise DoubleError(command_error(prefix, cmd, b"".join(combined).decode(errors="replace")))
    return {
        "stdout": trim_one_newline(b"".join(buffers["stdout"]).decode(errors="replace")),
        "stderr": trim_one_newline(b"".join(buffers["stderr"]).decode(errors="replace")),
    }


def _signal_name(num: int) -> str:
    import signal

    names = {
        signal.SIGKILL: "killed",
        signal.SIGTERM: "terminated",
        signal.SIGINT: "interrupt",
        signal.SIGSEGV: "segmentation fault",
        signal.SIGABRT: "aborted",
        signal.SIGPIPE: "broken pipe",
    }
    return names.get(num, f"signal {num}")


# ---- SSH ------------------------------------------------------------------------------------


def connection_defaults(conn: dict) -> dict:
    check_fields(REMOTE, conn, CONNECTION_FIELDS, prefix="connection.")
    out = {"user": "root", "port": 22, "dialErrorLimit": 10, "perDialTimeout": 15, **conn}
    out["port"] = int(out["port"])
    return out


def ssh_connect(conn: dict) -> paramiko.SSHClient:
    """Dial with the provider's retry loop; auth by privateKey or password; FixedHostKey if hostKey set."""
    c = connection_defaults(conn)
    limit = int(c["dialErrorLimit"])
    delay = 0.1
    attempt = 0
    last: Exception | None = None
    while True:
        try:
            return _dial_once(c)
        except DoubleError:
            raise
        except Exception as exc:  # noqa: BLE001 -- dial errors are retried, then reported
            last = exc
        attempt += 1
        if limit >= 0 and attempt > limit:
            raise DoubleError(f"after {limit} failed attempts: {last}")
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def _dial_once(c: dict) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    host_key = c.get("hostKey")
    connect_kwargs: dict[str, Any] = {}
    if host_key:
        parts = host_key.split()
        key = paramiko.PKey.from_type_string(parts[0], __import__("base64").b64decode(parts[1]))
        hostname = c["host"] if c["port"] == 22 else f"[{c['host']}]:{c['port']}"
        client.get_host_keys().add(hostname, key.get_name(), key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())  # FixedHostKey: mismatch fails
    else:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 -- InsecureIgnoreHostKey, as the provider
    if c.get("privateKey"):
        connect_kwargs["pkey"] = _load_key(c["privateKey"], c.get("privateKeyPassword"))
    elif c.get("password"):
        connect_kwargs["password"] = c["password"]
    else:
        raise refuse(REMOTE, "connection without privateKey or password (agent)")
    timeout = float(c["perDialTimeout"]) or None
    try:
        client.connect(
            c["host"],
            port=c["port"],
            username=c["user"],
            timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
            banner_timeout=timeout,
            **{k: v for k, v in connect_kwargs.items() if v is not None},
        )
    except paramiko.BadHostKeyException as exc:
        raise DoubleError(f"ssh: handshake failed: ssh: host key mismatch: {exc}") from exc
    return client


def _load_key(text: str, password: str | None) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=password)
        except paramiko.SSHException:
            continue
    raise DoubleError("ssh: no key found")


def _setenv(channel: paramiko.Channel, key: str, value: str) -> bool:
    """An `env` request with want_reply=True (paramiko's own helper does not wait for the reply)."""
    m = paramiko.Message()
    m.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    m.add_int(channel.remote_chanid)
    m.add_string("env")
    m.add_boolean(True)
    m.add_string(key)
    m.add_string(value)
    channel._event_pending()
    channel.transport._send_user_message(m)
    channel._wait_for_event()
    return True


def run_remote(inputs: dict, cmd: str, previous: dict | None = None) -> dict:
    client = ssh_connect(inputs["connection"])
    transport = client.get_transport()
    channel = transport.open_session()
    env = {**(inputs.get("environment") or {})}
    for key, value in env.items():
        try:
            _setenv(channel, key, value)
        except paramiko.SSHException as exc:
            raise DoubleError(f'could not set environment variable "{key}": ssh: setenv failed') from exc
    for key, value in previous_output_env(previous, inputs).items():
        with contextlib.suppress(paramiko.SSHException):  # the provider only logs a warning
            _setenv(channel, key, value)
    channel.exec_command(cmd)
    stdin = inputs.get("stdin") or ""
    if stdin:
        channel.sendall(stdin.encode())
    channel.shutdown_write()
    out, err, combined = [], [], []
    while True:
        got = False
        if channel.recv_ready():
            chunk = channel.recv(65536)
            out.append(chunk)
            combined.append(chunk)
            got = True
        if channel.recv_stderr_ready():
            chunk = channel.recv_stderr(65536)
            err.append(chunk)
            combined.append(chunk)
            got = True
        if not got:
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            time.sleep(0.01)
    code = channel.recv_exit_status()
    if code != 0:
        prefix = (
            f"Process exited with status {code}"
            if code >= 0
            else "wait: remote command exited without exit status or exit signal"
        )
        raise DoubleError(command_error(prefix, cmd, b"".join(combined).decode(errors="replace")))
    return {
        "stdout": trim_one_newline(b"".join(out).decode(errors="replace")),
        "stderr": trim_one_newline(b"".join(err).decode(errors="replace")),
    }


def copy_to_remote(inputs: dict, program_dir: Path) -> None:
    """CopyToRemote over SFTP: directory/file rules, no permissions set, nothing unpacked."""
    import pulumi

    check_fields(COPY, inputs, {"connection", "source", "remotePath", "triggers"})
    source = inputs["source"]
    remote = inputs["remotePath"]
    client = ssh_connect(inputs["connection"])
    sftp = client.open_sftp()
    try:
        if isinstance(source, pulumi.StringAsset):
            if _is_dir(sftp, remote):
                raise DoubleError(f"remote path {remote} is a directory; when using a text asset, remotePath must be a file path")
            _mkdir_all(sftp, os.path.dirname(remote))
            with sftp.open(remote, "w") as fh:
                fh.write(source.text.encode())
        elif isinstance(source, (pulumi.FileAsset, pulumi.FileArchive)):
            local = program_dir / source.path
            if local.is_dir():
                dest = remote
                if not _exists(sftp, dest):
                    _mkdir_all(sftp, dest)
                if not source.path.endswith("/"):
                    dest = f"{dest.rstrip('/')}/{local.name}"
                    if _exists(sftp, dest) and not _is_dir(sftp, dest):
                        raise DoubleError(f"remote path {dest} exists and is not a directory")
                _copy_dir(sftp, local, dest)
            else:
                dest = remote
                if _is_dir(sftp, dest):
                    dest = f"{dest.rstrip('/')}/{local.name}"
                else:
                    _mkdir_all(sftp, os.path.dirname(dest))
                _put(sftp, local, dest)
        else:
            raise refuse(COPY, f"source of kind {type(source).__name__}")
    finally:
        sftp.close()
        client.close()


def _exists(sftp, path: str) -> bool:
    try:
        sftp.stat(path)
        return True
    except FileNotFoundError:
        return False


def _is_dir(sftp, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _mkdir_all(sftp, path: str) -> None:
    if not path or _is_dir(sftp, path):
        return
    _mkdir_all(sftp, os.path.dirname(path.rstrip("/")))
    try:
        sftp.mkdir(path)  # no mode: server default under its umask
    except OSError:
        # Like Go's sftp MkdirAll: a directory that exists by now (made by a concurrent copy) is fine.
        if not _is_dir(sftp, path):
            raise


def _put(sftp, local: Path, dest: str) -> None:
    with open(local, "rb") as src, sftp.open(dest, "w") as dst:
        dst.write(src.read())  # open("w") on an existing file keeps its mode; no chmod


def _copy_dir(sftp, local: Path, dest: str) -> None:
    _mkdir_all(sftp, dest)
    for entry in sorted(local.iterdir()):
        target = f"{dest}/{entry.name}"
        if entry.is_dir():
            _copy_dir(sftp, entry, target)
        else:
            _put(sftp, entry, target)


# ---- random ---------------------------------------------------------------------------------

PASSWORD_FIELDS = {
    "length",
    "special",
    "upper",
    "lower",
    "numeric",
    "number",
    "minUpper",
    "minLower",
    "minNumeric",
    "minSpecial",
    "overrideSpecial",
    "keepers",
}
DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"


def random_password(inputs: dict) -> str:
    """terraform-provider-random's password: min counts first, then fill, then shuffle."""
    check_fields("random:index/randomPassword:RandomPassword", inputs, PASSWORD_FIELDS)
    length = int(inputs["length"])
    classes = []
    for flag, chars, minimum in (
        ("upper", string.ascii_uppercase, "minUpper"),
        ("lower", string.ascii_lowercase, "minLower"),
        ("numeric", string.digits, "minNumeric"),
        ("special", inputs.get("overrideSpecial") or DEFAULT_SPECIAL, "minSpecial"),
    ):
        enabled = inputs.get(flag, True) if flag != "numeric" else inputs.get("numeric", inputs.get("number", True))
        if enabled:
            classes.append((chars, int(inputs.get(minimum) or 0)))
    if not classes:
        raise DoubleError("the character set specified is empty")
    rng = secrets.SystemRandom()
    result = [rng.choice(chars) for chars, minimum in classes for _ in range(minimum)]
    alphabet = "".join(chars for chars, _ in classes)
    result += [rng.choice(alphabet) for _ in range(max(0, length - len(result)))]
    rng.shuffle(result)
    return "".join(result)
