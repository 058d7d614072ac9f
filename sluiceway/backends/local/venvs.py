"""Cached virtualenvs for tasks that ask for packages (`packages_to_install`).

One virtualenv per set of packages (and index URLs, and Python version), created once and
reused by every task that asks for the same set. It sees the orchestrator's own packages
(Sluiceway included) after its own, so the task's packages win.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from ...core.errors import SluicewayError

READY = ".sluiceway-ready"


def python_for(packages: tuple[str, ...], index_urls: tuple[str, ...], root: Path) -> str:
    """The interpreter of a virtualenv holding `packages`, creating it the first time."""
    identity = json.dumps({"packages": sorted(packages), "index_urls": list(index_urls), "python": sys.version}, sort_keys=True)
    folder = root / hashlib.sha256(identity.encode()).hexdigest()[:16]
    python = folder / "bin" / "python"
    if (folder / READY).exists():
        return str(python)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one creator; the others wait, then reuse
        if not (folder / READY).exists():
            _create(folder, packages, index_urls)
    return str(python)


def _create(folder: Path, packages: tuple[str, ...], index_urls: tuple[str, ...]) -> None:
    venv.EnvBuilder(with_pip=False, clear=True).create(folder)
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)}))
    # After the venv's own site-packages: the orchestrator's paths, Sluiceway among them. Its
    # site folders are added as site folders, so that their .pth files (editable installs) work.
    site_folders = {*site.getsitepackages(), site.getusersitepackages()}
    lines = [
        f"import site; site.addsitedir({entry!r})" if entry in site_folders else entry
        for entry in sys.path
        if entry and os.path.isdir(entry)
    ]
    (site_packages / "zz-sluiceway-inherited.pth").write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "pip", "--python", str(folder / "bin" / "python"), "install", "--quiet", *packages]
    for index, url in enumerate(index_urls):
        command += ["--index-url" if index == 0 else "--extra-index-url", url]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SluicewayError(
            f"cannot install {', '.join(packages)} for the task: {completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else 'pip failed'}"
        )
    (folder / READY).write_text(json.dumps(sorted(packages)))
