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
import re
from datetime import UTC, datetime

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


def _age(seconds: float) -> str:
    """A duration as make status shows it: 42 s, 5 min, 3 h, 2 days."""
    seconds = max(0.0, seconds)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "days" else 1):
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


REQUEST_SAMPLE = re.compile(r"^names_http_requests_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)


def status_extras(
    serving: dict, metrics: str | None, now: float, counted: bool = True
) -> list[str]:
    """make status, one app host, beyond status_lines: the workers' state, and the
    requests the serving release answered since the app server started (names-metrics;
    ``counted`` false: names_app_metrics is off, nothing counts them)."""
    workers = serving["state"]["service"]["workers"]
    shown = ", ".join(
        f"pid {worker['pid']} {worker.get('state') or 'gone'}, up {_age(now - worker['started'])}"
        for worker in workers
    )
    lines = [f"workers: {shown or 'none'}"]
    version = (serving["state"].get("health") or {}).get("version") or serving["state"]["current"]
    if not counted:
        return [*lines, "requests: not counted (names_app_metrics is off)"]
    if not metrics:
        return [*lines, "requests: unknown (names-metrics did not answer)"]
    by_status: dict[str, float] = {}
    for labels, value in REQUEST_SAMPLE.findall(metrics):
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if found.get("release") == version:
            kind = found.get("status", "?")[:1] + "xx"
            by_status[kind] = by_status.get(kind, 0.0) + float(value)
    total = int(sum(by_status.values()))
    kinds = ", ".join(f"{int(count)} {kind}" for kind, count in sorted(by_status.items()))
    return [*lines, f"requests answered by {version} since the app server started: {total}"
                    + (f" ({kinds})" if kinds else "")]  # fmt: skip


def backup_status(log: str | None, now: float) -> str:
    """make status, the database's host: the last backup, how old, and whether it failed."""
    lines = [line for line in (log or "").splitlines() if line.strip()]
    if not lines:
        return "last backup: none yet"
    try:
        entry = json.loads(lines[-1])
        age = _age(now - datetime.fromisoformat(entry["time"]).timestamp())
    except (ValueError, KeyError):
        return f"last backup: unreadable log line {lines[-1][:80]!r}"
    if entry.get("result") != "ok":
        return f"last backup: FAILED {age} ago: {entry.get('error', 'no reason logged')}"
    held = f", {entry['names']} names" if "names" in entry else ""
    return f"last backup: {age} ago, {entry['backup']} ({entry['bytes']} bytes{held}, checked)"


def certificate_status(certificate: dict | None, path: str, now: float) -> str:
    """make status, a web host: whom its certificate names and how long it has left."""
    if not certificate:
        return f"certificate: {path} is missing or unreadable"
    ends = datetime.fromtimestamp(certificate["not_after"], UTC).strftime("%Y-%m-%d")
    days = int((certificate["not_after"] - now) // 86400)
    warning = " (renew it: fewer than 30 days)" if days < 30 else ""
    return f"certificate: {certificate['common_name']}, ends {ends}, {days} days left{warning}"


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
            "names_status_extras": status_extras,
            "names_backup_status": backup_status,
            "names_certificate_status": certificate_status,
        }
