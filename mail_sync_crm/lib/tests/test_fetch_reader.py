"""fetch_reader's contract: the private names it uses are listed and exist on the
installed versions, nothing else in lib/ uses them, it is enabled only where it was
verified, and the declared imapclient range holds the pins and those versions.
(The fallback to stock imapclient: test_imap_fallback.py.)"""

import ast
import pathlib
import sys

import imapclient
import pytest
from lib.imap import fetch_reader
from lib.imap import session as imap_session
from lib.imap.session import FAST_READER_SWITCH, ImapSession
from lib.net.settings import ImapSettings
from packaging.requirements import Requirement

from mail_sync_testing import LOOPBACK_POLICY

LIB = pathlib.Path(fetch_reader.__file__).parents[1]
VERIFIED_HERE = (
    fetch_reader.VERIFIED_PYTHON[0]
    <= sys.version_info[:2]
    < fetch_reader.VERIFIED_PYTHON[1]
    and fetch_reader.VERIFIED_IMAPCLIENT[0]
    <= fetch_reader._version(imapclient.__version__)
    < fetch_reader.VERIFIED_IMAPCLIENT[1]
)
needs_verified_versions = pytest.mark.skipif(
    not VERIFIED_HERE,
    reason=f"the fast reader is not verified on Python {sys.version.split()[0]}"
    f" with imapclient {imapclient.__version__}",
)
# Listed attributes that public APIs or this project's own objects also have:
# too common to look for in the rest of lib/.
COMMON_NAMES = frozenset(
    ("file", "state", "capabilities", "stream", "ssl", "host", "port", "ssl_context")
)


@pytest.fixture(autouse=True)
def _no_switch(monkeypatch):
    """Each test chooses the reader itself, whatever the environment says."""
    monkeypatch.delenv(FAST_READER_SWITCH, raising=False)


def _listed_names():
    """Last parts of every listed name: {name: kind}."""
    names = {}
    for _module, dotted in fetch_reader.PRIVATE_NAMES:
        names[dotted.rsplit(".", 1)[-1]] = "method" if "." in dotted else "module"
    for _module, _cls, attributes in fetch_reader.PRIVATE_INSTANCE_NAMES:
        names.update(dict.fromkeys(attributes, "instance"))
    return names


def _private_calls(tree):
    """(module, name) of every ``_private("module", "name")`` call (the import-time
    check's, with variables, left out)."""
    return {
        tuple(arg.value for arg in node.args)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_private"
        and all(isinstance(arg, ast.Constant) for arg in node.args)
    }


def _attributes_and_methods(tree):
    """Names of the attributes read or written, and of the methods defined in
    classes (overrides included)."""
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} | {
        item.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef)
    }


def test_the_lists_name_every_private_name_the_module_uses():
    tree = ast.parse(pathlib.Path(fetch_reader.__file__).read_text())
    listed = _listed_names()
    used = _attributes_and_methods(tree)
    underscored = {n for n in used if n.startswith("_") and not n.endswith("__")}
    assert underscored <= set(listed)
    module_level = {
        (module, dotted)
        for module, dotted in fetch_reader.PRIVATE_NAMES
        if "." not in dotted
    }
    # Names of imapclient's modules come through _private() only, and only the
    # listed ones; every listed name is used (the list holds nothing stale).
    assert _private_calls(tree) == module_level
    for name, kind in listed.items():
        if kind != "module":
            assert name in used, name
    imports = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    ]
    assert imports == ["imapclient"]


def test_no_other_lib_module_uses_them():
    listed = set(_listed_names()) - COMMON_NAMES
    private_modules = {module for module, _name in fetch_reader.PRIVATE_NAMES} - {
        "imaplib",
        "imapclient",
    }
    checked = 0
    harness = LIB.parents[1] / "mail_sync_testing"
    for path in sorted([*LIB.rglob("*.py"), *harness.rglob("*.py")]):
        if (
            path.samefile(fetch_reader.__file__)
            or "tests" in path.relative_to(harness.parent).parts
        ):
            continue
        tree = ast.parse(path.read_text())
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not used & listed, (path.name, used & listed)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                imported = {node.module or ""} | {
                    f"{node.module}.{alias.name}" for alias in node.names
                }
            elif isinstance(node, ast.Import):
                imported = {alias.name for alias in node.names}
            else:
                continue
            assert not imported & private_modules, (path.name, imported)
        checked += 1
    assert checked >= 50  # lib's modules and mail_sync_testing's


