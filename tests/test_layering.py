"""The package's layers: core depends on nothing else in it; backends and stores on core only (and the stores on
the code they share, see SHARED)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sluiceway"


def _imported_sluiceway_modules(path: Path) -> set[str]:
    """Absolute names of the sluiceway modules `path` imports, relative imports resolved."""
    module_parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if module_parts[-1] == "__init__":
        module_parts.pop()
    package_parts = module_parts if path.name == "__init__.py" else module_parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "sluiceway")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.split(".")[0] == "sluiceway":
                found.add(name)
                found.update(
                    f"{name}.{alias.name}" for alias in node.names if (PACKAGE.parent / f"{name}.{alias.name}".replace(".", "/")).exists()
                )
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def _modules_under(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


# Code a layer's subpackages share, which each of them may import besides core and itself. It is a subpackage
# of the layer like any other, so it may import core and itself only. sluiceway.stores.objects: the layout of
# artifacts in a bucket and the checked, resumable transfers, the same for S3 and OSS (it imports no SDK).
# sluiceway.backends.kube: the executor's pod and its names, the same for the k8s_job, argo and tekton backends.
SHARED = {"stores": ("sluiceway.stores.objects",), "backends": ("sluiceway.backends.kube",)}


def _allowed_for(path: Path) -> tuple[str, ...]:
    layer = path.relative_to(PACKAGE).parts[0]
    if layer == "core":
        return ("sluiceway.core",)
    # A backend or store may use core, its own subpackage and its layer's shared code, never another backend or store.
    own = ".".join(["sluiceway", *path.relative_to(PACKAGE).parts[:2]]).removesuffix(".py")
    return ("sluiceway.core", own, *SHARED.get(layer, ()))


@pytest.mark.parametrize("layer", ["core", "backends", "stores"])
def test_layer_imports_only_what_it_may(layer: str) -> None:
    files = _modules_under(layer)
    assert files, f"no modules under sluiceway/{layer}"
    violations = []
    for path in files:
        allowed = _allowed_for(path)
        for module in _imported_sluiceway_modules(path):
            if not any(module == prefix or module.startswith(prefix + ".") for prefix in allowed):
                violations.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert violations == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The import walker must notice a relative import that climbs out of core."""
    offending = PACKAGE / "core" / "_layering_probe.py"
    offending.write_text("from ..dsl import pipeline\n")
    try:
        assert "sluiceway.dsl" in _imported_sluiceway_modules(offending)
    finally:
        offending.unlink()


def test_the_client_needs_neither_the_server_nor_the_stores() -> None:
    """`sluiceway.Client` runs where only the `client` extra is installed: a data scientist's laptop, a notebook."""
    forbidden = ("sluiceway.server", "sluiceway.stores", "sluiceway.backends", "sluiceway.engine")
    imported = {module for path in _modules_under("client") for module in _imported_sluiceway_modules(path)}
    assert imported and {module for module in imported if module.startswith(forbidden)} == set()
