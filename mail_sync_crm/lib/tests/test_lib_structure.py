"""The shape of ``lib/``: no Odoo, no sibling's private names, no import cycle.

Every module of ``lib`` (its tests left out) is parsed with :mod:`ast` and each
of its imports resolved to the lib module it names, whether written relative
(``from ..imap import session``, ``from .headers import HeaderInfo``) or
absolute (``import lib.x``). Imports inside functions count too: a deferred
import still ties the two modules together.
"""

import ast
import pathlib

import pytest

LIB = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "lib"


def module_name(path, lib=LIB):
    parts = list(path.relative_to(lib.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def lib_modules(lib=LIB):
    """``{dotted name: path}`` of every module of lib, its tests left out."""
    return {
        module_name(path, lib): path
        for path in sorted(lib.rglob("*.py"))
        if "tests" not in path.relative_to(lib).parts
    }


def _is_package(path):
    return path.name == "__init__.py"


def _absolute(node, name, path):
    """The dotted target of ``from <level dots><module> import`` in module ``name``."""
    if node.level == 0:
        return node.module or ""
    base = name.split(".")
    if not _is_package(path):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name, path, modules):
    """``(target module, imported name or None, line)`` for each import of lib
    (or of anything else, e.g. odoo) in one module, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, name, path)
            for alias in node.names:
                submodule = f"{target}.{alias.name}" if target else alias.name
                if submodule in modules:  # ``from . import sibling``
                    found.append((submodule, None, node.lineno))
                else:
                    found.append((target, alias.name, node.lineno))
    return found


def _owner(target, modules):
    """The lib module ``target`` names (``odoo.addons.mail_sync_crm.lib.x`` too)."""
    marker = "mail_sync_crm."
    target = target.removeprefix("odoo.addons." + marker)
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def odoo_imports(modules):
    return sorted(
        f"{name}:{line} imports {target}"
        for name, path in modules.items()
        for target, _alias, line in imports_of(name, path, modules)
        if target == "odoo" or target.startswith("odoo.")
    )


def private_imports(modules):
    """Private names (``_x``) one lib module takes from another."""
    return sorted(
        f"{name}:{line} takes {alias} from {target}"
        for name, path in modules.items()
        for target, alias, line in imports_of(name, path, modules)
        if alias
        and alias.startswith("_")
        and not alias.startswith("__")
        and _owner(target, modules) not in (None, name)
    )


def graph(modules):
    """``{module: {lib modules it imports}}``; a package's ``__init__`` counts
    as imported with each of its submodules, as Python runs it first."""
    edges = {}
    for name, path in modules.items():
        targets = set()
        for target, _alias, _line in imports_of(name, path, modules):
            owner = _owner(target, modules)
            if owner and owner != name:
                targets.add(owner)
        edges[name] = targets
    return edges


def cycles(edges):
    """Each import cycle once, as a list of modules starting at its smallest."""
    found = set()
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt) :]
                start = cycle.index(min(cycle))
                found.add(tuple(cycle[start:] + cycle[:start]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return sorted(list(cycle) for cycle in found)


def package_cycles(edges):
    """Cycles between lib's sub-packages (``lib.imap`` <-> ``lib.sync``)."""

    def package(module):
        parts = module.split(".")
        return ".".join(parts[:2])

    packages = {}
    for name, targets in edges.items():
        source = package(name)
        packages.setdefault(source, set()).update(
            package(t) for t in targets if package(t) != source and t != PACKAGE
        )
    return cycles(packages)


MODULES = lib_modules()


def test_lib_is_parsed():
    assert len(MODULES) > 30
    assert f"{PACKAGE}.sync.engine" in MODULES


def test_lib_imports_no_odoo():
    assert odoo_imports(MODULES) == []


def test_no_module_takes_a_siblings_private_name():
    assert private_imports(MODULES) == []


def test_no_import_cycle_between_modules():
    assert cycles(graph(MODULES)) == []


def test_no_import_cycle_between_packages():
    assert package_cycles(graph(MODULES)) == []


@pytest.fixture
def fake_lib(tmp_path):
    lib = tmp_path / "lib"
    (lib / "net").mkdir(parents=True)
    for init in (lib / "__init__.py", lib / "net" / "__init__.py"):
        init.write_text("")
    return lib


def test_the_checks_find_what_they_look_for(fake_lib):
    (fake_lib / "net" / "a.py").write_text(
        "from .b import _hidden\n\ndef f():\n    from odoo import api\n"
    )
    (fake_lib / "net" / "b.py").write_text("from ..net import a\n_hidden = 1\n")
    (fake_lib / "c.py").write_text("import lib.net.a\n")
    modules = lib_modules(fake_lib)
    assert odoo_imports(modules) == ["lib.net.a:4 imports odoo"]
    assert private_imports(modules) == ["lib.net.a:1 takes _hidden from lib.net.b"]
    assert cycles(graph(modules)) == [["lib.net.a", "lib.net.b"]]
    assert graph(modules)["lib.c"] == {"lib.net.a"}


def test_package_cycles_are_found(fake_lib):
    (fake_lib / "imap").mkdir()
    (fake_lib / "imap" / "__init__.py").write_text("")
    (fake_lib / "imap" / "x.py").write_text("from ..net import y\n")
    (fake_lib / "net" / "y.py").write_text("from ..net import z\n")
    (fake_lib / "net" / "z.py").write_text("from ..imap.x import X\n")
    modules = lib_modules(fake_lib)
    assert cycles(graph(modules)) == [["lib.imap.x", "lib.net.y", "lib.net.z"]]
    assert package_cycles(graph(modules)) == [["lib.imap", "lib.net"]]
