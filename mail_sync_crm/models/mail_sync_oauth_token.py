# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The OAuth tokens of a mailbox, in a row of their own.

Not on the mailbox row: a sync holds that row for its whole run, and a rotated
refresh token must be committed at once from a cursor of its own, under a lock
of this row (``mail.sync.account._oauth_access_token``). Both tokens are
encrypted with the mailbox secrets' key; no role has any access to this model
(no access rule at all): only the addon, as superuser, reads or writes it.
"""

from odoo import fields, models


class MailSyncOAuthToken(models.Model):
    _name = "mail.sync.oauth.token"
    _description = "Mail Sync OAuth Tokens"
    _log_access = False

    account_id = fields.Many2one(
        "mail.sync.account", required=True, index=True, ondelete="cascade"
    )
    provider = fields.Selection(
        [("google", "Google"), ("microsoft", "Microsoft")], required=True
    )
    refresh_secret = fields.Char(
        groups="mail_sync_crm.group_mail_sync_secret", copy=False
    )
    access_secret = fields.Char(
        groups="mail_sync_crm.group_mail_sync_secret", copy=False
    )
    expires_at = fields.Datetime(
        help="When the access token expires (UTC); refreshed shortly before."
    )

    _sql_constraints = [
        ("account_uniq", "UNIQUE(account_id)", "A mailbox has one set of tokens."),
    ]
