# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The two routes of "Connect with Google / Microsoft".

``/mail_sync_crm/oauth/start`` sends the owner's browser to the provider (the
PKCE verifier waits in the web session under the state's nonce);
``/mail_sync_crm/oauth/callback`` is where the provider sends it back. Both
end on the mailbox form: every refusal is logged on the mailbox and shown on
its form, never a bare page.
"""

import logging

from odoo import http
from odoo.http import request

from ..lib import errors
from ..lib.oauth import client as oauth
from ..models.mail_sync_oauth import CALLBACK_PATH, START_PATH

_logger = logging.getLogger(__name__)

# Web session key: {nonce: PKCE code verifier} of the sign-ins under way.
SESSION_KEY = "mail_sync_crm_oauth"
# Sign-ins under way per session (several tabs); the oldest are dropped.
MAX_PENDING = 5


class MailSyncOAuthController(http.Controller):
    @http.route(START_PATH, type="http", auth="user", methods=["GET"])
    def oauth_start(self, account_id=None, **_kwargs):
        Account = request.env["mail.sync.account"]
        account = self._own_account(account_id)
        if not account:
            return self._refuse(
                Account, "the mailbox is not the current user's", provider=""
            )
        try:
            url, nonce, verifier = request.env["mail.sync.oauth"]._authorization(
                account
            )
        except errors.MailSyncError as err:
            request.env["mail.sync.oauth"]._refused(account, err)
            return self._back(account)
        pending = dict(request.session.get(SESSION_KEY) or {})
        pending[nonce] = verifier
        request.session[SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING:])
        return request.redirect(url, local=False)

    @http.route(CALLBACK_PATH, type="http", auth="user", methods=["GET"])
    def oauth_callback(self, state=None, **params):
        Account = request.env["mail.sync.account"]
        values = request.env["mail.sync.oauth"]._read_state(state)
        if not values:
            return self._refuse(Account, "state forged, damaged or expired")
        if values["user"] != request.env.uid:
            return self._refuse(Account, "state of another user")
        account = self._own_account(values["account"])
        if not account or account.oauth_provider != values["provider"]:
            return self._refuse(Account, "state of another mailbox or provider")
        pending = dict(request.session.get(SESSION_KEY) or {})
        verifier = pending.pop(values["n"], None)
        request.session[SESSION_KEY] = pending
        if not verifier:
            return self._refuse(
                account, "state already used, or started in another browser"
            )
        try:
            with request.env.cr.savepoint():
                OAuth = request.env["mail.sync.oauth"]
                code = oauth.parse_callback(params, OAuth._client_provider(account))
                OAuth._finish(account, code, verifier)
        except errors.MailSyncError as err:
            request.env["mail.sync.oauth"]._refused(account, err)
        except Exception as exc:  # never a traceback page: logged on the mailbox
            _logger.exception("mail_sync_crm: OAuth callback of mailbox %s", account.id)
            request.env["mail.sync.oauth"]._refused(
                account, errors.classify(exc, side="oauth")
            )
        return self._back(account)

    # ------------------------------------------------------------------
    def _own_account(self, account_id):
        """The current user's mailbox of id ``account_id``, or an empty one."""
        Account = request.env["mail.sync.account"]
        try:
            account = Account.browse(int(account_id)).exists()
        except (TypeError, ValueError):
            return Account
        # sudo: read-only: the owner of the mailbox whose id the request names, only to
        # compare it with the current user; anyone else's mailbox is refused, nothing of
        # it returned.
        if account.sudo().user_id != request.env.user:
            return Account
        return account

    def _refuse(self, account, detail, provider=None):
        """Refuse the sign-in: logged and shown on ``account``, else on the
        current user's own mailbox."""
        if not account:
            account = account.search([("user_id", "=", request.env.uid)], limit=1)
        label = (
            provider
            if provider is not None
            else request.env["mail.sync.oauth"]._label(account)
        )
        err = errors.MailSyncError(
            "oauth_state_invalid",
            detail,
            side="oauth",
            params={"provider": label} if label else {},
        )
        if account:
            request.env["mail.sync.oauth"]._refused(account, err)
        return self._back(account)

    def _back(self, account):
        if not account:
            return request.redirect(
                "/odoo/action-mail_sync_crm.mail_sync_account_action_my"
            )
        return request.redirect(
            f"/odoo/action-mail_sync_crm.mail_sync_account_action/{account.id}"
        )