@needs_verified_versions
def test_every_private_name_exists_on_the_installed_versions():
    for module, dotted in fetch_reader.PRIVATE_NAMES:
        assert fetch_reader._private(module, dotted) is not None, (module, dotted)
    with pytest.raises(LookupError):
        fetch_reader._private("imapclient.util", "chunk")  # not listed: refused
    assert fetch_reader.DISABLED_BECAUSE is None
    assert fetch_reader.ENABLED


def _private_class(module, name):
    """A class named in PRIVATE_INSTANCE_NAMES."""
    return getattr(__import__(module, fromlist=[name]), name)


@needs_verified_versions
@pytest.mark.parametrize("encryption", ["none", "starttls", "ssl"])
def test_every_instance_name_exists_on_a_live_connection(dovecot, encryption):
    port = dovecot.ssl_port if encryption == "ssl" else dovecot.port
    settings = ImapSettings(
        dovecot.host,
        port,
        encryption,
        login="alice",
        password="secret",
        allow_self_signed=True,
        host_policy=LOOPBACK_POLICY,
    )
    with ImapSession(settings) as session:
        client = session.client
        assert type(client) is imap_session._fast_client_class()
        owners = {"IMAP4": client._imap, "IMAPClient": client}
        for module, cls, attributes in fetch_reader.PRIVATE_INSTANCE_NAMES:
            assert isinstance(owners[cls], _private_class(module, cls))
            for name in attributes:
                assert hasattr(owners[cls], name), (cls, name)
        assert hasattr(client._imap.file, "peek")  # the fast FETCH reader's way


def test_enabled_only_on_the_verified_versions():
    assert "Python 3.13" in fetch_reader.verdict((3, 13), (4, 1))
    assert "Python 3.9" in fetch_reader.verdict((3, 9), (4, 1))
    assert "imapclient 3.1" in fetch_reader.verdict((3, 11), (3, 1))
    assert "imapclient 5.0" in fetch_reader.verdict((3, 12), (5, 0))
    assert "imapclient unknown" in fetch_reader.verdict((3, 10), ())
    if VERIFIED_HERE:
        for python in ((3, 10), (3, 11), (3, 12)):
            for version in ((4, 0), (4, 1)):
                assert fetch_reader.verdict(python, version) is None


def test_the_declared_imapclient_range_holds_the_pins_and_the_verified_versions():
    root = LIB.parents[1]
    manifest = ast.literal_eval((root / "mail_sync_crm/__manifest__.py").read_text())
    (declared,) = [
        entry
        for entry in manifest["external_dependencies"]["python"]
        if entry.startswith("imapclient")
    ]
    runtime = (root / "requirements.txt").read_text().splitlines()
    assert [line for line in runtime if line.startswith("imapclient")] == [declared]
    accepted = Requirement(declared).specifier
    for name in ("requirements-dev.txt", "requirements-lib-tests.txt"):
        (pin,) = [
            Requirement(line)
            for line in (root / name).read_text().splitlines()
            if line.startswith("imapclient")
        ]
        assert all(spec.operator == "==" for spec in pin.specifier), name
        assert accepted.contains(next(iter(pin.specifier)).version), name
    # The fallback was verified from 2.3 on; the fast reader's versions are inside.
    first, last = fetch_reader.VERIFIED_IMAPCLIENT
    assert accepted.contains("{}.{}.0".format(*first))
    assert not accepted.contains("{}.{}.0".format(*last))
    assert accepted.contains("2.3.0") and not accepted.contains("2.2.0")
