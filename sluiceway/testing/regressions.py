"""Generated pipelines that once gave a backend another outcome than the local backend's, kept as IR files beside
the suite: the property tests replay every one on every backend."""

from __future__ import annotations

from pathlib import Path

from ..core import ir
from ..core.serialize import digest, dump_yaml, load

FOLDER = Path(__file__).parent / "regressions"


def save(pipeline: ir.Pipeline, folder: Path = FOLDER) -> Path:
    """Write `pipeline` as a regression case (named by its digest, so saving it twice keeps one file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest(pipeline).removeprefix('sha256:')[:16]}.yaml"
    path.write_text(dump_yaml(pipeline))
    return path


def saved(folder: Path = FOLDER) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def pipeline_of(path: Path) -> ir.Pipeline:
    return load(path)
