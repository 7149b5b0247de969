# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The scheduled actions call the services that now hold their code (#17):
the sync ``mail.sync.scheduler``, the status ``mail.sync.status``. Their records
are ``noupdate``: an update does not move them by itself."""

from odoo import SUPERUSER_ID, api

MOVED = {
    "mail_sync_crm.ir_cron_mail_sync": "mail.sync.scheduler",
    "mail_sync_crm.ir_cron_mail_sync_update_status": "mail.sync.status",
}


def migrate(cr, version):
    # sudo: a migration: the two scheduled actions of the addon (by xmlid) get the
    # model of their code; no value comes from a caller.
    env = api.Environment(cr, SUPERUSER_ID, {})
    for xmlid, model in MOVED.items():
        cron = env.ref(xmlid, raise_if_not_found=False)
        if cron:
            cron.model_id = env["ir.model"]._get_id(model)
