"""A third-party auth plugin, as an operator would write one for their own identity system: a proxy in front of the
server has signed the user in and says who it is in `X-Acme-User`; the plugin knows each user's namespaces."""

from __future__ import annotations

from collections.abc import Mapping

from sluiceway.core.access import Principal, Role
from sluiceway.plugins import hookimpl

USERS = {"alice": {"team-a": Role.ADMIN}, "bob": {"team-b": Role.VIEWER}}


@hookimpl
def authenticate(headers: Mapping[str, str]) -> Principal | None:
    user = headers.get("x-acme-user")
    if user not in USERS:
        return None  # not ours: the next plugin (the built-in tokens) decides
    return Principal(f"acme user {user}", USERS[user])
