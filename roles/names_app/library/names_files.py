#!/usr/bin/python
"""Bring many paths on a host to their state in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: names_files
short_description: Directories, files, links and absent paths, many in one call
description:
  - Does for a list of paths what C(ansible.builtin.file) and C(ansible.builtin.copy)
    do for one each, in a single call to the host: a deploy that makes no change
    costs one round trip for all of them instead of one per path.
  - Each path is read from the host every time (content, owner, group, mode, link
    target) and repaired when it differs: nothing is trusted from an earlier run.
  - A file's new content is written to a temporary file beside it and moved into
    place, so a reader sees the old file or the new one, never a part.
  - Supports check mode and diff mode (file contents, unless the task sets no_log).
options:
  paths:
    description: The paths, in the order they are brought to their state.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description:
          - C(directory) (parents are created as needed), C(file) (with I(content)
            its content; without, an existing file whose owner, group and mode
            only are set), C(link) (requires I(src)) or C(absent) (a directory is
            removed with what it holds).
        type: str
        choices: [directory, file, link, absent]
        default: directory
      content:
        description: The file's content (C(state=file)).
        type: str
      src:
        description: What the link points to (C(state=link)).
        type: path
      owner:
        type: str
      group:
        type: str
      mode:
        description: Octal, as a string (C("0640")).
        type: str
      validate:
        description:
          - A command that checks a file's new content before it is moved into
            place (C(state=file) with I(content)), C(%s) standing for the new
            file. When it fails, the file in place stays as it was and the call
            fails with the command's output. Not run in check mode.
        type: str
      force:
        description: C(false) writes a file only when it is missing (a generated key).
        type: bool
        default: true
  append:
    description:
      - Text added at the end of files that exist (after I(paths), which may create
        them), written with C(O_APPEND) so what a file holds is never rewritten. For
        logs of runs: an appended record is not a change of state, and is not written
        in check mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        type: path
        required: true
      text:
        type: str
        required: true
  read:
    description:
      - Paths whose text is returned in I(contents), read after I(paths) are brought
        to their state (a key this call generates is read back in the same call).
    type: list
    elements: path
    default: []
"""

RETURN = r"""
changed_paths:
  description: The paths that were (or, in check mode, would be) changed, in order.
  type: list
  elements: str
  returned: always
appended:
  description: The paths text was appended to, in order.
  type: list
  elements: str
  returned: always
contents:
  description: The text of each path of I(read), null for one that is not a file.
  type: dict
  returned: always
"""

import grp
import os
import pwd
import shlex
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

PATH_SPEC = {
    "path": {"type": "path", "required": True},
    "state": {
        "type": "str",
        "choices": ["directory", "file", "link", "absent"],
        "default": "directory",
    },
    "content": {"type": "str"},
    "src": {"type": "path"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "str"},
    "validate": {"type": "str"},
    "force": {"type": "bool", "default": True},
}


def problems(paths: list[dict]) -> list[str]:
    """What is wrong with the requested paths, in words (empty when nothing is)."""
    found = []
    for spec in paths:
        path, state = spec["path"], spec["state"]
        if not os.path.isabs(path):
            found.append(f"{path}: not an absolute path")
        if state == "link" and not spec.get("src"):
            found.append(f"{path}: state=link needs src")
        if state != "file" and spec.get("content") is not None:
            found.append(f"{path}: content is for state=file only")
        validate = spec.get("validate")
        if validate is not None and (spec.get("content") is None or "%s" not in validate):
            found.append(f"{path}: validate needs content, and %s in the command")
        mode = spec.get("mode")
        if mode is not None and not (
            mode.isdigit() and set(mode) <= set("01234567") and len(mode) in (3, 4)
        ):
            found.append(f"{path}: mode must be octal, as a string such as '0640' (got {mode!r})")
    return found


