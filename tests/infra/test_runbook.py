"""Every host command in docs/runbook.md works as written on a deployed host."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.web

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
HOST_BLOCK = re.compile(r"^```sh host\n(.*?)^```", re.MULTILINE | re.DOTALL)


def host_commands() -> list[str]:
    blocks = HOST_BLOCK.findall(RUNBOOK.read_text())
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_runbook_has_host_commands():
    assert len(host_commands()) >= 5


@pytest.mark.parametrize("command", host_commands())
def test_runbook_command_works_on_the_host(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command!r} failed: {result.stderr or result.stdout}"
