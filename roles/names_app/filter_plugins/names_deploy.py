"""Filters of the names_app role: the decisions its tasks make, as tested Python."""

from __future__ import annotations

DOCUMENTATION = r"""
name: names_deploy
short_description: Decisions of the names_app role (failures, pruning, retention)
description:
  - The failure message, pruning, retention, outcomes, weak keys and make status lines.
"""

import json
import os

# Tasks whose failure message is written for the operator already: asserts, explicit
# fails, and the deploy lock's refusal. Any other failure is a module's error and is
# put in context (which step, what still serves, where the logs are).
EXPLAINED_ACTIONS = ("assert", "fail", "names_deploy_lock")


def _short_action(action: str) -> str:
    return action.rsplit(".", 1)[-1]


def is_lock_refusal(failed_task: dict) -> bool:
    return _short_action(failed_task.get("action", "")) == "names_deploy_lock"


def names_failure_message(failed_task: dict, failed_result: dict, action: str, logs: str) -> str:
    """What the operator reads when a deploy, rollback or restore fails."""
    message = str(failed_result.get("msg") or "failed").strip()
    if _short_action(failed_task.get("action", "")) in EXPLAINED_ACTIONS:
        return message
    stderr = [line for line in failed_result.get("stderr_lines") or [] if line.strip()]
    detail = f" ({stderr[-1].strip()})" if stderr else ""
    return (
        f'The {action} failed at "{failed_task.get("name", "?")}": {message}{detail}. '
        f"What served before keeps serving. Logs: the task output above, and {logs}."
    )


def releases_to_prune(releases: list[dict], keep: int, keep_always: list) -> list[str]:
    """Versions to remove: all but the ``keep`` newest (by mtime), never ``keep_always``."""
    newest_first = sorted(releases, key=lambda r: r["mtime"], reverse=True)
    names = [os.path.basename(r["path"]) for r in newest_first]
    protected = {name for name in keep_always if name}
    return [name for name in names[keep:] if name not in protected]


def backups_to_prune(backups: list[dict], keep: int, max_age_days: float, now: float) -> list[str]:
    """Backup paths to remove: a backup stays while it is one of the ``keep`` newest or
    younger than ``max_age_days``; only one that is both older and beyond the count goes."""
    newest_first = sorted(backups, key=lambda b: b["mtime"], reverse=True)
    cutoff = now - max_age_days * 86400
    return [b["path"] for b in newest_first[keep:] if b["mtime"] < cutoff]


def outcome(plan: dict, action: str) -> str:
    """What a run did, as the audit log records it."""
    if plan["switch"]:
        return "rolled back" if action == "rollback" else "deployed"
    if plan["promote"]:
        return "reconfigured"
    return "repaired" if plan["changes"] else "unchanged"


def weak_keys(keys: list) -> list:
    """The secret keys that are too short or too uniform to sign with: a key needs 32
    characters or more, 8 of them different."""
    return [
        key for key in keys if not (isinstance(key, str) and len(key) >= 32 and len(set(key)) >= 8)
    ]


def status_lines(serving: dict, audit_lines: list[str]) -> list[str]:
    """make status, one host: what serves, drift, the last deploys."""
    state, answer = serving["state"], serving["state"]["health"]
    service = state["service"]
    if answer.get("answered") and answer.get("http_status") == 200:
        serves = (
            f"serving: {answer['version']} (settings {answer['config']}), "
            f"{len(service['workers'])} workers, healthy"
        )
    elif service["active"]:
        serves = f"serving: unhealthy ({answer.get('error') or answer.get('status')})"
    else:
        serves = "serving: nothing (the app server is not running)"
    lines = [
        serves,
        f"current -> {state['current'] or 'none'}, previous -> {state['previous'] or 'none'}",
        "drift: " + ("; ".join(serving["drift"]) or "none"),
        "last deploys:",
    ]
    for line in audit_lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        lines.append(
            f"  {entry['time']}  {entry['action']} {entry['from'] or '-'} -> {entry['to']}  "
            f"{entry['result']}  by {entry['operator']}@{entry['controller']}"
        )
    return lines


def link_version(link_stat: dict) -> str | None:
    """The release a link (stat result of current or previous) points at, or None."""
    if not link_stat.get("islnk"):
        return None
    return os.path.basename(link_stat.get("lnk_target", "").rstrip("/")) or None


class FilterModule:
    def filters(self):
        return {
            "names_failure_message": names_failure_message,
            "names_is_lock_refusal": is_lock_refusal,
            "names_releases_to_prune": releases_to_prune,
            "names_backups_to_prune": backups_to_prune,
            "names_link_version": link_version,
            "names_outcome": outcome,
            "names_weak_keys": weak_keys,
            "names_status_lines": status_lines,
        }
