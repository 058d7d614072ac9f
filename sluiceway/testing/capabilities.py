"""The capability table: one row per conformance case's feature, one column per backend, each cell what the suite
found ("yes", or "refused: " and the backend's reason). docs/reference/backends.md holds the built-in backends' table
between two markers; Sluiceway's conformance tests check each cell they decide, and `make capabilities` rewrites them.
"""

from __future__ import annotations

from collections.abc import Sequence

from .cases import CASES, Case
from .suite import Result

BUILT_IN_BACKENDS = ("local", "k8s_job", "argo", "tekton")
BEGIN = "<!-- capabilities: written by `make capabilities` from the conformance suite's results; edit the cases, not this -->"
END = "<!-- end of capabilities -->"
FEATURE = "Feature (conformance case)"


def cell(result: Result) -> str:
    """What a result says of its backend's capability: 'yes' for the expected outcome, else the refusal's reason."""
    if result.refused is not None:
        return "refused: " + " ".join(result.refused.split()).replace("|", "\\|")
    if result.passed:
        return "yes"
    raise ValueError(f"a failed case decides no capability: {result}")


def read(document: str) -> dict[str, dict[str, str]]:
    """feature -> backend -> cell, from the table between the markers of `document`."""
    lines = _table_lines(document)
    header = _cells(lines[0])
    rows = {}
    for line in lines[2:]:
        cells = _cells(line)
        rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return rows


def render(rows: dict[str, dict[str, str]], backends: Sequence[str] = BUILT_IN_BACKENDS) -> str:
    """The table, its rows in the cases' order (rows of features no case has are dropped; cells not known are '?')."""
    order = [row_label(case) for case in CASES]
    lines = [f"| {FEATURE} | " + " | ".join(backends) + " |", "|---" * (len(backends) + 1) + "|"]
    for feature in order:
        known = rows.get(feature, {})
        lines.append(f"| {feature} | " + " | ".join(known.get(backend, "?") for backend in backends) + " |")
    return "\n".join(lines)


def row_label(case: Case) -> str:
    """A case's row in the table: its feature, and its name to find it by."""
    return f"{case.feature} (`{case.name}`)"


def row_of(result: Result) -> str:
    return row_label(result.case)


def with_cell(document: str, result: Result) -> str:
    """`document` with the cell of `result`'s case and backend set to what the result says."""
    rows = read(document)
    rows.setdefault(row_of(result), {})[result.target.backend] = cell(result)
    start, end = document.index(BEGIN) + len(BEGIN), document.index(END)
    return document[:start] + "\n\n" + render(rows) + "\n\n" + document[end:]


def _table_lines(document: str) -> list[str]:
    if BEGIN not in document or END not in document:
        raise ValueError(f"no capability table: the markers '{BEGIN}' and '{END}' are not both there")
    inside = document[document.index(BEGIN) + len(BEGIN) : document.index(END)]
    return [line for line in inside.splitlines() if line.startswith("|")]


def _cells(line: str) -> list[str]:
    """The cells of a table row ('\\|' is a pipe inside a cell)."""
    parts = line.strip().strip("|").replace("\\|", "\0").split("|")
    return [part.strip().replace("\0", "\\|") for part in parts]
