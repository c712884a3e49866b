"""names_host_state (roles/names_app/library/names_host_state.py), run as Ansible runs it,
on this machine's own dpkg, accounts and files. Units are read in the Molecule
scenarios: this machine has no systemd."""

from __future__ import annotations

import datetime
import grp
import ipaddress
import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

pytestmark = pytest.mark.unit

MODULE = Path(__file__).resolve().parents[2] / "roles/names_app/library/names_host_state.py"


def run(tmp_path: Path, **params) -> dict:
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    done = subprocess.run(
        [sys.executable, str(MODULE), str(args)], capture_output=True, text=True, check=False
    )
    return json.loads(done.stdout)


def test_installed_packages_with_their_versions_and_no_others(tmp_path):
    result = run(tmp_path, packages=["dpkg", "names-no-such-package"])
    version = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${Version}", "dpkg"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert result["packages"] == {"dpkg": version}
    assert result["changed"] is False


def test_accounts_that_exist_and_none_that_do_not(tmp_path):
    result = run(tmp_path, users=["root", "names-no-such-user"], groups=["root", "names-no-such"])
    root = pwd.getpwnam("root")
    assert result["users"] == {
        "root": {"uid": 0, "gid": 0, "home": root.pw_dir, "shell": root.pw_shell}
    }
    assert result["groups"] == {"root": 0}


def test_files_are_read_and_a_missing_one_is_null(tmp_path):
    record = tmp_path / "names-drained.json"
    record.write_text('["app-1"]\n')
    result = run(tmp_path, read=[str(record), str(tmp_path / "missing"), str(tmp_path)])
    assert result["contents"] == {
        str(record): '["app-1"]\n',
        str(tmp_path / "missing"): None,
        str(tmp_path): None,
    }


def test_the_answer_is_the_parse_of_dpkg_querys_lines():
    sys.path.insert(0, str(MODULE.parent))
    try:
        import names_host_state
    finally:
        sys.path.remove(str(MODULE.parent))
    answer = (
        "nginx\tconfig-files\t1.22.1-9\n"
        "curl\thalf-installed\t7.88.1-10\n"
        "libc6:amd64\tinstalled\t2.36-9\n"
        "procps\tinstalled\t2:4.0.2-3\n"
    )
    assert names_host_state.installed_packages(answer) == {
        "libc6": "2.36-9",
        "procps": "2:4.0.2-3",
    }


def self_signed(tmp_path: Path, key, key_id: bytes | None = None) -> tuple[Path, Path]:
    """A key and a certificate for it, as the nginx role makes them (names-local); with
    ``key_id``, an authority key identifier."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "names-local")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("::1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if key_id:
        cert = cert.add_extension(x509.AuthorityKeyIdentifier(key_id, None, None), critical=False)
    cert = cert.sign(key, hashes.SHA256())
    key_file, cert_file = tmp_path / "site.key", tmp_path / "site.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_file.chmod(0o644)
    return key_file, cert_file


def test_a_key_pair_is_described_as_the_nginx_role_compares_it(tmp_path):
    key_file, cert_file = self_signed(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    tls = run(tmp_path, tls={"key": str(key_file), "certificate": str(cert_file)})["tls"]
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    assert tls["key"] == {
        "mode": "0600",
        "owner": me,
        "group": group,
        "curve": "secp256r1",
        "public": tls["certificate"]["public"],
    }
    certificate = tls["certificate"]
    assert len(certificate["public"]) == 64
    assert certificate["common_name"] == "names-local"
    assert certificate["subject_alt_name"] == ["DNS:localhost", "IP:::1"]
    assert certificate["basic_constraints"] == ["CA:FALSE"]
    assert certificate["authority_key_identifier"] is None
    assert 364 * 86400 < certificate["not_after"] - time.time() <= 365 * 86400
    assert (certificate["mode"], certificate["owner"]) == ("0644", me)


def test_the_authority_key_identifier_is_read_as_colon_separated_hex(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    key_file, cert_file = self_signed(tmp_path, key, key_id=bytes(range(20)))
    tls = run(tmp_path, tls={"key": str(key_file), "certificate": str(cert_file)})["tls"]
    assert tls["certificate"]["authority_key_identifier"] == bytes(range(20)).hex(":")


def test_another_key_kind_or_a_foreign_certificate_do_not_match(tmp_path):
    rsa_key, _ = self_signed(tmp_path, rsa.generate_private_key(65537, 2048))
    other = tmp_path / "other"
    other.mkdir()
    _, foreign_cert = self_signed(other, ec.generate_private_key(ec.SECP256R1()))
    tls = run(tmp_path, tls={"key": str(rsa_key), "certificate": str(foreign_cert)})["tls"]
    assert tls["key"]["curve"] is None
    assert tls["key"]["public"] != tls["certificate"]["public"]


def test_missing_or_unreadable_files_are_null(tmp_path):
    (tmp_path / "garbage.key").write_text("not a key")
    tls = run(
        tmp_path,
        tls={"key": str(tmp_path / "garbage.key"), "certificate": str(tmp_path / "none.crt")},
    )["tls"]
    assert tls == {"key": None, "certificate": None}


def test_the_platform_is_what_os_release_and_the_running_python_say(tmp_path):
    found = run(tmp_path, platform=True)["platform"]
    lines = Path("/etc/os-release").read_text().splitlines()
    release = dict(line.split("=", 1) for line in lines if "=" in line)
    assert found["os"] == release["ID"].strip('"')
    assert found["os_major"] == release.get("VERSION_ID", "").strip('"').split(".")[0]
    assert found["systemd"] is Path("/run/systemd/system").is_dir()
    assert found["architecture"] == os.uname().machine
    # The interpreter Ansible runs the module with (this test runs it with its own).
    assert found["python"] == sys.executable
    assert found["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
