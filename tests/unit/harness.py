"""Run botstack under Pulumi's mock runtime and record every resource it registers."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str | None
    options: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)  # what the mock provider answered


class OptionRecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that also keeps each registration's resource options (MockResourceArgs drops them)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self.recording.pending_options[(request.type, request.name)] = {
            "protect": bool(request.protect),
            "retainOnDelete": bool(request.retainOnDelete),
            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
            "replaceOnChanges": list(request.replaceOnChanges),
            "ignoreChanges": list(request.ignoreChanges),
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
            "dependencies": list(request.dependencies),
            "parent": request.parent,
        }
        return super().RegisterResource(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        """`register_outputs()` of a component (or the stack's exports): kept by URN, secrets still wrapped."""
        self.recording.registered_outputs[request.urn] = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return super().RegisterResourceOutputs(request)


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that answer like the providers would (enough for the program to wire outputs) and record inputs."""

    resources: list[Registered] = field(default_factory=list)
    pending_options: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    registered_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        options = self.pending_options.pop((args.typ, args.name), {})
        resource_id = f"{args.name}-id"
        self.resources.append(
            Registered(args.typ, args.name, dict(args.inputs), args.custom, args.provider, options, resource_id)
        )
        outputs = dict(args.inputs)
        fake = hashlib.sha256(f"{args.typ}/{args.name}".encode()).hexdigest()
        if args.typ == "docker:index/container:Container" and not args.inputs.get("name"):
            # pulumi-docker names a container left unnamed `<resource name>-<7 hex>`
            outputs["name"] = f"{args.name}-{fake[:7]}"
        elif args.typ == "docker:index/image:Image":
            outputs["repoDigest"] = f"sha256:{fake}"
        elif args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{fake}"
        elif args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = fake[: int(args.inputs.get("length", 16))]
        self.resources[-1].outputs = outputs
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{name}: {len(matches)} resources"
        return matches[0]

    def outputs_of(self, name: str) -> dict[str, Any]:
        """What the component (or the stack, by its name `<project>-<stack>`) passed to register_outputs()."""
        matches = [outputs for urn, outputs in self.registered_outputs.items() if urn.rsplit("::", 1)[-1] == name]
        assert len(matches) == 1, f"{name}: {len(matches)} register_outputs calls"
        return matches[0]

    def containers(self) -> dict[str, dict[str, Any]]:
        """Container inputs by docker container name."""
        return {r.inputs["name"]: r.inputs for r in self.of_type("docker:index/container:Container")}


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def is_secret(value: Any) -> bool:
    """True when a recorded input is a Pulumi secret (mocks keep secrets wrapped)."""
    return isinstance(value, dict) and SECRET_SIG in value


def unwrap(value: Any) -> Any:
    """A recorded input with every secret wrapper removed."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def config_entries(config: dict[str, Any]) -> dict[str, str]:
    """{"profile": "full", "vds": {...}} -> Pulumi's raw config map ("botstack:vds" -> JSON)."""
    return {f"botstack:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def run_stack(config: dict[str, Any], stack: str = "dev") -> tuple[RecordingMocks, dict[str, Any]]:
    """Declare the whole stack under mocks; return the recorded resources and the resolved outputs."""
    from components.config import SECRET_KEYS
    from components.config_loading import load_config
    from components.stack import build_stack

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="botstack", stack=stack, preview=False, monitor=OptionRecordingMonitor(mocks))
    pulumi.runtime.set_all_config(config_entries(config), secret_keys=[f"botstack:{k}" for k in SECRET_KEYS if k in config])
    outputs = build_stack(load_config(), "botstack", stack)
    resolved = _resolve(outputs)
    return mocks, resolved


def declare(build: Any, stack: str = "dev") -> tuple[RecordingMocks, Any]:
    """Run `build()` (declaring one component, say) under mocks; return the recorded resources and its result."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="botstack", stack=stack, preview=False, monitor=OptionRecordingMonitor(mocks))
    pulumi.runtime.set_all_config({})
    result = build()
    _resolve({})
    return mocks, result


def _resolve(outputs: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_event_loop()
    result: dict[str, Any] = {}

    async def gather() -> None:
        for key, value in outputs.items():
            out = pulumi.Output.from_input(value)
            result[key] = await out.future()
            result[f"{key}:secret"] = await out.is_secret()
        await pulumi.runtime.stack.wait_for_rpcs()

    loop.run_until_complete(gather())
    return result


__all__ = ["RecordingMocks", "Registered", "config_entries", "declare", "is_secret", "run_stack", "unwrap"]
