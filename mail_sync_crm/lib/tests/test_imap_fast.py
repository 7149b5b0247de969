"""imap_fast: the private names it uses exist, nothing else in lib/ uses them, it is
enabled only where verified, and stock imapclient (the fallback) reads the same
data from a real Dovecot."""

import ast
import logging
import pathlib
import sys

import imapclient
import pytest
from lib import imap_fast, imap_session
from lib.imap_session import (
    FAST_READER_SWITCH,
    HEADER_ITEM,
    ImapSession,
    ImapSettings,
)
from lib.testing import make_corpus, make_message
from packaging.requirements import Requirement

LIB = pathlib.Path(imap_fast.__file__).parent
VERIFIED_HERE = (
    imap_fast.VERIFIED_PYTHON[0] <= sys.version_info[:2] < imap_fast.VERIFIED_PYTHON[1]
    and imap_fast.VERIFIED_IMAPCLIENT[0]
    <= imap_fast._version(imapclient.__version__)
    < imap_fast.VERIFIED_IMAPCLIENT[1]
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
    for _module, dotted in imap_fast.PRIVATE_NAMES:
        names[dotted.rsplit(".", 1)[-1]] = "method" if "." in dotted else "module"
    for _module, _cls, attributes in imap_fast.PRIVATE_INSTANCE_NAMES:
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
    tree = ast.parse(pathlib.Path(imap_fast.__file__).read_text())
    listed = _listed_names()
    used = _attributes_and_methods(tree)
    underscored = {n for n in used if n.startswith("_") and not n.endswith("__")}
    assert underscored <= set(listed)
    module_level = {
        (module, dotted)
        for module, dotted in imap_fast.PRIVATE_NAMES
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
    private_modules = {module for module, _name in imap_fast.PRIVATE_NAMES} - {
        "imaplib",
        "imapclient",
    }
    checked = 0
    for path in sorted(LIB.rglob("*.py")):
        if path.name == "imap_fast.py" or "tests" in path.relative_to(LIB).parts:
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
    assert checked >= 15  # lib/*.py and lib/testing/*.py


@needs_verified_versions
def test_every_private_name_exists_on_the_installed_versions():
    for module, dotted in imap_fast.PRIVATE_NAMES:
        assert imap_fast._private(module, dotted) is not None, (module, dotted)
    with pytest.raises(LookupError):
        imap_fast._private("imapclient.util", "chunk")  # not listed: refused
    assert imap_fast.DISABLED_BECAUSE is None
    assert imap_fast.ENABLED


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
    )
    with ImapSession(settings) as session:
        client = session.client
        assert type(client) is imap_session._fast_client_class()
        owners = {"IMAP4": client._imap, "IMAPClient": client}
        for module, cls, attributes in imap_fast.PRIVATE_INSTANCE_NAMES:
            assert isinstance(owners[cls], _private_class(module, cls))
            for name in attributes:
                assert hasattr(owners[cls], name), (cls, name)
        assert hasattr(client._imap.file, "peek")  # the fast FETCH reader's way


def test_enabled_only_on_the_verified_versions():
    assert "Python 3.13" in imap_fast.verdict((3, 13), (4, 1))
    assert "Python 3.9" in imap_fast.verdict((3, 9), (4, 1))
    assert "imapclient 3.1" in imap_fast.verdict((3, 11), (3, 1))
    assert "imapclient 5.0" in imap_fast.verdict((3, 12), (5, 0))
    assert "imapclient unknown" in imap_fast.verdict((3, 10), ())
    if VERIFIED_HERE:
        for python in ((3, 10), (3, 11), (3, 12)):
            for version in ((4, 0), (4, 1)):
                assert imap_fast.verdict(python, version) is None


def test_the_declared_imapclient_range_holds_the_pins_and_the_verified_versions():
    root = LIB.parents[1]
    manifest = ast.literal_eval((root / "mail_sync_crm/__manifest__.py").read_text())
    (declared,) = manifest["external_dependencies"]["python"]
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
    first, last = imap_fast.VERIFIED_IMAPCLIENT
    assert accepted.contains("{}.{}.0".format(*first))
    assert not accepted.contains("{}.{}.0".format(*last))
    assert accepted.contains("2.3.0") and not accepted.contains("2.2.0")


# -- the fallback ------------------------------------------------------------------


@pytest.fixture
def fresh_client_class():
    """The fast client class is set up anew before and after the test."""
    imap_session._fast_client_class.cache_clear()
    yield
    imap_session._fast_client_class.cache_clear()


def _settings(dovecot, encryption="none"):
    return ImapSettings(
        dovecot.host,
        dovecot.ssl_port if encryption == "ssl" else dovecot.port,
        encryption,
        login="alice",
        password="secret",
        allow_self_signed=True,
        timeout=10,
    )


def _read_everything(settings):
    """What a sync can read through ImapSession, in comparable form."""
    with ImapSession(settings) as session:
        seen = {"client": type(session.client).__name__}
        seen["examined"] = session.examine_folders(["Nope", "Envoyés", "Sent", "INBOX"])
        seen["selected"] = session.folder
        uids = session.uids_after(0)
        seen["uids"] = uids
        seen["headers"] = session.fetch_headers(uids)
        seen["sizes"] = session.fetch_sizes(uids)
        seen["bodies"] = session.fetch_bodies(uids, max_size=100_000)
        seen["raw"] = session._fetch(
            uids, [HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE", "FLAGS"]
        )
        seen["sent"] = session.select_folder("Sent")
        seen["sent_bodies"] = session.fetch_bodies(session.uids_after(0), None)
        seen["refused_last"] = session.examine_folders(["INBOX", "Nope"])
        seen["selected_after"] = session.folder
    return seen


@needs_verified_versions
@pytest.mark.parametrize("encryption", ["none", "ssl"])
def test_stock_imapclient_reads_the_same_as_the_fast_reader(
    dovecot, monkeypatch, encryption
):
    corpus = make_corpus(60, seed=11, attachment_ratio=0.2, sent_ratio=0.3)
    for folder in ("INBOX", "Sent"):
        dovecot.fill_maildir(
            "alice", folder, ((c.raw, c.date) for c in corpus if c.folder == folder)
        )
    dovecot.append("alice", "Envoyés", make_message("alice@example.com", "b@x.com"))
    settings = _settings(dovecot, encryption)
    fast = _read_everything(settings)
    monkeypatch.setenv(FAST_READER_SWITCH, "0")
    stock = _read_everything(settings)

    assert (fast.pop("client"), stock.pop("client")) == ("FastClient", "StockClient")
    assert fast == stock
    inbox = [c for c in corpus if c.folder == "INBOX"]
    examined = stock["examined"]
    assert examined["Nope"] is None and examined["Envoyés"].exists == 1
    assert examined["INBOX"].exists == len(inbox) == len(stock["uids"])
    assert stock["selected"] == examined["INBOX"]
    assert stock["refused_last"]["Nope"] is None and stock["selected_after"] is None
    assert {h.message_id for h in stock["headers"]} == {c.message_id for c in inbox}
    assert stock["sizes"] == {h.uid: h.size for h in stock["headers"]}
    big = {uid for uid, size in stock["sizes"].items() if size > 100_000}
    assert big and len(big) < len(inbox)  # some bodies left out, not all
    assert {uid for uid, body in stock["bodies"].items() if body is None} == big
    assert all(
        len(stock["bodies"][uid]) == stock["sizes"][uid]
        for uid in set(stock["uids"]) - big
    )
    assert len(stock["sent_bodies"]) == len(corpus) - len(inbox)
    assert all(data[b"INTERNALDATE"].tzinfo for data in stock["raw"].values())


@needs_verified_versions
@pytest.mark.parametrize("breakage", ["ImportError", "AttributeError"])
def test_a_fast_reader_that_cannot_be_set_up_gives_way_to_stock_imapclient(
    dovecot, monkeypatch, caplog, fresh_client_class, breakage
):
    """The installed imapclient passed the import-time check, then changed (or a
    name went missing some other way): sessions go on with stock imapclient
    instead of failing as an error of the mail server."""
    if breakage == "ImportError":  # ModuleNotFoundError, as for a module removed
        monkeypatch.setitem(sys.modules, "imapclient.tls", None)
        missing = "imapclient.tls"
    else:
        monkeypatch.delattr("imapclient.util.to_ints")
        missing = "to_ints"
    dovecot.append("alice", "INBOX", make_message("bob@example.org", "alice@x.com"))
    with (
        caplog.at_level(logging.WARNING, logger=imap_session.__name__),
        ImapSession(_settings(dovecot)) as session,
    ):
        assert type(session.client).__name__ == "StockClient"
        assert session.examine_folders(["INBOX"])["INBOX"].exists == 1
        (header,) = session.fetch_headers(session.uids_after(0))
        assert header.from_ == ["bob@example.org"]
    (record,) = [r for r in caplog.records if "could not be set up" in r.message]
    assert missing in record.message and record.levelno == logging.WARNING
    # Set up once per process: the next session neither retries nor logs again.
    caplog.clear()
    with ImapSession(_settings(dovecot)) as session:
        assert type(session.client).__name__ == "StockClient"
    assert not caplog.records


def test_a_reader_not_enabled_here_gives_way_to_stock_imapclient(
    dovecot, monkeypatch, caplog, fresh_client_class
):
    monkeypatch.setattr(imap_fast, "ENABLED", False)
    monkeypatch.setattr(imap_fast, "DISABLED_BECAUSE", "not verified on Python 3.99")
    dovecot.append("alice", "INBOX", make_message("bob@example.org", "alice@x.com"))
    with (
        caplog.at_level(logging.INFO, logger=imap_session.__name__),
        ImapSession(_settings(dovecot)) as session,
    ):
        assert type(session.client).__name__ == "StockClient"
        session.select_folder("INBOX")
        assert session.fetch_bodies([1], None)[1].startswith(b"From:")
    assert any("Python 3.99" in r.message for r in caplog.records)
