"""Names and labels of everything botstack creates, derived from the project and stack names."""

from __future__ import annotations

from dataclasses import dataclass

from components.contract import PROJECT_LABEL, ROLE_LABEL, SERVICE_LABEL, STACK_LABEL, WRITER_LABEL


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

    def labels(self, service: str, role: str, writes_database: bool = False) -> dict[str, str]:
        """Labels that scripts select on: logs by stack, a restore stops the services that write to the database."""
        labels = {PROJECT_LABEL: self.project, STACK_LABEL: self.stack, SERVICE_LABEL: service, ROLE_LABEL: role}
        if writes_database:
            labels[WRITER_LABEL] = "true"
        return labels

    def stack_label(self) -> dict[str, str]:
        """The one label of volumes and networks: which stack they belong to."""
        return {STACK_LABEL: self.stack}
