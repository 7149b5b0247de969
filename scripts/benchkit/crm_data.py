"""The benchmark's data in the database: its salesperson, its leads (marked
with ``crm_lead.referred``), and removing what a previous run left."""

import contextlib
import os

from .corpus import lead_contact


def delete_synced_chatter(env, marker):
    """Delete the chatter messages and attachments synced onto the leads marked
    ``marker``, the attachments' files too: the next sync must write new files,
    as a first sync does (with the old files still there, Odoo compares each
    attachment with its old copy, block by block, before reusing it)."""
    cr = env.cr
    cr.execute(
        """DELETE FROM mail_message m USING crm_lead l
            WHERE m.model = 'crm.lead' AND m.res_id = l.id AND l.referred = %s""",
        [marker],
    )
    cr.execute(
        """DELETE FROM ir_attachment a USING crm_lead l
            WHERE a.res_model = 'crm.lead' AND a.res_id = l.id AND l.referred = %s
        RETURNING a.store_fname""",
        [marker],
    )
    names = {name for (name,) in cr.fetchall() if name}
    if names:
        cr.execute(
            "SELECT store_fname FROM ir_attachment WHERE store_fname = ANY(%s)",
            [list(names)],
        )
        names -= {name for (name,) in cr.fetchall()}  # still used elsewhere
    Attachment = env["ir.attachment"]
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.remove(Attachment._full_path(name))


def reset_bench_data(env, marker):
    """Remove what a previous run left: mailboxes (their folders, ledger and log
    cascade), synced chatter messages and attachments, the leads marked
    ``marker``."""
    cr = env.cr
    cr.execute("SELECT id FROM mail_sync_account")
    if cr.fetchall():
        cr.execute("DELETE FROM mail_sync_account")
    delete_synced_chatter(env, marker)
    cr.execute("DELETE FROM crm_lead WHERE referred = %s", [marker])
    env.invalidate_all()


def bench_user(env, login, name, email):
    """The salesperson ``login`` (made once, active)."""
    from odoo import Command

    user = (
        env["res.users"].with_context(active_test=False).search([("login", "=", login)])
    )
    if not user:
        groups = env.ref("base.group_user") | env.ref("sales_team.group_sale_salesman")
        user = env["res.users"].create(
            {
                "name": name,
                "login": login,
                "email": email,
                "groups_id": [Command.set(groups.ids)],
            }
        )
    user.active = True
    return user


def create_leads(env, user, n, marker):
    """``n`` leads of ``user`` with distinct addresses (``corpus.lead_contact``),
    marked ``marker``: one created by the ORM as a template, the others copied
    from its row in one INSERT with their own name, email_from and the stored
    fields Odoo computes from it (email_normalized, email_domain_criterion).
    Returns (leads, distinct addresses)."""
    from odoo.tools import email_normalize

    from odoo.addons.iap.tools import iap_tools

    template = (
        env["crm.lead"]
        .with_user(user)
        .create({"name": "Template", "type": "lead", "email_from": "t@t.example"})
    )
    template.sudo().referred = marker
    env.flush_all()
    cr = env.cr
    cr.execute(
        """SELECT column_name FROM information_schema.columns
            WHERE table_name = 'crm_lead' AND column_name NOT IN
                  ('id', 'name', 'email_from', 'email_normalized',
                   'email_domain_criterion')"""
    )
    columns = [row[0] for row in cr.fetchall()]
    names, emails, normalized, domains = [], [], [], []
    for i in range(n):
        name, address = lead_contact(i)
        email_from = f"{name} <{address}>"
        names.append(f"{name} – opportunity {i}")
        emails.append(email_from)
        normalized.append(email_normalize(email_from, strict=False))
        domains.append(iap_tools.mail_prepare_for_domain_search(email_from))
    assert len(set(normalized)) == n, "lead addresses must be distinct"
    column_list = ", ".join(f'"{c}"' for c in columns)
    template_columns = ", ".join(f't."{c}"' for c in columns)
    cr.execute(
        f"""INSERT INTO crm_lead (name, email_from, email_normalized,
                                  email_domain_criterion, {column_list})
            SELECT v.name, v.email, v.normalized, v.domain, {template_columns}
              FROM crm_lead t,
                   unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[])
                     AS v(name, email, normalized, domain)
             WHERE t.id = %s""",
        [names, emails, normalized, domains, template.id],
    )
    template.sudo().unlink()
    cr.execute(
        "SELECT count(*), count(DISTINCT email_normalized) FROM crm_lead"
        " WHERE referred = %s",
        [marker],
    )
    return cr.fetchone()
