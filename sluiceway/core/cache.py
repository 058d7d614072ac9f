"""Step caching, as far as every part of Sluiceway shares it: explaining a miss.

A task's cache key is built from parts (the component, each input, the environment), and
each part's digest is kept with the task, so that a miss can say which part changed.
"""

from __future__ import annotations


def explain_miss(now: dict[str, str], before: dict[str, str]) -> list[str]:
    """What differs between two tasks' cache key parts, in words."""
    reasons = []
    if now.get("component") != before.get("component"):
        reasons.append("the component changed (its code, image, command or interface)")
    for name in sorted({key for key in (*now, *before) if key.startswith("input:")}):
        label = name.removeprefix("input:")
        if name not in before:
            reasons.append(f"input '{label}' is new")
        elif name not in now:
            reasons.append(f"input '{label}' is gone")
        elif now[name] != before[name]:
            reasons.append(f"input '{label}' changed")
    if now.get("environment") != before.get("environment"):
        reasons.append("the environment changed (env variables, secrets or the final status)")
    return reasons
