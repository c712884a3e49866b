"""Molecule's settings as Molecule uses them: the verifier's options become pytest's
command line, which Molecule joins with shlex, so every value must be a string or a flag."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    ROOT / ".config" / "molecule" / "config.yml",
    *sorted(ROOT.glob("molecule/*/molecule.yml")),
]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_verifier_options_are_command_line_words(path):
    options = (yaml.safe_load(path.read_text()).get("verifier") or {}).get("options") or {}
    wrong = {key: value for key, value in options.items() if not isinstance(value, (str, bool))}
    assert not wrong, (
        f"{path.name}: quote these verifier options, Molecule passes them to shlex.join: {wrong}"
    )
