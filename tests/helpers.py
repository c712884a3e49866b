"""Helpers shared by the test modules."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# One listed name, as the page renders it (escaped, in its own bidi isolate).
NAME_ITEM = re.compile(r'<bdi class="name">([^<]*)</bdi>')
# The page's "Older" link: the next page, from the position of its last name.
OLDER_LINK = re.compile(r'<a rel="next" href="([^"]+)">Older</a>')


# The plans the deployed database makes for the page's queries (the first page, an
# older page, a newer page), as JSON: run with the release's Python as the app's user.
# Each query is run as the app runs it, with EXPLAIN put in front of it on its way to
# the database. PostgreSQL is told to avoid a sequential scan where it can, so that a
# small table still shows whether the index fits the query.
PAGE_QUERY_PLANS = r"""
import json
from datetime import UTC, datetime
from sqlalchemy import event
from app import create_app, db
from app.names import EPOCH, FIRST_PAGE, NEWER_PAGE, OLDER_PAGE
app = create_app(commands=False)
with app.app_context(), db.engine.connect() as connection:
    dialect = connection.dialect.name
    explain = "EXPLAIN" if dialect == "postgresql" else "EXPLAIN QUERY PLAN"
    if dialect == "postgresql":
        connection.exec_driver_sql("SET enable_seqscan = off")
    event.listen(connection, "before_cursor_execute",
                 lambda _c, _cur, sql, params, *_: (f"{explain} {sql}", params), retval=True)
    queries = {"first": (FIRST_PAGE, {}),
               "older": (OLDER_PAGE, {"created": datetime.now(UTC), "id": 2**31 - 1}),
               "newer": (NEWER_PAGE, {"created": EPOCH, "id": 0})}
    plans = {label: [row[-1] for row in connection.execute(query, {"rows": 21, **params})]
             for label, (query, params) in queries.items()}
print(json.dumps({"dialect": dialect, "plans": plans}))
"""
RUN_AS_APP = (
    "sudo -u names NAMES_CONFIG=production NAMES_SETTINGS=/etc/names/names.toml"
    " /srv/names/current/venv/bin/python -c"
)


def page_query_plans(host) -> dict:
    """The deployed database's plans for the page's queries, on an app host (testinfra)."""
    return json.loads(host.check_output(f"{RUN_AS_APP} {shlex.quote(PAGE_QUERY_PLANS)}"))


def csrf_token(html: str) -> str:
    """The CSRF token of the name form on a rendered page."""
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF token field"
    return match.group(1)


@dataclass
class Run:
    """A finished ansible-playbook run."""

    returncode: int
    output: str
    seconds: float

    @property
    def changed(self) -> dict[str, int]:
        """changed= of each host in the recap (localhost left out)."""
        recap = re.findall(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)", self.output, re.MULTILINE)
        return {host: int(changed) for host, changed in recap if host != "localhost"}

    def outcome(self, task: str) -> str | None:
        """How the first task whose name holds ``task`` ended on the first host that
        reported it (ok, changed, skipping, failed, fatal), or None if no such task was
        shown: a task's name in the output alone does not say that it ran."""
        shown = re.search(
            rf"^TASK \[[^\n]*{re.escape(task)}[^\n]*\][^\n]*\n"
            r"(?:(?!TASK \[)[^\n]*\n)*?(ok|changed|skipping|failed|fatal):",
            self.output,
            re.MULTILINE,
        )
        return shown.group(1) if shown else None


def playbook_command(
    playbook: str, *extra_vars: str, limit: str | None = None, **named_vars
) -> list[str]:
    """ansible-playbook against the Molecule scenario's inventory: ``playbook`` in
    playbooks/ or an absolute path; ``extra_vars`` are passed as written (``key=value``,
    ``@file``, JSON), ``named_vars`` as key=value; ``limit``: only these hosts."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run by Molecule's verifier (MOLECULE_INVENTORY_FILE unset)"
    pairs = [*extra_vars, *(f"{key}={value}" for key, value in named_vars.items())]
    return [
        "ansible-playbook",
        "-i",
        inventory,
        str(Path("playbooks") / playbook),  # an absolute path stays as it is
        *(arg for pair in pairs for arg in ("-e", pair)),
        *(["--limit", limit] if limit else []),
    ]


PLAYBOOK_ENV = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def run_playbook(
    playbook: str,
    *extra_vars: str,
    env: dict | None = None,
    limit: str | None = None,
    **named_vars,
) -> Run:
    started = time.monotonic()
    result = subprocess.run(
        playbook_command(playbook, *extra_vars, limit=limit, **named_vars),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **PLAYBOOK_ENV, **(env or {})},
    )
    return Run(result.returncode, result.stdout + result.stderr, time.monotonic() - started)


def start_playbook(
    playbook: str, *extra_vars: str, limit: str | None = None, **named_vars
) -> subprocess.Popen:
    """Start a run in the background (its output on .stdout, merged with stderr)."""
    return subprocess.Popen(
        playbook_command(playbook, *extra_vars, limit=limit, **named_vars),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **PLAYBOOK_ENV},
    )


def run_at_once(runs: dict[str, tuple[str, list[str]]], limit: str | None = None) -> dict[str, Run]:
    """Several playbook runs side by side, each ``name: (playbook, extra vars)``; only for
    runs that change nothing (refusals, examples of what is deployed), which cannot
    disturb one another."""
    started = time.monotonic()
    processes = {
        name: start_playbook(playbook, *extra, limit=limit)
        for name, (playbook, extra) in runs.items()
    }
    results = {}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        results[name] = Run(process.returncode, output, time.monotonic() - started)
    return results


def run_playbooks_at_once(
    playbook: str, runs: dict[str, list[str]], limit: str | None = None
) -> dict[str, Run]:
    """``run_at_once`` of one playbook, each run with its extra vars."""
    return run_at_once({name: (playbook, extra) for name, extra in runs.items()}, limit)


README_EXAMPLE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_example(readme: Path, workdir: Path) -> str:
    """The first yaml example of a role README, written to a playbook in ``workdir``."""
    match = README_EXAMPLE.search(readme.read_text())
    assert match, f"{readme} has no yaml example"
    playbook = workdir / f"{readme.parent.name}-example.yml"
    playbook.write_text(match.group(1))
    return str(playbook)


def run_readme_example(readme: Path, workdir: Path, version: str) -> Run:
    """Run a role README's example as a playbook against the scenario's hosts, with the
    deployed ``version``."""
    return run_playbook(readme_example(readme, workdir), f"names_app_version={version}")


def copy_release_sources(dest: Path) -> Path:
    """The files a release is built from (tracked or new, not ignored), copied to ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z", "--", "app", "tools",
         "pyproject.toml", "requirements-runtime.txt"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, files):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes((ROOT / name).read_bytes())
    return dest
