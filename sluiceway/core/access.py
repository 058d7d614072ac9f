"""Who may do what, in which namespace: roles and the principal a request acts as.

Values only: the server decides with them (sluiceway/server/access.py), the token store and
auth plugins make them. A role includes the roles below it: an editor may do what a viewer
may, an admin what an editor may.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
"""A namespace is a DNS label (lower-case letters, digits and '-', at most 63), as Kubernetes names one."""


class Role(enum.Enum):
    VIEWER = "viewer"
    """Reads: gets and lists the namespace's pipelines, experiments, runs and artifacts."""
    EDITOR = "editor"
    """Also creates, cancels, archives and uploads."""
    ADMIN = "admin"
    """Also deletes."""

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a name for the logs, and a role in each namespace it may use.

    `everywhere` gives a role in every namespace, for identity systems with cluster-wide
    administrators (and for a server with auth turned off)."""

    name: str
    roles: Mapping[str, Role] = field(default_factory=dict)
    everywhere: Role | None = None

    def role_in(self, namespace: str) -> Role | None:
        """The principal's role in `namespace`, the greater of its own and `everywhere`; None: it may not see the namespace."""
        own = self.roles.get(namespace)
        if own is None or (self.everywhere is not None and self.everywhere.includes(own)):
            return self.everywhere
        return own


ANONYMOUS = Principal("anonymous (auth is disabled)", everywhere=Role.ADMIN)
"""Every request's principal when `server.auth.enabled` is false: it may do anything anywhere."""