def read_bytes(path: str) -> bytes | None:
    """A regular file's content; None when there is none (missing, or not a file)."""
    if os.path.lexists(path) and not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def replace(module: AnsibleModule, spec: dict, path: str, content: bytes, exists: bool) -> None:
    """Write content beside path with its final owner, group and mode, then move it in.

    A reader sees the old file or the new one, never a part, and the content is never
    readable by more than the file asks for, not even for a moment.
    """
    old = os.stat(path) if exists else None
    uid = pwd.getpwnam(spec["owner"]).pw_uid if spec.get("owner") else (old.st_uid if old else -1)
    gid = grp.getgrnam(spec["group"]).gr_gid if spec.get("group") else (old.st_gid if old else -1)
    if spec.get("mode"):
        mode = int(spec["mode"], 8)
    elif old:
        mode = stat.S_IMODE(old.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    handle, staged = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".names_files.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chown(staged, uid, gid)
        os.chmod(staged, mode)
        refused = checked(module, spec.get("validate"), staged)
        if refused is None:
            os.replace(staged, path)
    except (KeyError, OSError) as exc:
        refused = f"could not write it: {exc}"
    if os.path.exists(staged):
        os.unlink(staged)
    if refused is not None:
        module.fail_json(msg=f"{path}: {refused}", path=path)


def checked(module: AnsibleModule, validate: str | None, staged: str) -> str | None:
    """Why the validate command refuses the staged file (None when it accepts it)."""
    if validate is None:
        return None
    command = [part.replace("%s", staged) for part in shlex.split(validate)]
    rc, out, err = module.run_command(command)
    if rc == 0:
        return None
    said = (err or out).strip()
    return f"refused by {shlex.join(command[:1])} (exit {rc}), left as it was: {said}"


def ensure(module: AnsibleModule, spec: dict, diffs: list[dict]) -> bool:
    """Bring one path to its state; True when it changed (or would, in check mode)."""
    path, state, check = spec["path"], spec["state"], module.check_mode
    exists = os.path.lexists(path)
    changed = False
    if state == "absent":
        if exists:
            diffs.append({"before_header": path, "before": "present\n", "after": "absent\n"})
            if not check:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
        return exists
    if state == "directory":
        if exists and not os.path.isdir(path):
            module.fail_json(msg=f"{path} exists and is not a directory", path=path)
        if not exists:
            changed = True
            diffs.append({"before_header": path, "before": "absent\n", "after": "directory\n"})
            if check:
                return True
            os.makedirs(path)
    elif state == "link":
        if os.path.islink(path) and os.readlink(path) == spec["src"]:
            pass
        elif exists and os.path.isdir(path) and not os.path.islink(path):
            module.fail_json(msg=f"{path} is a directory, not a link", path=path)
        else:
            changed = True
            diffs.append(
                {
                    "before_header": path,
                    "before": f"{os.readlink(path) if os.path.islink(path) else 'absent'}\n",
                    "after": f"-> {spec['src']}\n",
                }
            )
            if check:
                return True
            if exists:
                os.unlink(path)
            os.symlink(spec["src"], path)
        # The link itself carries no mode worth keeping; owner and group are its own.
        return changed
    elif spec["content"] is None:
        # In check mode an earlier task may only have reported that it would write it.
        if not exists and check:
            return True
        if not os.path.isfile(path):
            module.fail_json(msg=f"{path} is not a file that exists", path=path)
    else:
        wanted = spec["content"].encode()
        before = read_bytes(path)
        if before is None and exists:
            module.fail_json(msg=f"{path} exists and is not a regular file", path=path)
        if before != wanted and (before is None or spec["force"]):
            changed = True
            diffs.append(
                {
                    "before_header": path,
                    "after_header": path,
                    "before": "" if before is None else before.decode(errors="replace"),
                    "after": spec["content"],
                }
            )
            if check:
                return True
            replace(module, spec, path, wanted, before is not None)
    attributes = {
        "path": path,
        "owner": spec.get("owner"),
        "group": spec.get("group"),
        "mode": spec.get("mode"),
        "attributes": None,
        "secontext": [None, None, None],
    }
    attribute_diff: dict = {}
    if module.set_fs_attributes_if_different(attributes, False, diff=attribute_diff):
        changed = True
        if attribute_diff:
            diffs.append({"before_header": path, **attribute_diff})
    return changed


def append_texts(module: AnsibleModule) -> list[str]:
    """Add each text at the end of its file, which must exist; the paths written."""
    for entry in module.params["append"]:
        try:
            handle = os.open(entry["path"], os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            module.fail_json(msg=f"{entry['path']}: cannot append to it: {exc}", path=entry["path"])
        try:
            os.write(handle, entry["text"].encode())
        finally:
            os.close(handle)
    return [entry["path"] for entry in module.params["append"]]


def read_texts(module: AnsibleModule, paths: list[dict], changed_paths: list[str]) -> dict:
    """The text of each path to read; in check mode, what this call would have written."""
    planned = {
        spec["path"]: spec["content"]
        for spec in paths
        if module.check_mode and spec["path"] in changed_paths and spec.get("content") is not None
    }
    texts = {}
    for path in module.params["read"]:
        if path in planned:
            texts[path] = planned[path]
            continue
        content = read_bytes(path)
        texts[path] = None if content is None else content.decode(errors="replace")
    return texts


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": PATH_SPEC,
            },
            "append": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "text": {"type": "str", "required": True},
                },
            },
            "read": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    paths = module.params["paths"]
    found = problems(paths)
    if found:
        module.fail_json(msg="names_files: " + "; ".join(found))
    diffs: list[dict] = []
    changed_paths = [spec["path"] for spec in paths if ensure(module, spec, diffs)]
    result = {
        "changed": bool(changed_paths),
        "changed_paths": changed_paths,
        "appended": [] if module.check_mode else append_texts(module),
        "contents": read_texts(module, paths, changed_paths),
    }
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
