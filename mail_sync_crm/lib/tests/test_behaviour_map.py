"""docs/architecture.rst's behaviour map stays true: every file it names exists, and
every function, class or constant it names next to a file is defined in that file."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
ADDON = ROOT / "mail_sync_crm"
# ``path``: ``name``, ``name``  (names up to the next ";" or the next path)
ENTRY = re.compile(r"``([\w/.-]+\.(?:py|xml|js|csv))``:((?:\s*``[\w.]+``,?)+)")
NAME = re.compile(r"``([\w.]+)``")


def _map_section():
    """The text of the "Behaviour map" section, up to the next top-level title."""
    text = (ROOT / "docs" / "architecture.rst").read_text(encoding="utf-8")
    start = text.index("\nBehaviour map\n=============\n") + 1
    following = re.compile(r"^[^\n]+\n=+\n", re.MULTILINE)
    end = following.search(text, start + len("Behaviour map\n=============\n"))
    return text[start : end.start() if end else len(text)]


def _entries():
    found = []
    for path, names in ENTRY.findall(" ".join(_map_section().split())):
        found.extend((path, name) for name in NAME.findall(names))
    return found


def _defines(text, suffix, name):
    if suffix == ".py":
        pattern = rf"^\s*(?:async\s+)?def {name}\b|^\s*class {name}\b|^\s*{name}\s*[:=]"
    elif suffix == ".xml":
        pattern = rf'\bid="{name}"'
    else:  # JavaScript: a class, function or constant of that name
        pattern = rf"\b(?:class|function|const|let) {name}\b"
    return re.search(pattern, text, re.MULTILINE) is not None


def test_the_map_names_many_behaviours():
    entries = _entries()
    assert len(entries) >= 60, entries
    assert len({path for path, _name in entries}) >= 20


def _file(path):
    """A path of the map: under the addon, or under another module of the
    repository (a glue module) when it starts with that module's directory."""
    module = ROOT / path.split("/", 1)[0]
    if (module / "__manifest__.py").is_file():
        return ROOT / path
    return ADDON / path


@pytest.mark.parametrize(("path", "name"), _entries())
def test_every_file_and_name_of_the_map_exists(path, name):
    file = _file(path)
    assert file.is_file(), f"docs/architecture.rst names {path}, which does not exist"
    text = file.read_text(encoding="utf-8")
    assert _defines(text, file.suffix, name), f"{path} defines no {name}"


def test_a_glue_module_path_is_its_own():
    assert _file("models/mail_sync_account.py").is_file()
    glue = _file("mail_sync_crm_queue_job/models/mail_sync_account.py")
    assert glue == ROOT / "mail_sync_crm_queue_job/models/mail_sync_account.py"
    assert glue.is_file()


def test_a_wrong_name_is_caught():
    text = (ADDON / "lib/sync/process_tuning.py").read_text(encoding="utf-8")
    assert _defines(text, ".py", "long_run")
    assert not _defines(text, ".py", "short_run")
