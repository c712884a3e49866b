"""What the controller holds of a release tarball, read in the play's own process."""

from __future__ import annotations

DOCUMENTATION = r"""
name: names_release
short_description: A release tarball on the controller - its sha256, checksum file and manifest
description:
  - For each tarball path, returns whether it exists, its sha256, the content of the
    C(<tarball>.sha256) file beside it (or none), and its C(MANIFEST.json) read from
    C(names-<version>/MANIFEST.json) inside it, as C(rc), C(stdout) and C(stderr).
  - Reads on the controller, in the play's process: no module is sent anywhere.
options:
  _terms:
    description: Paths of release tarballs on the controller.
    required: true
  version:
    description: The release version, which names the directory inside the tarball.
    type: str
    required: true
"""

import hashlib
import os
import tarfile

from ansible.plugins.lookup import LookupBase

CHUNK = 1 << 20


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: str, version: str) -> dict:
    """MANIFEST.json's text, or why it could not be read (rc 1 and the reason)."""
    member = f"names-{version}/MANIFEST.json"
    try:
        with tarfile.open(path, "r:gz") as tarball:
            handle = tarball.extractfile(member)
            if handle is None:
                return {"rc": 1, "stdout": "", "stderr": f"{member} is not a regular file"}
            return {"rc": 0, "stdout": handle.read().decode(), "stderr": ""}
    except KeyError:
        return {"rc": 1, "stdout": "", "stderr": f"{member}: not found in the archive"}
    except (OSError, EOFError, tarfile.TarError, UnicodeDecodeError) as exc:
        return {"rc": 1, "stdout": "", "stderr": f"{exc.__class__.__name__}: {exc}"}


def describe(path: str, version: str) -> dict:
    checksum_file = f"{path}.sha256"
    checksum = None
    if os.path.isfile(checksum_file):
        with open(checksum_file, encoding="utf-8", errors="replace") as handle:
            checksum = handle.read()
    if not os.path.isfile(path):
        return {"exists": False, "sha256": None, "checksum_file": checksum, "manifest": None}
    return {
        "exists": True,
        "sha256": sha256_of(path),
        "checksum_file": checksum,
        "manifest": read_manifest(path, version),
    }


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        version = self.get_option("version")
        return [describe(str(term), version) for term in terms]
