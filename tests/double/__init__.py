"""A provider test double: pulumi Mocks that create every registered resource for real.

See README.md for what it proves and what it does not. Entry points: `RealMocks`, `run_program`.
"""

from __future__ import annotations

import hashlib
import os
import runpy
import secrets
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from . import commands, docker_ops, mappings, swarm
from .mappings import CONTAINER, NETWORK, VOLUME, DoubleError
from .swarm import SECRET, SERVICE

__all__ = ["RealMocks", "run_program", "DoubleError", "StackOutputs"]

PROVIDER_DOCKER = "pulumi:providers:docker"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
IMAGE = "docker:index/image:Image"
PASSWORD = "random:index/randomPassword:RandomPassword"
OTHER_PROVIDERS = {"pulumi:providers:command", "pulumi:providers:random"}

_current = threading.local()


def unwrap(value: Any) -> tuple[Any, bool]:
    """Strip the SDK's secret wrappers; return (plain value, whether any part was secret)."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            inner, _ = unwrap(value["value"])
            return inner, True
        out, secret = {}, False
        for k, v in value.items():
            out[k], s = unwrap(v)
            secret = secret or s
        return out, secret
    if isinstance(value, list):
        items = [unwrap(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    if isinstance(value, float) and value.is_integer():
        return int(value), False
    return value, False


def comparable(value: Any) -> Any:
    """Inputs as the engine compares them: assets by their content hash."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, pulumi.StringAsset):
        return ("asset", hashlib.sha256(value.text.encode()).hexdigest())
    if isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        path = Path(value.path)
        digest = hashlib.sha256()
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
            digest.update(f.read_bytes())
        return ("asset", value.path, digest.hexdigest())
    return value


@dataclass
class Entry:
    urn: str
    typ: str
    name: str
    id: str
    inputs: dict
    outputs: dict
    options: dict
    provider: str
    secret_keys: set[str]
    order: int
    run: int


@dataclass
class LogLine:
    action: str  # created | replaced | updated | unchanged | deleted | kept
    typ: str
    name: str
    detail: str = ""
    # time.monotonic() when the provider call began and ended: ordering and overlap tests read these
    started: float = 0.0
    finished: float = 0.0

    def __iter__(self):
        return iter((self.action, self.typ, self.name))


class OptionsMonitor(_mocks.MockMonitor):
    """The SDK's MockMonitor, plus the resource options MockResourceArgs does not carry."""

    def RegisterResource(self, request):
        _current.urn = self.make_urn(request.parent, request.type, request.name)
        _current.options = {
            "protect": bool(request.protect),
            "retainOnDelete": bool(request.retainOnDelete),
            # None: not set, the provider's choice stands; True/False: the program's, which wins
            # (step_generator.go: `if goal.DeleteBeforeReplace != nil { deleteBeforeReplace = *goal.DeleteBeforeReplace }`)
            "deleteBeforeReplace": bool(request.deleteBeforeReplace) if request.deleteBeforeReplaceDefined else None,
            "replaceOnChanges": list(request.replaceOnChanges),
            "ignoreChanges": list(request.ignoreChanges),
            # what the engine orders deletes by: explicit dependsOn plus every input's resource dependencies
            "dependencies": set(request.dependencies)
            | {urn for deps in request.propertyDependencies.values() for urn in deps.urns},
        }
        try:
            return super().RegisterResource(request)
        finally:
            _current.urn = None
            _current.options = None


