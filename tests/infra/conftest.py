"""Fixtures for testinfra checks of a deployed host (run by Molecule's verifier)."""

from __future__ import annotations

import html
import json
import os
import socket
import ssl
import time
import warnings
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPMessage, HTTPSConnection
from pathlib import Path

import pytest

from tests.helpers import NAME_ITEM, OLDER_LINK


class HostHTTP:
    """Real HTTPS requests made on the host itself (Ansible's uri module) through nginx.

    The certificate is not checked here (it is issued for the site's name, not for
    127.0.0.1); ``Site`` checks it from the controller.
    """

    def __init__(self, host, base_url: str = "https://127.0.0.1") -> None:
        self.host = host
        self.base_url = base_url
        self.cookies = ""

    def request(self, path: str, method: str = "GET", form: dict | None = None, **extra) -> dict:
        # The app checks that an HTTPS post comes from its own pages, as a browser's does.
        headers = {"Referer": f"{self.base_url}/"}
        if self.cookies:
            headers["Cookie"] = self.cookies
        args = {
            "url": f"{self.base_url}{path}",
            "method": method,
            "return_content": True,
            "follow_redirects": "none",
            "status_code": list(range(100, 600)),
            "validate_certs": False,
            "headers": headers,
            **extra,
        }
        if form is not None:
            args.update(body_format="form-urlencoded", body=form)
        result = self.host.ansible("ansible.builtin.uri", json.dumps(args), check=False)
        assert "status" in result, result
        if result.get("cookies_string"):
            self.cookies = result["cookies_string"]
        return result


@dataclass
class Response:
    status: int
    headers: HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _ResolvedHTTPSConnection(HTTPSConnection):
    """HTTPS to an address, the certificate verified for a name (curl --resolve)."""

    def __init__(self, address: str, name: str, port: int, context, timeout: float) -> None:
        super().__init__(name, port, context=context, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Site:
    """The deployed site as a browser on the controller sees it: HTTPS through nginx
    at the host's bridge address, the certificate checked against ``cafile`` for
    ``name``, with a cookie jar of one session cookie."""

    def __init__(self, address: str, name: str, cafile: str, timeout: float = 15.0) -> None:
        self.address, self.name, self.cafile, self.timeout = address, name, cafile, timeout
        self.cookie = ""

    @property
    def origin(self) -> str:
        return f"https://{self.name}"

    def context(self, version: ssl.TLSVersion | None = None, ciphers: str | None = None):
        context = ssl.create_default_context(cafile=self.cafile)
        if version is not None:
            with warnings.catch_warnings():  # offering an old version on purpose
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = context.maximum_version = version
            # Let this client offer what old clients offer; the server must refuse it.
            context.set_ciphers(ciphers or "ALL:@SECLEVEL=0")
        elif ciphers:
            context.set_ciphers(ciphers)
        return context

    def handshake(self, version: ssl.TLSVersion | None = None, ciphers: str | None = None):
        """TLS with only ``version`` (and ``ciphers``) offered: (protocol, cipher, session)."""
        with socket.create_connection((self.address, 443), self.timeout) as sock:
            context = self.context(version, ciphers)
            with context.wrap_socket(sock, server_hostname=self.name) as tls:
                request = f"HEAD / HTTP/1.1\r\nHost: {self.name}\r\nConnection: close\r\n\r\n"
                tls.sendall(request.encode())
                tls.recv(1024)  # TLS 1.3 tickets arrive after the handshake
                return tls.version(), tls.cipher()[0], tls.session

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict | None = None,
        scheme: str = "https",
        wait_out_rate_limit: bool = False,
    ) -> Response:
        """One request. ``wait_out_rate_limit``: a 429 is retried after a second, as a
        person would, up to 30 times; only for tests about something else than the limit."""
        sent = {"Host": self.name}
        if self.cookie:
            sent["Cookie"] = self.cookie
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["Referer"] = f"{self.origin}/"  # what a browser sends from the page
        sent.update(headers or {})
        sent = {key: value for key, value in sent.items() if value is not None}
        for _attempt in range(30):
            if scheme == "https":
                connection = _ResolvedHTTPSConnection(
                    self.address, self.name, 443, self.context(), self.timeout
                )
            else:
                connection = HTTPConnection(self.address, 80, timeout=self.timeout)
            try:
                connection.request(method, path, body=body, headers=sent)
                response = connection.getresponse()
                result = Response(response.status, response.headers, response.read())
            finally:
                connection.close()
            if result.status != 429 or not wait_out_rate_limit:
                break
            time.sleep(1)  # the post rate limit: wait as a person would
        cookie = result.headers.get("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return result

    def listed_names(self, max_pages: int = 200) -> list[str]:
        """Every name on the page, newest first, unescaped, following the "Older" links."""
        names: list[str] = []
        path = "/"
        for _ in range(max_pages):
            response = self.request("GET", path)
            assert response.status == 200, f"{path} answered {response.status}"
            names += [html.unescape(item) for item in NAME_ITEM.findall(response.text)]
            older = OLDER_LINK.search(response.text)
            if older is None:
                return names
            path = html.unescape(older[1])
        raise AssertionError(f"more than {max_pages} pages")


@pytest.fixture
def http(host) -> HostHTTP:
    return HostHTTP(host)


@pytest.fixture
def deployed_version(host) -> str:
    return host.ansible.get_variables()["names_app_version"]


@pytest.fixture
def site(host, tmp_path) -> Site:
    """The host's site over HTTPS from the controller, its certificate verified."""
    variables = host.ansible.get_variables()
    facts = host.ansible("ansible.builtin.setup", "gather_subset=!all,network")["ansible_facts"]
    address = facts["ansible_default_ipv4"]["address"]
    if variables.get("nginx_tls_certificate"):
        # The operator's certificate, issued by the scenario's test CA (prepare.yml).
        name = variables["nginx_server_names"][0]
        cafile = str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls" / "ca.crt")
    else:
        # The self-signed certificate is its own authority.
        name = variables["inventory_hostname"]
        cafile = str(tmp_path / "selfsigned.crt")
        Path(cafile).write_text(host.file("/etc/nginx/tls/selfsigned.crt").content_string)
    return Site(address, name, cafile)
