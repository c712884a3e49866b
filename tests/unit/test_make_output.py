"""make with parallel jobs and its output in /dev/null finishes while the Docker engine runs.

make's --output-sync (the Makefile's parallel set-up uses it) locks its standard output
before writing a job's output. A daemon holding a lock on /dev/null, as dockerd does on
its standard input for as long as it runs, would make every such make wait forever:
tools/docker-engine.sh gives dockerd a file of its own. Under make test the engine runs."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.unit


def test_a_parallel_make_writing_to_dev_null_finishes():
    result = subprocess.run(
        ["make", "--no-print-directory", "-j", "2", "--output-sync=target", "help"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
