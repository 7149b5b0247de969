# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Mail Sync for CRM - Job Queue",
    "summary": "Sync each due mailbox in a job of its own on the mail_sync channel, "
    "run by the job runner on any of the Odoo servers",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "website": "https://github.com/mail-sync-crm/mail_sync_crm",
    "author": "mail_sync_crm developers",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "application": False,
    "installable": True,
    "auto_install": True,
    "depends": ["mail_sync_crm", "queue_job"],
    "data": [
        "data/queue_job_data.xml",
        "views/res_config_settings_views.xml",
    ],
}
