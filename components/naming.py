"""Names and labels of everything botstack creates, derived from the project and stack names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Naming:
    """`<project>-<stack>-<thing>` names, so two stacks on one engine never collide."""

    project: str
    stack: str

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.stack}"

    def container(self, service: str) -> str:
        return f"{self.prefix}-{service}"

    def volume(self, service: str, purpose: str = "data") -> str:
        return f"{self.prefix}-{service}-{purpose}"

    def network(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def labels(self, service: str, role: str, writer: bool = False) -> dict[str, str]:
        """Labels that scripts select on: logs by stack, restore stops the writers."""
        labels = {
            "botstack.project": self.project,
            "botstack.stack": self.stack,
            "botstack.service": service,
            "botstack.role": role,
        }
        if writer:
            labels["botstack.writer"] = "true"
        return labels
