"""Each role's interface has one source of truth: defaults/main.yml and
meta/argument_specs.yml must describe the same variables with the same defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "tasks" / "main.yml").is_file())
# Inputs with no default: the deploy's preflight requires names_app_version (a rollback
# or a status report does without it); uwsgi_app is the layout names_app gives uwsgi.
WITHOUT_DEFAULT = {"names_app_version", "uwsgi_app"}


def load(role: str, relative: str):
    return yaml.safe_load((ROLES_DIR / role / relative).read_text())


def spec_options(role: str) -> dict:
    """The options of every entry point of the role."""
    options = {}
    for entry_point in load(role, "meta/argument_specs.yml")["argument_specs"].values():
        options.update(entry_point.get("options", {}))
    return options


def test_roles_are_found():
    assert set(ROLES) >= {"names_app", "nginx", "uwsgi"}


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_name_the_same_variables(role):
    defaults = set(load(role, "defaults/main.yml"))
    options = set(spec_options(role))
    assert defaults == options - WITHOUT_DEFAULT


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_defaults_match_the_role_defaults(role):
    defaults = load(role, "defaults/main.yml")
    for name, option in spec_options(role).items():
        if name in WITHOUT_DEFAULT:
            assert "default" not in option, name
        else:
            assert option.get("default") == defaults[name], name


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_typed_and_described(role):
    for name, option in spec_options(role).items():
        assert option.get("type"), f"{name} has no type"
        assert option.get("description"), f"{name} has no description"


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_carry_the_role_prefix(role):
    prefix = f"{role}_"
    assert all(name.startswith(prefix) for name in spec_options(role))


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_by_a_comment(role):
    lines = (ROLES_DIR / role / "defaults" / "main.yml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line and not line[0].isspace() and not line.startswith(("#", "---")):
            assert lines[index - 1].startswith("#"), f"{line.split(':')[0]} has no comment above it"


def test_the_example_vault_secret_is_refused_by_the_deploy():
    """The placeholder in vault.yml.example is listed among the keys preflight refuses."""
    example = ROLES_DIR.parent / "inventories/production/group_vars/all/vault.yml.example"
    placeholder = yaml.safe_load(example.read_text())["vault_names_app_secret_key"]
    assert placeholder in load("names_app", "vars/main.yml")["__names_app_example_secret_keys"]


def test_the_layout_uwsgi_takes_is_the_one_names_app_gives():
    """Every key uwsgi_app requires is given by names_app, and nothing else."""
    required = spec_options("uwsgi")["uwsgi_app"]["options"]
    given = load("names_app", "vars/main.yml")["__names_app_uwsgi_app"]
    assert set(given) == set(required)
