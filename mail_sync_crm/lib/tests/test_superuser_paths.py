"""Every superuser path of the addons says why no caller-chosen value passes
through it: a ``# sudo:`` comment beside each ``.sudo()``, ``env.su``, ``su=``,
``SUPERUSER_ID`` and ``sudo`` helper of the production code
(``scripts/superuser_paths.py`` finds them), and docs/superuser-paths.rst lists
them as the code is now. Read as text: no Odoo needed."""

import importlib.util
import pathlib
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "superuser_paths", ROOT / "scripts" / "superuser_paths.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


paths = _load_script()


def sites(source):
    return paths.find_sites(textwrap.dedent(source))


def reasons(source):
    return {site.line: site.reason for site in sites(source)}


# ----------------------------------------------------------------------
# The addons
# ----------------------------------------------------------------------
def test_every_superuser_path_says_why_no_caller_value_passes():
    missing = paths.missing_reasons(paths.inventory())
    assert not missing, (
        "superuser paths without a '# sudo:' comment (on the line, or right above "
        "its statement) saying why no caller-chosen value passes through them:\n"
        + "\n".join(missing)
    )


def test_the_inventory_covers_the_addons():
    found = paths.inventory()
    files = {path for path, _site in found}
    kinds = {site.kind for _path, site in found}
    assert len(found) >= 90, len(found)
    assert {".sudo()", "env.su", "su=", "sudo helper"} <= kinds, kinds
    assert "mail_sync_crm/controllers/oauth.py" in files
    assert "mail_sync_crm/store/chatter_store.py" in files
    assert "mail_sync_crm_queue_job/models/mail_sync_account.py" in files
    assert not any("/tests/" in path or "/lib/" in path for path in files)


def test_production_files_leave_out_tests_and_lib():
    files = paths.production_files()
    assert "mail_sync_crm/models/mail_sync_account.py" in files
    assert "mail_sync_crm/superuser.py" in files
    assert not [
        f for f in files if "/tests/" in f or f.startswith("mail_sync_crm/lib/")
    ]


def test_the_committed_inventory_is_the_code_as_it_is_now():
    committed = (ROOT / paths.DOC).read_text(encoding="utf-8")
    assert committed == paths.render(paths.inventory()), (
        f"{paths.DOC} is stale: run `make superuser-paths` and commit it"
    )


# ----------------------------------------------------------------------
# The checker, on samples
# ----------------------------------------------------------------------
def test_a_site_without_comment_is_caught():
    found = sites(
        """
        def f(self):
            # Reads the lead.
            lead = self.env["crm.lead"].sudo().browse(1)
            return lead
        """
    )
    assert [(site.line, site.kind, site.reason) for site in found] == [
        (4, ".sudo()", None)
    ]
    missing = paths.missing_reasons([("x.py", site) for site in found])
    assert missing == ['x.py:4: lead = self.env["crm.lead"].sudo().browse(1)']


def test_each_kind_of_site_is_found():
    kinds = [
        (site.line, site.kind)
        for site in sites(
            """
            from odoo import SUPERUSER_ID, api

            def f(self, cr):
                if self.env.su:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                fresh = self.with_env(self.env(cr=cr, su=True))
                return _do_sudo(fresh)

            def _do_sudo(records):
                return records.sudo(True)
            """
        )
    ]
    assert kinds == [
        (5, "env.su"),
        (6, "SUPERUSER_ID"),
        (7, "su="),
        (8, "sudo helper"),
        (10, "sudo helper"),
        (11, ".sudo()"),
    ]


def test_text_that_only_mentions_sudo_is_no_site():
    assert not sites(
        '''
        def f(self, sudo):
            """Written as superuser (``self.sudo()``, ``env.su``)."""
            # self.sudo() is not called here
            return sudo.name, "records.sudo()"
        '''
    )


def test_where_the_comment_may_be():
    found = reasons(
        """
        def f(self, cron, accounts, ids):
            x = self.sudo().a  # sudo: same line
            # sudo: right above,
            # on two lines.
            y = self.sudo().b
            rows = (
                self.env["m"]
                # sudo: inside the statement, before the site
                .sudo()
                .search([])
            )
            # sudo: above a chained statement's first line
            names = (
                self.env["m"]
                .sudo()
                .search([])
            )
            # sudo: above the header covers the body's first statement
            for account in accounts.sudo():
                account.sudo().write({})
            return x, y, rows, names
        """
    )
    assert found == {
        3: "same line",
        6: "right above, on two lines.",
        10: "inside the statement, before the site",
        16: "above a chained statement's first line",
        20: "above the header covers the body's first statement",
        21: "above the header covers the body's first statement",
    }


def test_a_comment_belongs_to_its_own_statement_only():
    found = reasons(
        """
        def f(self, accounts):
            # sudo: about a only
            a = self.sudo().a
            b = self.sudo().b

            # sudo: above a blank line

            c = self.sudo().c
            for account in accounts:
                # sudo: inside the loop, above its first statement
                account.sudo().write({})
                account.sudo().unlink()
            # sudo: above the header, not the second statement of the body
            if accounts:
                pass
                accounts.sudo().unlink()
        """
    )
    assert found == {
        4: "about a only",
        5: None,
        9: None,
        12: "inside the loop, above its first statement",
        13: None,
        17: None,
    }


def test_a_comment_above_a_function_does_not_cover_its_body():
    assert reasons(
        """
        # sudo: about the function, not a reason for its statements
        def f(self):
            return self.sudo().a
        """
    ) == {4: None}


def test_the_reason_stops_at_the_code_or_the_next_reason():
    assert reasons(
        """
        def f(self):
            # A note about something else.
            # sudo: the reason,
            # continued.
            a = self.sudo().a
            b = self.sudo().b  # sudo: the other one
            return a, b
        """
    ) == {6: "the reason, continued.", 7: "the other one"}


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("x = self.sudo().a  # sudo: why", "x = self.sudo().a"),
        ("rows = (\n    self.env['m']\n    .sudo()\n)", "rows = (self.env['m'].sudo()"),
    ],
)
def test_the_code_column(code, shown):
    [site] = sites(code)
    assert site.code == shown


def test_the_page_lists_each_site_with_its_reason():
    found = [
        ("mail_sync_crm/x.py", site) for site in sites("x = a.sudo()  # sudo: a_ *b*")
    ]
    page = paths.render(found)
    assert "make superuser-paths" in page
    assert "(1 in all, in 1 files)" in page
    assert page.endswith(
        "   * - mail_sync_crm/x.py\n     - ``x = a.sudo()``\n     - a\\_ \\*b\\*\n"
    )
