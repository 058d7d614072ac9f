"""The executor: runs one attempt of one task, in any process or container, on every backend.

    python -m sluiceway.executor SPEC.json

The contract (the task spec in, the task result out, the exit status) is documented in
docs/reference/executor.md and typed in sluiceway/core/task_spec.py.
"""

from __future__ import annotations