class StackOutputs(dict):
    """The stack's exports as plain values; `secret_keys` names the ones that are secret."""

    secret_keys: set[str]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class RealMocks(pulumi.runtime.Mocks):
    """Creates, updates, replaces and deletes real Docker objects and runs real commands."""

    def __init__(self, program_dir: str | os.PathLike | None = None):
        self.program_dir = Path(program_dir or os.getcwd()).resolve()
        self.registry: dict[str, Entry] = {}
        self.log: list[LogLine] = []
        self._lock = threading.RLock()
        self._order = 0
        self._run = 0
        self._seen: set[str] = set()
        self._pending_deletes: list[Entry] = []
        self._clients: dict[str, Any] = {}
        self._hosts: dict[str, str] = {}

    # ---- pulumi.runtime.Mocks ---------------------------------------------------------------
    def call(self, args: _mocks.MockCallArgs):
        raise NotImplementedError(f"double: function {args.token} is not implemented")

    def new_resource(self, args: _mocks.MockResourceArgs):
        if not args.custom and not args.typ.startswith("pulumi:providers:"):
            return "", {}
        if args.resource_id:
            raise NotImplementedError(f"double: {args.typ} import/read ({args.resource_id}) is not implemented")
        urn = getattr(_current, "urn", None) or f"urn:pulumi:::{args.typ}::{args.name}"
        options = getattr(_current, "options", None) or {}
        inputs, _ = unwrap(args.inputs)
        secret_keys = {k for k, v in args.inputs.items() if unwrap(v)[1]}
        with self._lock:
            if urn in self._seen:
                raise DoubleError(f"Duplicate resource URN '{urn}'")
            self._seen.add(urn)
            old = self.registry.get(urn)
        if old is None:
            entry = self._create(urn, args.typ, args.name, inputs, options, args.provider or "", secret_keys)
        else:
            entry = self._change(old, inputs, options, args.provider or "", secret_keys)
        return entry.id, self._present(entry)

    # ---- the engine's part, simplified ------------------------------------------------------
    def _record(self, action: str, typ: str, name: str, detail: str = "", started: float | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self.log.append(LogLine(action, typ, name, detail, now if started is None else started, now))

    def _create(self, urn, typ, name, inputs, options, provider, secret_keys, action="created") -> Entry:
        started = time.monotonic()
        rid, outputs = self._do_create(typ, name, inputs, provider, urn)
        with self._lock:
            self._order += 1
            entry = Entry(urn, typ, name, rid, inputs, outputs, options, provider, secret_keys, self._order, self._run)
            self.registry[urn] = entry
        self._record(action, typ, name, started=started)
        return entry

    def _change(self, old: Entry, inputs, options, provider, secret_keys) -> Entry:
        if options.get("ignoreChanges"):
            ignored = {_camel(p) for p in options["ignoreChanges"]}
            inputs = {k: v for k, v in inputs.items() if k not in ignored}
            inputs.update({k: v for k, v in old.inputs.items() if k in ignored})
        kind = self._diff(old, inputs, options)
        if kind == "unchanged":
            old.run, old.options = self._run, options
            self._record("unchanged", old.typ, old.name)
            return old
        if kind == "replace":
            if self._delete_before_replace(old, options):
                self._delete(old)
                return self._create(old.urn, old.typ, old.name, inputs, options, provider, secret_keys, action="replaced")
            # Create-before-delete: the replacement is created now, the old resource is deleted only after
            # every other step of the update (the engine's DeleteReplaced steps run in the delete phase).
            with self._lock:
                self._pending_deletes.append(old)
            return self._create(old.urn, old.typ, old.name, inputs, options, provider, secret_keys, action="replaced")
        started = time.monotonic()
        outputs = self._do_update(old, inputs, kind)
        old.inputs, old.outputs, old.options, old.run = inputs, outputs, options, self._run
        old.secret_keys = secret_keys
        self._record("updated", old.typ, old.name, kind, started=started)
        return old

    def _diff(self, old: Entry, inputs: dict, options: dict) -> str:
        a, b = comparable(old.inputs), comparable(inputs)
        changed = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
        if not changed:
            return "unchanged"
        roc = {_camel(p) for p in options.get("replaceOnChanges") or []}
        if "*" in roc or changed & roc:
            return "replace"
        typ = old.typ
        if typ == CONTAINER:
            return mappings.classify_container_change(a, b)
        if typ in (NETWORK, VOLUME, PASSWORD) or typ.startswith("pulumi:providers:"):
            if typ.startswith("pulumi:providers:"):
                raise NotImplementedError(f"double: changing provider inputs ({sorted(changed)}) is not implemented")
            return "replace"
        if typ == SECRET:
            return "replace"  # every input is ForceNew
        if typ == SERVICE:
            return swarm.classify_service_change(a, b)
        if typ == REMOTE_IMAGE:
            return "replace" if changed & {"name", "pullTriggers", "triggers", "platform"} else "update"
        if typ == IMAGE:
            return "update"
        if typ in (commands.LOCAL, commands.REMOTE, commands.COPY):
            return "replace" if "triggers" in changed else "update"
        raise NotImplementedError(f"double: diff of {typ} is not implemented")

    @staticmethod
    def _delete_before_replace(old: Entry, options: dict) -> bool:
        """The program's deleteBeforeReplace when it set one (also False), else the provider's choice:
        Container always, Network and Volume when named (provider-semantics.md §0.3)."""
        if options.get("deleteBeforeReplace") is not None:
            return bool(options["deleteBeforeReplace"])
        if old.typ == CONTAINER:
            return True
        return old.typ in (NETWORK, VOLUME) and bool(old.inputs.get("name"))

    # ---- the providers' part ----------------------------------------------------------------
    def _client(self, provider_ref: str):
        key = provider_ref.rsplit("::", 1)[0] if provider_ref else "default"
        with self._lock:
            client = self._clients.get(key)
        if client is None:
            if provider_ref:
                raise DoubleError(f"double: unknown docker provider {provider_ref}")
            host = pulumi.Config("docker").get("host") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            client = docker_ops.connect(host, None)
            with self._lock:
                self._clients[key], self._hosts[key] = client, host
        return client

    def _do_create(self, typ: str, name: str, inputs: dict, provider: str, urn: str) -> tuple[str, dict]:
        d = self.program_dir
        if typ == PROVIDER_DOCKER:
            mappings.check_fields(typ, inputs, docker_ops.PROVIDER_FIELDS | {"version"})
            host = inputs.get("host") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            client = docker_ops.connect(host, docker_ops.parse_ssh_opts(inputs.get("sshOpts")))
            with self._lock:
                self._clients[urn], self._hosts[urn] = client, host
            return secrets.token_hex(16), dict(inputs)
        if typ in OTHER_PROVIDERS:
            mappings.check_fields(typ, inputs, {"version"})
            return secrets.token_hex(16), dict(inputs)
        if typ == NETWORK:
            return docker_ops.create_network(self._client(provider), inputs.get("name") or docker_ops.auto_name(name), inputs)
        if typ == VOLUME:
            return docker_ops.create_volume(self._client(provider), inputs.get("name") or docker_ops.auto_name(name), inputs)
        if typ == CONTAINER:
            mappings.check_container_inputs(inputs)
            return docker_ops.create_container(
                self._client(provider), inputs.get("name") or docker_ops.auto_name(name), inputs, d
            )
        if typ == SECRET:
            return swarm.create_secret(self._client(provider), inputs.get("name") or docker_ops.auto_name(name), inputs)
        if typ == SERVICE:
            return swarm.create_service(self._client(provider), inputs.get("name") or docker_ops.auto_name(name), inputs)
        if typ == REMOTE_IMAGE:
            return docker_ops.remote_image(self._client(provider), inputs)
        if typ == IMAGE:
            self._client(provider)
            with self._lock:
                host = self._hosts[provider.rsplit("::", 1)[0] if provider else "default"]
            return docker_ops.build_image(host, inputs, d)
        if typ in (commands.LOCAL, commands.REMOTE):
            fields = commands.LOCAL_FIELDS if typ == commands.LOCAL else commands.REMOTE_FIELDS
            mappings.check_fields(typ, inputs, fields)
            out = {"stdout": "", "stderr": ""}
            if inputs.get("create"):
                out = self._run_cmd(typ, inputs, inputs["create"], None)
            return name + secrets.token_hex(4), {**self._command_defaults(inputs), **out}
        if typ == commands.COPY:
            commands.copy_to_remote(inputs, d)
            return secrets.token_hex(4), dict(inputs)
        if typ == PASSWORD:
            result = commands.random_password(inputs)
            defaults = {
                "special": True,
                "upper": True,
                "lower": True,
                "numeric": True,
                "minUpper": 0,
                "minLower": 0,
                "minNumeric": 0,
                "minSpecial": 0,
            }
            return "none", {**defaults, **inputs, "result": pulumi.Output.secret(result)}
        raise NotImplementedError(f"double: resource type {typ} is not implemented")

    @staticmethod
    def _command_defaults(inputs: dict) -> dict:
        out = dict(inputs)
        out.setdefault("addPreviousOutputInEnv", True)
        out.setdefault("logging", "stdoutAndStderr")
        if "connection" in out:
            out["connection"] = commands.connection_defaults(out["connection"])
        return out

    def _run_cmd(self, typ: str, inputs: dict, cmd: str, previous: dict | None) -> dict:
        if typ == commands.LOCAL:
            return commands.run_local(inputs, cmd, self.program_dir, previous)
        return commands.run_remote(inputs, cmd, previous)

    def _do_update(self, old: Entry, inputs: dict, kind: str) -> dict:
        typ = old.typ
        if typ == CONTAINER:
            client = self._client(old.provider)
            if kind == "update":
                docker_ops.update_container(client, old.id, inputs)
            new = mappings.with_container_defaults(inputs)
            if new["mustRun"] and not old.outputs.get("mustRun") and new["start"]:
                client.api.start(old.id)
            return docker_ops.read_container(client, old.id, new, old.outputs.get("containerLogs", ""))
        if typ == SERVICE:
            return swarm.update_service(self._client(old.provider), old.id, {**inputs, "name": old.outputs["name"]})
        if typ == REMOTE_IMAGE:
            return docker_ops.remote_image(self._client(old.provider), inputs)[1]
        if typ == IMAGE:
            return self._do_create(typ, old.name, inputs, old.provider, old.urn)[1]
        if typ in (commands.LOCAL, commands.REMOTE):
            cmd = inputs.get("update") or inputs.get("create")
            out = {"stdout": old.outputs.get("stdout", ""), "stderr": old.outputs.get("stderr", "")}
            if cmd:
                out = self._run_cmd(typ, inputs, cmd, old.outputs)
            return {**self._command_defaults(inputs), **out}
        if typ == commands.COPY:
            a, b = comparable(old.inputs), comparable(inputs)
            if a.get("source") != b.get("source") or a.get("remotePath") != b.get("remotePath"):
                commands.copy_to_remote(inputs, self.program_dir)
            return dict(inputs)
        raise NotImplementedError(f"double: update of {typ} is not implemented")

    def _delete(self, entry: Entry) -> None:
        started = time.monotonic()
        self._do_delete(entry)
        with self._lock:
            if self.registry.get(entry.urn) is entry:
                del self.registry[entry.urn]
        self._record("deleted", entry.typ, entry.name, started=started)

    def _do_delete(self, entry: Entry) -> None:
        typ = entry.typ
        if typ == CONTAINER:
            docker_ops.delete_container(self._client(entry.provider), entry.id, entry.outputs)
        elif typ == NETWORK:
            docker_ops.delete_network(self._client(entry.provider), entry.id)
        elif typ == VOLUME:
            docker_ops.delete_volume(self._client(entry.provider), entry.id)
        elif typ == SERVICE:
            swarm.delete_service(self._client(entry.provider), entry.id, entry.outputs)
        elif typ == SECRET:
            swarm.delete_secret(self._client(entry.provider), entry.id)
        elif typ == REMOTE_IMAGE:
            docker_ops.delete_remote_image(self._client(entry.provider), entry.outputs)
        elif typ in (commands.LOCAL, commands.REMOTE) and entry.inputs.get("delete"):
            self._run_cmd(typ, entry.inputs, entry.inputs["delete"], entry.outputs)
        # Image, CopyToRemote, RandomPassword and providers: delete does nothing.

    def _present(self, entry: Entry) -> dict:
        out = dict(entry.outputs)
        for key in entry.secret_keys:
            if key in out and not isinstance(out[key], pulumi.Output):
                out[key] = pulumi.Output.secret(out[key])
        return out

    # ---- runs and teardown ------------------------------------------------------------------
    def begin_run(self) -> None:
        with self._lock:
            self._run += 1
            self._seen = set()
            self._pending_deletes = []

    def end_run(self) -> None:
        """The engine's delete phase, after the program: old resources replaced create-before-delete and
        resources dropped from the program. A resource is deleted once everything among them that depends on it
        is gone; deletes with no such order between them run in parallel (pulumi's step executor schedules
        deletes in waves of independent steps)."""
        with self._lock:
            pending = list(self._pending_deletes)
            gone = sorted((e for e in self.registry.values() if e.urn not in self._seen), key=lambda e: -e.order)
            self._pending_deletes = []
        for entry in gone:
            if entry.options.get("protect"):
                raise DoubleError(f"unable to delete resource {entry.urn!r} as it is currently marked for protection")
        for entry in gone:
            if entry.options.get("retainOnDelete"):
                self._forget(entry)
        doomed = pending + [e for e in gone if not e.options.get("retainOnDelete")]
        for wave in delete_waves(doomed):
            if len(wave) == 1:
                self._delete(wave[0])
                continue
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                for future in [pool.submit(self._delete, entry) for entry in wave]:
                    future.result()

    def _forget(self, entry: Entry) -> None:
        with self._lock:
            self.registry.pop(entry.urn, None)
        self._record("kept", entry.typ, entry.name)

    def destroy_all(self, keep: Callable[[str, str], bool] | None = None) -> None:
        """`pulumi destroy --exclude-protected`: delete in reverse creation order; resources that are
        protected, retainOnDelete, or for which keep(type, name) is true are left in place."""
        with self._lock:
            entries = sorted(self.registry.values(), key=lambda e: -e.order)
        errors = []
        for entry in entries:
            if (
                entry.options.get("protect")
                or entry.options.get("retainOnDelete")
                or (keep is not None and keep(entry.typ, entry.name))
            ):
                self._forget(entry)
                continue
            try:
                self._delete(entry)
            except Exception as exc:  # noqa: BLE001 -- keep deleting, report all at the end
                errors.append(f"{entry.urn}: {exc}")
        if errors:
            raise DoubleError("destroy failed:\n" + "\n".join(errors))

    def actions(self, typ: str | None = None) -> list[tuple[str, str, str]]:
        return [tuple(line) for line in self.log if typ is None or line.typ == typ]

    def entry(self, typ: str, name: str) -> Entry:
        for e in self.registry.values():
            if e.typ == typ and e.name == name:
                return e
        raise KeyError((typ, name))


def delete_waves(entries: list[Entry]) -> list[list[Entry]]:
    """Deletes in waves: an entry waits until every entry that depends on it (by URN) was deleted. Within a wave
    no entry depends on another; later-created first, as a tie-break that keeps the order stable."""
    left = sorted(entries, key=lambda e: -e.order)
    waves = []
    while left:
        wave = [e for e in left if not any(e.urn in other.options.get("dependencies", ()) for other in left if other is not e)]
        if not wave:  # a cycle cannot come from a program; delete the newest to make progress
            wave = left[:1]
        waves.append(wave)
        left = [e for e in left if all(e is not w for w in wave)]
    return waves


def run_program(
    program: str | os.PathLike | Callable[[], Any],
    config: dict[str, str] | None = None,
    stack: str = "dev",
    mocks: RealMocks | None = None,
    project: str = "botstack",
    secret_keys: list[str] | None = None,
) -> StackOutputs:
    """Run a whole Pulumi program (a file, e.g. __main__.py, or a callable) under `mocks`, wait for every
    registration, then do the engine's end-of-update deletes; returns the stack outputs.

    Can be called again in the same process (with the same mocks for a second `up`)."""
    mocks = mocks or RealMocks()
    settings.ROOT.set(None)
    settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))
    _mocks.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=OptionsMonitor(mocks))
    mocks.begin_run()
    path = None if callable(program) else Path(program).resolve()
    if path is not None:
        mocks.program_dir = path.parent
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(mocks.program_dir)
    if path is not None:
        sys.path.insert(0, str(path.parent))

    def body():
        if path is None:
            program()
        else:
            runpy.run_path(str(path), run_name="__main__")

    try:
        _sync_await(run_pulumi_func(body))
        root = settings.get_root_resource()
        result = StackOutputs()
        result.secret_keys = set()
        for key, value in (root.outputs if root is not None else {}).items():
            out = pulumi.Output.from_input(value)
            result[key] = _sync_await(out.future())
            if _sync_await(out.is_secret()):
                result.secret_keys.add(key)
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
    mocks.end_run()
    return result
