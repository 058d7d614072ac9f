"""`status.nodes` of a Workflow: node ids, names, phases, and the entries as Argo writes them
(A: pkg/apis/workflow/v1alpha1/workflow_types.go `NodeStatus`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..objects import rfc3339

Node = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """An invocation of a template as a node: its name, where it hangs, and its resolved argument parameters."""

    name: str
    display: str
    template: str
    arguments: list[dict[str, Any]]
    boundary: str
    on_exit: bool  # part of an exit handler or hook: exempt from `shutdown: Stop` and the workflow's deadline


FULFILLED = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})
COMPLETED = frozenset({"Succeeded", "Failed", "Error"})  # a node that ran: Skipped and Omitted ones did not
FAILED = frozenset({"Failed", "Error"})


def fnv32a(text: str) -> int:
    """The 32-bit FNV-1a hash Argo names nodes and pods with."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def node_id(workflow: str, name: str) -> str:
    """A node's id: the workflow's name for the root node, else `<workflow>-<fnv32a(node name)>`."""
    return workflow if name == workflow else f"{workflow}-{fnv32a(name)}"


def pod_name(workflow: str, template: str, name: str) -> str:
    """Argo's v2 pod name, `<workflow>-<template>-<fnv32a(node name)>`, its prefix cut so the name fits 63 characters."""
    suffix = str(fnv32a(name))
    prefix = f"{workflow}-{template}".lower()[: 63 - len(suffix) - 1].rstrip("-.")
    return f"{prefix}-{suffix}"


def new_node(workflow: str, name: str, display: str, kind: str, template: str, boundary: str, phase: str, message: str = "") -> Node:
    node: Node = {
        "id": node_id(workflow, name),
        "name": name,
        "displayName": display,
        "type": kind,
        "templateName": template,
        "templateScope": f"local/{workflow}",
        "phase": phase,
        "startedAt": rfc3339(),
    }
    if boundary:
        node["boundaryID"] = boundary
    if message:
        node["message"] = message
    if phase in FULFILLED:
        node["finishedAt"] = node["startedAt"]
    return node


def finish(node: Node, phase: str, message: str = "") -> None:
    node["phase"] = phase
    node["finishedAt"] = rfc3339()
    if message:
        node["message"] = message


def link(parent: Node, child: Node) -> None:
    children = parent.setdefault("children", [])
    if child["id"] not in children:
        children.append(child["id"])


def worse(a: str, b: str) -> str:
    """The worse of two phases for an outcome: Error over Failed over anything else (dag.go `WorsePhase`)."""
    if b == "Error" or (b == "Failed" and a != "Error"):
        return b
    return a


def parameters(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in values.items()]


def parameter_values(section: dict[str, Any] | None) -> dict[str, str]:
    return {parameter["name"]: parameter.get("value", "") for parameter in (section or {}).get("parameters") or []}
