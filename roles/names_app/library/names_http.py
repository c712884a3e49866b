#!/usr/bin/python
"""Ask a web server on the host for pages until they answer as expected."""

from __future__ import annotations

DOCUMENTATION = r"""
module: names_http
short_description: Check pages of a web server on the host, waiting until they answer as expected
description:
  - Sends GET requests from the host itself, over TCP (HTTP or HTTPS) or over a unix
    socket, and checks each answer - the status, fields of a JSON body, text the body
    contains. Asks again every quarter second until every check passes or C(wait)
    seconds have passed, all in one call (the builtin uri module needs four round trips
    per try, and a task retry waits whole seconds).
  - Fails with what the last answers were when a check still fails. Changes nothing.
options:
  url:
    description:
      - Scheme, host and port the paths are asked of (C(http://localhost) with
        C(unix_socket)).
    type: str
    required: true
  unix_socket:
    description: A unix socket to send the requests over instead of TCP.
    type: path
  validate_certs:
    description:
      - Verify an HTTPS server's certificate (off for the host's own address, which its
        certificate does not name).
    type: bool
    default: true
  checks:
    description:
      - One per page - C(path), C(status) (default 200), C(json) (fields the JSON
        body must hold, with these values), C(contains) (text the body must contain).
    type: list
    elements: dict
    required: true
  wait:
    description: Seconds to keep asking until every check passes (0 asks once).
    type: float
    default: 0
  timeout:
    description: Seconds one request may take.
    type: float
    default: 5
"""

RETURN = r"""
answers:
  description:
    - The last answer to each check - path, status, json (when the body is JSON),
      error (when none came), and why it failed.
  type: list
  returned: always
attempts:
  description: How many rounds of requests were sent.
  type: int
  returned: always
"""

import contextlib
import http.client
import json
import socket
import ssl
import time
import urllib.parse

from ansible.module_utils.basic import AnsibleModule

POLL_INTERVAL = 0.25


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def connection(params: dict) -> http.client.HTTPConnection:
    if params["unix_socket"]:
        return UnixHTTPConnection(params["unix_socket"], params["timeout"])
    url = urllib.parse.urlsplit(params["url"])
    if url.scheme == "https":
        context = ssl.create_default_context()
        if not params["validate_certs"]:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(
            url.hostname, url.port, timeout=params["timeout"], context=context
        )
    return http.client.HTTPConnection(url.hostname, url.port, timeout=params["timeout"])


def ask(params: dict, path: str) -> dict:
    """Status and body of one GET, or the error that stopped it."""
    client = connection(params)
    host = urllib.parse.urlsplit(params["url"]).netloc or "localhost"
    try:
        client.request("GET", path, headers={"Host": host})
        response = client.getresponse()
        return {"status": response.status, "body": response.read().decode("utf-8", "replace")}
    except OSError as exc:
        return {"status": 0, "error": f"{exc.__class__.__name__}: {exc}"}
    finally:
        client.close()


def judge(check: dict, answer: dict) -> dict:
    """The answer as returned, with why it fails the check (``failed``, empty when it passes)."""
    body = answer.pop("body", "")
    with contextlib.suppress(ValueError):
        answer["json"] = json.loads(body)
    return {"path": check["path"], **answer, "failed": reason(check, answer, body)}


def reason(check: dict, answer: dict, body: str) -> str:
    """Why an answer fails its check, in words; empty when it passes."""
    expected = check.get("status", 200)
    if answer.get("error"):
        return answer["error"]
    if answer["status"] != expected:
        return f"status {answer['status']}, not {expected}"
    fields = check.get("json") or {}
    if fields and not isinstance(answer.get("json"), dict):
        return "the body is not a JSON object"
    wrong = [f"{k}={answer['json'].get(k)!r}, not {v!r}" for k, v in fields.items()
             if answer["json"].get(k) != v]  # fmt: skip
    if wrong:
        return "JSON " + ", ".join(wrong)
    if check.get("contains") and check["contains"] not in body:
        return f"the body does not contain {check['contains']!r}"
    return ""


def run(params: dict, clock=time.monotonic, sleep=time.sleep) -> tuple[list[dict], int]:
    """Ask until every check passes or the wait is over: the last answers and the rounds."""
    deadline = clock() + params["wait"]
    attempts = 0
    while True:
        attempts += 1
        answers = [judge(check, ask(params, check["path"])) for check in params["checks"]]
        if not any(a["failed"] for a in answers) or clock() >= deadline:
            return answers, attempts
        sleep(POLL_INTERVAL)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "unix_socket": {"type": "path"},
            "validate_certs": {"type": "bool", "default": True},
            "checks": {"type": "list", "elements": "dict", "required": True},
            "wait": {"type": "float", "default": 0},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    scheme = urllib.parse.urlsplit(module.params["url"]).scheme
    if scheme not in ("http", "https"):
        module.fail_json(msg=f"url: http or https, not {module.params['url']!r}")
    for check in module.params["checks"]:
        if not str(check.get("path", "")).startswith("/"):
            module.fail_json(msg=f"checks: each needs a path starting with /, not {check!r}")
    answers, attempts = run(module.params)
    failing = [f"{a['path']}: {a['failed']}" for a in answers if a["failed"]]
    if failing:
        module.fail_json(
            msg=f"after {attempts} tries in {module.params['wait']:g} s: " + "; ".join(failing),
            answers=answers,
            attempts=attempts,
        )
    module.exit_json(changed=False, answers=answers, attempts=attempts)


if __name__ == "__main__":
    main()
