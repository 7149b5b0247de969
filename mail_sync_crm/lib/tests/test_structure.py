"""docs/structure.md, the picture of the addons' packages, files, imports and
models, is what ``scripts/structure.py`` makes of the working tree now; and the
script reads imports and models as Python does. Read as text: no Odoo needed."""

import ast
import importlib.util
import pathlib
import re
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "structure", ROOT / "scripts" / "structure.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


structure = _load_script()


def _tree(files):
    return {path: textwrap.dedent(text).encode("utf-8") for path, text in files.items()}


def _shape(text):
    """The picture without its counts: which packages, files, imports and models
    there are. Line and import counts drift with every edit; the shape must not."""
    return re.sub(r"\d[\d,]*", "N", text)


def test_the_committed_picture_is_the_code_as_it_is_now():
    committed = (ROOT / structure.DOC).read_text(encoding="utf-8")
    assert _shape(committed) == _shape(structure.generate()), (
        f"{structure.DOC} is stale (a file, import or model added, moved or "
        "removed): run `make structure` and commit it"
    )


def test_the_before_picture_is_committed():
    before = (ROOT / structure.BEFORE_DOC).read_text(encoding="utf-8")
    assert "git revision `04f7f1d`" in before
    assert "```mermaid" in before


def test_packages_count_lib_one_level_deeper():
    assert structure.package_of("mail_sync_crm/models/x.py") == "mail_sync_crm/models"
    assert structure.package_of("mail_sync_crm/lib/tls.py") == "mail_sync_crm/lib"
    assert (
        structure.package_of("mail_sync_crm/lib/imap/fast.py")
        == "mail_sync_crm/lib/imap"
    )
    assert structure.package_of("mail_sync_crm/lib/a/b/c.py") == "mail_sync_crm/lib/a"
    assert structure.package_of("mail_sync_crm/superuser.py") == "mail_sync_crm"


def test_imports_are_resolved_relative_and_absolute():
    files = _tree(
        {
            "mail_sync_crm/__init__.py": "from . import models\n",
            "mail_sync_crm/superuser.py": "",
            "mail_sync_crm/models/__init__.py": "from . import account\n",
            "mail_sync_crm/models/account.py": """
                from odoo import models
                from .. import superuser
                from ..lib.imap import session
                from ..lib.sync import engine as eng, Engine

                def f():
                    from odoo.addons.mail_sync_crm.store import claims
                    return claims
            """,
            "mail_sync_crm/lib/__init__.py": "",
            "mail_sync_crm/lib/imap/__init__.py": "",
            "mail_sync_crm/lib/imap/session.py": "from ..sync import engine\n",
            "mail_sync_crm/lib/sync/__init__.py": "Engine = 1\n",
            "mail_sync_crm/lib/sync/engine.py": "from ..imap.session import x\n",
            "mail_sync_crm/lib/tests/test_x.py": "from lib.imap import session\n",
            "mail_sync_crm/store/claims.py": "import os\n",
        }
    )
    path = "mail_sync_crm/models/account.py"
    reached = structure.imports_of(files, path, ast.parse(files[path]))
    assert reached == [
        "mail_sync_crm/superuser.py",
        "mail_sync_crm/lib/imap/session.py",
        "mail_sync_crm/lib/sync/engine.py",
        "mail_sync_crm/lib/sync/__init__.py",
        "mail_sync_crm/store/claims.py",
    ]
    found = structure.analyse(files)
    assert found.edges == {
        ("mail_sync_crm/models", "mail_sync_crm"): 1,
        ("mail_sync_crm/models", "mail_sync_crm/lib/imap"): 1,
        ("mail_sync_crm/models", "mail_sync_crm/lib/sync"): 2,
        ("mail_sync_crm/models", "mail_sync_crm/store"): 1,
        ("mail_sync_crm/lib/imap", "mail_sync_crm/lib/sync"): 1,
        ("mail_sync_crm/lib/sync", "mail_sync_crm/lib/imap"): 1,
        ("mail_sync_crm/lib/tests", "mail_sync_crm/lib/imap"): 1,
    }, "an __init__.py registering its own parts is no dependency"
    assert structure.two_way(found.module_edges) == [
        ("mail_sync_crm/lib/imap/session.py", "mail_sync_crm/lib/sync/engine.py")
    ]
    page = structure.render(found, "a sample")
    assert "p_mail_sync_crm__lib__imap -->|1| p_mail_sync_crm__lib__sync" in page
    assert "| lib/imap | lib/sync (1) | lib/sync |" in page


def test_models_per_file():
    files = _tree(
        {
            "mail_sync_crm/models/a.py": """
                from odoo import models

                class A(models.Model):
                    _name = "mail.sync.account"
                    _inherit = ["mail.thread"]

                class Lead(models.Model):
                    _inherit = "crm.lead"
            """,
            "mail_sync_crm/models/b.py": """
                class B(models.Model):
                    _inherit = "mail.sync.account"
            """,
            "mail_sync_crm/models/c.py": """
                class C(models.AbstractModel):
                    _name = "mail.sync.scheduler"
                    _description = "not a model name"
            """,
        }
    )
    found = structure.analyse(files)
    assert found.models == {
        "mail.sync.account": [
            ("mail_sync_crm/models/a.py", "new"),
            ("mail_sync_crm/models/b.py", "extends"),
        ],
        "crm.lead": [("mail_sync_crm/models/a.py", "extends")],
        "mail.sync.scheduler": [("mail_sync_crm/models/c.py", "new")],
    }
    page = structure.render(found, "a sample")
    assert (
        "| `mail.sync.account` | 2 | 12 | `mail_sync_crm/models/a.py` "
        "| `mail_sync_crm/models/b.py` |" in page
    )
    assert "| `a.py` | 9 | `mail.sync.account`, `crm.lead` (extends) |" in page


def test_the_page_shows_other_folders_by_count():
    files = _tree({"mail_sync_crm/views/a.xml": "<odoo>\n</odoo>\n"})
    files["mail_sync_crm/static/description/icon.png"] = b"\x89PNG\0\0"
    page = structure.render(structure.analyse(files), "a sample")
    assert "| `mail_sync_crm/views` | 1 | 2 |" in page
    assert "| `mail_sync_crm/static` | 1 | 0 |" in page


def test_private_names_taken_from_another_module():
    files = _tree(
        {
            "mail_sync_crm/lib/__init__.py": "",
            "mail_sync_crm/lib/engine.py": "_run = 1\nRun = 2\n",
            "mail_sync_crm/lib/_grants.py": "",
            "mail_sync_crm/lib/order.py": """
                from .engine import Run, _run
                from . import _grants
                from .missing import _nowhere
                from os import _exit
            """,
            "mail_sync_crm/lib/tests/test_engine.py": "from lib.engine import _run\n",
            "scripts/bench_fleet.py": "from bench_sync import _import_lib\n",
            "scripts/bench_sync.py": "def _import_lib():\n    pass\n",
        }
    )
    found = structure.analyse(files)
    assert found.private == [
        ("mail_sync_crm/lib/order.py", "mail_sync_crm/lib/engine.py", "_run"),
        ("scripts/bench_fleet.py", "scripts/bench_sync.py", "_import_lib"),
    ], "a private module, a name from outside the tree and the tests do not count"
    page = structure.render(found, "a sample")
    assert "- `mail_sync_crm/lib/order.py` from `mail_sync_crm/lib/engine.py`:" in page
    assert "| scripts/ | — |  |" in page
