"""Fixtures for testinfra checks of a deployed host (run by Molecule's verifier)."""

from __future__ import annotations

import json

import pytest


class HostHTTP:
    """Real HTTP requests made on the host (Ansible's uri module) through nginx."""

    def __init__(self, host, base_url: str = "http://127.0.0.1") -> None:
        self.host = host
        self.base_url = base_url
        self.cookies = ""

    def request(self, path: str, method: str = "GET", form: dict | None = None, **extra) -> dict:
        args = {
            "url": f"{self.base_url}{path}",
            "method": method,
            "return_content": True,
            "follow_redirects": "none",
            "status_code": list(range(100, 600)),
            "headers": {"Cookie": self.cookies} if self.cookies else {},
            **extra,
        }
        if form is not None:
            args.update(body_format="form-urlencoded", body=form)
        result = self.host.ansible("ansible.builtin.uri", json.dumps(args), check=False)
        assert "status" in result, result
        if result.get("cookies_string"):
            self.cookies = result["cookies_string"]
        return result


@pytest.fixture
def http(host) -> HostHTTP:
    return HostHTTP(host)


@pytest.fixture
def deployed_version(host) -> str:
    return host.ansible.get_variables()["names_app_version"]
