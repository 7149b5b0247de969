# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Mail Sync for CRM",
    "summary": "Sync each salesperson's own mailbox (Gmail, Microsoft, IMAP+SMTP) "
    "into the Life of the Lead, and send their CRM mail through their own server",
    "version": "18.0.1.2.0",
    "category": "Sales/CRM",
    "website": "https://github.com/mail-sync-crm/mail_sync_crm",
    "author": "mail_sync_crm developers",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "application": False,
    "installable": True,
    "depends": ["crm", "mail"],
    "external_dependencies": {
        "python": ["imapclient>=2.3,<5", "Authlib>=1.6.12,<1.7", "aioimaplib>=2.0,<3"]
    },
    "data": [
        "security/mail_sync_crm_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "data/mail_message_subtype_data.xml",
        "data/mail_sync_past_mail_data.xml",
        "views/mail_sync_account_views.xml",
        "views/mail_sync_account_oauth_views.xml",
        "views/mail_sync_log_views.xml",
        "views/mail_sync_skip_count_views.xml",
        "views/mail_sync_blocklist_views.xml",
        "views/mail_sync_message_views.xml",
        "wizard/mail_sync_move_wizard_views.xml",
        "wizard/mail_sync_why_wizard_views.xml",
        "views/crm_lead_views.xml",
        "views/res_users_views.xml",
        "views/res_company_views.xml",
        "views/res_config_settings_views.xml",
        "wizard/mail_sync_disable_wizard_views.xml",
        "wizard/mail_sync_erase_wizard_views.xml",
        "views/mail_sync_erasure_views.xml",
        "views/menus.xml",
        "views/mail_sync_history_request_views.xml",
        "views/ir_mail_server_views.xml",
        "views/mail_mail_views.xml",
        "views/mail_compose_message_views.xml",
        "views/mail_sync_quota_override_views.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "mail_sync_crm/static/src/systray/*",
            "mail_sync_crm/static/src/chatter/*",
            "mail_sync_crm/static/src/errors/*",
            "mail_sync_crm/static/src/conversation/*",
            "mail_sync_crm/static/src/settings/*",
            "mail_sync_crm/static/src/bus/*",
        ],
        # Odoo loads its graph view when first used: so does the report's.
        "web.assets_backend_lazy": [
            "mail_sync_crm/static/src/report/*",
        ],
        "web.assets_tests": [
            "mail_sync_crm/static/tests/tours/*.js",
        ],
    },
    "demo": [
        "demo/mail_sync_crm_demo.xml",
    ],
    "uninstall_hook": "uninstall_hook",
}
