"""tools/audit.py's judgement of testssl.sh's findings against tools/audit-accepted.yml."""

from __future__ import annotations

import pytest
import yaml

from tools.audit import ACCEPTED, judge, main

pytestmark = pytest.mark.unit

LISTED = yaml.safe_load(ACCEPTED.read_text())["accepted"]


def finding(identifier: str, severity: str) -> dict:
    return {"id": identifier, "severity": severity, "finding": f"{identifier} as found"}


def test_every_accepted_finding_gives_its_reason():
    assert LISTED
    for entry in LISTED:
        assert set(entry) <= {"id", "reason", "private_ca_only"}
        assert len(entry["reason"].split()) >= 10, entry


def test_findings_below_medium_are_not_judged():
    found = [finding("cipher_order", "LOW"), finding("BREACH", "INFO"), finding("x", "OK")]
    assert judge(found, LISTED, private_ca=False) == []


def test_a_listed_finding_is_accepted_with_its_reason_an_unlisted_one_is_not():
    judged = judge([finding("cipher_order", "HIGH"), finding("LUCKY13", "MEDIUM")], LISTED, False)
    assert [(item["id"], item["accepted"]) for item in judged] == [
        ("cipher_order", True),
        ("LUCKY13", False),
    ]
    assert "Mozilla" in judged[0]["reason"]
    assert judged[1]["reason"] is None


def test_a_private_ca_only_finding_fails_a_certificate_from_a_public_ca():
    found = [finding("cert_revocation", "HIGH")]
    assert judge(found, LISTED, private_ca=True)[0]["accepted"]
    assert not judge(found, LISTED, private_ca=False)[0]["accepted"]


def test_a_target_without_a_port_is_refused(capsys):
    with pytest.raises(SystemExit) as refused:
        main(["names.example.org"])
    assert refused.value.code == 2
    assert "give the target as NAME:PORT" in capsys.readouterr().err
