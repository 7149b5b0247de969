"""Odoo's own test runner (``odoo-bin --test-enable``, what an OCA-style CI
runs) finds only the test modules a test package imports: every ``test_*.py``
of the addons' ``tests/`` packages is imported by its ``__init__.py``."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
PACKAGES = [
    ROOT / "mail_sync_crm" / "tests",
    ROOT / "mail_sync_crm_queue_job" / "tests",
]


def imported_modules(init_file):
    """The module names ``from . import x`` brings in ``init_file``."""
    tree = ast.parse(init_file.read_text(encoding="utf-8"))
    return {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module
        for alias in node.names
    }


def not_imported(package):
    modules = {path.stem for path in package.glob("test_*.py")}
    return sorted(modules - imported_modules(package / "__init__.py"))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.parent.name)
def test_every_test_module_is_imported(package):
    assert package.is_dir()
    assert not_imported(package) == []


def test_a_module_left_out_is_found(tmp_path):
    package = tmp_path / "tests"
    package.mkdir()
    (package / "test_a.py").write_text("")
    (package / "test_b.py").write_text("")
    (package / "__init__.py").write_text("from . import test_a\n")
    assert not_imported(package) == ["test_b"]
