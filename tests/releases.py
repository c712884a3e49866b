"""Releases the lifecycle stories build from the working tree: one with a second
migration, and faults that stop a release from starting."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.helpers import copy_release_sources

# The second migration release B carries: an index, which the release before it
# (A) does not know and does not mind. That is the rule for every migration.
MIGRATION_0002 = '''"""Index names by name (lifecycle test release).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_names_name", "names", ["name"])


def downgrade():
    raise RuntimeError("Downgrades are not supported.")
'''

# A second migration (lifecycle release E): one the release before is declared unable
# to serve through (names_app_maintenance_for_migration).
MIGRATION_0003 = (
    MIGRATION_0002.replace("Index names by name", "Index names by creation time")
    .replace('revision = "0002"', 'revision = "0003"')
    .replace('down_revision = "0001"', 'down_revision = "0002"')
    .replace("Revision ID: 0002\nRevises: 0001", "Revision ID: 0003\nRevises: 0002")
    .replace('op.create_index("ix_names_name", "names", ["name"])',
             'op.create_index("ix_names_created_at_test", "names", ["created_at"])')
)  # fmt: skip

# The fault release C carries: the WSGI module fails on import, so the release
# cannot start. The health gate must stop it.
FAULT = '\nraise RuntimeError("injected fault: this release cannot start")\n'


def build_release(tmp: Path, version: str, out: Path, change=None) -> Path:
    """Build a release of the working tree, optionally changed by ``change(tree)``."""
    tree = copy_release_sources(tmp / f"tree-{version}")
    if change:
        change(tree)
    built = subprocess.run(
        [sys.executable, str(tree / "tools" / "build_release.py"), "--version", version,
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return out / f"names-{version}.tar.gz"


def build_releases(tmp: Path, out: Path, changes: dict[str, Callable | None]) -> dict[str, Path]:
    """Several releases (version: change), built side by side."""
    with ThreadPoolExecutor(max_workers=len(changes)) as pool:
        built = {
            version: pool.submit(build_release, tmp, version, out, change)
            for version, change in changes.items()
        }
    return {version: future.result() for version, future in built.items()}
