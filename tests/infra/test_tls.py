"""HTTPS as Mozilla's "intermediate" guidelines have it, checked by handshakes from the
controller: TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy, session tickets
as advised for the host's nginx, the certificate verified for the site's name, and
plain HTTP answering only with a redirect to the same URL over HTTPS."""

from __future__ import annotations

import ssl

import pytest

pytestmark = pytest.mark.web

# Mozilla guideline 5.7, intermediate, TLS 1.2 (TLS 1.3 suites are all AEAD).
INTERMEDIATE_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
}  # fmt: skip
TLS_DIR = "/etc/nginx/tls"


@pytest.mark.parametrize(
    ("version", "name"),
    [(ssl.TLSVersion.TLSv1_3, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")],
)
def test_tls_1_2_and_1_3_are_accepted(site, version, name):
    protocol, cipher, _ = site.handshake(version, ciphers="DEFAULT")
    assert protocol == name
    if protocol == "TLSv1.2":
        assert cipher in INTERMEDIATE_TLS12


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1])
def test_older_protocols_are_refused_by_the_server(site, version):
    with pytest.raises(ssl.SSLError) as refused:
        site.handshake(version)
    # The server's alert, not this client declining to offer the version.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value


@pytest.mark.parametrize(
    "ciphers",
    [
        pytest.param("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA", id="cbc"),
        pytest.param("AES128-GCM-SHA256:AES256-GCM-SHA384", id="no-forward-secrecy"),
    ],
)
def test_tls_1_2_ciphers_outside_the_guidelines_are_refused(site, ciphers):
    with pytest.raises(ssl.SSLError) as refused:
        site.handshake(ssl.TLSVersion.TLSv1_2, ciphers=ciphers)
    assert refused.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE", refused.value


def test_session_tickets_as_mozilla_advises_for_this_nginx(host, site):
    """nginx before 1.23.2 never rotates ticket keys, so tickets are off there."""
    upstream = host.package("nginx").version.split(":")[-1].split("-")[0]
    rotates = tuple(int(part) for part in upstream.split(".")) >= (1, 23, 2)
    _, _, session = site.handshake(ssl.TLSVersion.TLSv1_2, ciphers="DEFAULT")
    assert session.has_ticket == rotates


def test_certificate_files_in_place_and_key_private(host):
    operator = bool(host.ansible.get_variables().get("nginx_tls_certificate"))
    kept, removed = ("names", "selfsigned") if operator else ("selfsigned", "names")
    key = host.file(f"{TLS_DIR}/{kept}.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    assert host.file(f"{TLS_DIR}/{kept}.crt").mode == 0o644
    assert not host.file(f"{TLS_DIR}/{removed}.key").exists
    assert host.file(TLS_DIR).mode == 0o750


def test_the_site_certificate_names_the_site(site):
    # handshake() verifies the chain against the CA and the name against the certificate.
    protocol, _, _ = site.handshake()
    assert protocol == "TLSv1.3"
    site.name = "not-the-site.example"
    with pytest.raises(ssl.SSLCertVerificationError):
        site.handshake()


@pytest.mark.parametrize(
    ("host_header", "path", "location"),
    [
        pytest.param(None, "/?page=2", "https://{name}/?page=2", id="site-name"),
        pytest.param("names.example.org:80", "/a/b?c=d", "https://names.example.org/a/b?c=d",
                     id="other-host-with-port"),
        pytest.param(None, "/healthz", "https://{name}/healthz", id="health"),
    ],
)  # fmt: skip
def test_plain_http_redirects_to_the_same_url_over_https(site, host_header, path, location):
    headers = {"Host": host_header} if host_header else {}
    answer = site.request("GET", path, headers=headers, scheme="http")
    assert answer.status == 301
    assert answer.headers["Location"] == location.format(name=site.name)
    assert "X-Content-Type-Options" in answer.headers
    assert answer.body.count(b"<") < 20  # nginx's short redirect page, no app content


def test_hsts_only_over_https(site):
    assert site.request("GET", "/").headers["Strict-Transport-Security"] == "max-age=63072000"
    assert "Strict-Transport-Security" not in site.request("GET", "/", scheme="http").headers


def test_session_cookie_is_secure_httponly_and_same_site(site):
    cookie = site.request("GET", "/").headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite"} <= set(attributes), cookie
    assert attributes["samesite"].strip() == "SameSite=Lax"
