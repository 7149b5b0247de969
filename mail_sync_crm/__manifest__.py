# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Mail Sync for CRM",
    "summary": "Sync each salesperson's own mailbox (Gmail, Microsoft, IMAP+SMTP) "
    "into the Life of the Lead, and send their CRM mail through their own server",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "website": "https://github.com/mail-sync-crm/mail_sync_crm",
    "author": "mail_sync_crm developers",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "application": False,
    "installable": True,
    "depends": ["crm", "mail"],
    "external_dependencies": {"python": ["imapclient"]},
    "data": [
        "security/ir.model.access.csv",
    ],
    "demo": [
        "demo/mail_sync_crm_demo.xml",
    ],
}
