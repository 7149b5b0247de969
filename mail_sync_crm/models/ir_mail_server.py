# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Personal outgoing servers ("Smart Mail"): one per connected mailbox.

A personal server is an ordinary ``ir.mail_server`` with an owner
(``owner_user_id``, Odoo 19's name) and ``from_filter`` = the owner's address,
so that Odoo's own server choice picks it for the owner's mail. Everyone
else's mail never goes through it: ``_find_mail_server`` only considers the
personal servers the caller allows (``mail.mail`` allows one per group of
mails whose author is the owner, see ``mail_mail.py``), and ``connect``
refuses a personal server that is not allowed.

No password is stored here: ``connect`` opens the session with the mailbox's
own settings (``mail.sync.connector._smtp_settings``: the encrypted password,
the pinned certificate of a self-signed server, a timeout).
"""

from odoo import _, api, fields, models, modules, tools
from odoo.exceptions import AccessError, UserError
from odoo.tools import email_normalize

from ..client_context import client_defaults
from ..lib import errors
from ..lib.sending import smtp_session

# Who a personal server belongs to: set by the addon only (as superuser), or an
# administrator could send as someone else through that person's own mailbox.
PERSONAL_FIELDS = frozenset({"owner_user_id", "mail_sync_account_id"})
# Context key: the personal servers the current sending may use, as an
# ``_Entitlement`` (see ``allowed_servers_context``).
ALLOWED_SERVERS = "mail_sync_allowed_server_ids"
# After every company server: code that takes "the first server" by sequence
# without Odoo's server choice never lands on a personal one.
PERSONAL_SEQUENCE = 1000
MB = 1024 * 1024


class _Entitlement(tuple):
    """Ids of the personal servers a sending may use, as ``mail.mail`` decided
    from who created each mail. A client's context (RPC ``call_kw``, JSON
    routes) carries only JSON values (lists, dicts, strings, numbers), never
    this type: a context value that is not one is ignored, so no request can
    allow itself someone's personal server."""

    __slots__ = ()


def allowed_servers_context(server_ids):
    """The context that lets a sending use the personal servers ``server_ids``."""
    return {ALLOWED_SERVERS: _Entitlement(server_ids)}


def allowed_server_ids(context):
    """The personal servers ``context`` allows (only when the addon allowed them)."""
    value = context.get(ALLOWED_SERVERS)
    return frozenset(value) if isinstance(value, _Entitlement) else frozenset()


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    owner_user_id = fields.Many2one(
        "res.users",
        string="Owner",
        readonly=True,
        index="btree_not_null",
        ondelete="cascade",
        help="Personal server of a synced mailbox: only this user's own mail "
        "(authored by them, from their address) leaves through it.",
    )
    mail_sync_account_id = fields.Many2one(
        "mail.sync.account",
        string="Mailbox",
        readonly=True,
        index="btree_not_null",
        ondelete="cascade",
    )

    _sql_constraints = [
        (
            "mail_sync_account_uniq",
            "UNIQUE(mail_sync_account_id)",
            "A synced mailbox owns a single outgoing mail server.",
        ),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._mail_sync_check_personal_fields(vals)
        servers = self
        # sudo: a guard: a client's context makes no server someone's either (its
        # default_owner_user_id / default_mail_sync_account_id are dropped); the
        # addon's own _mail_sync_upsert runs as superuser.
        if not self.env.su:
            servers = self.with_env(
                self.env(
                    context=client_defaults(
                        self.env.context, lambda name: name not in PERSONAL_FIELDS
                    )
                )
            )
        return super(IrMailServer, servers).create(vals_list)

    def write(self, vals):
        self._mail_sync_check_personal_fields(vals)
        return super().write(vals)

    def _mail_sync_check_personal_fields(self, vals):
        # sudo: a guard: only the addon's own superuser code makes a server someone's
        # (_mail_sync_upsert, values computed from the mailbox); no RPC call or route
        # runs with env.su (a client's call runs as its user).
        if not self.env.su and set(vals) & PERSONAL_FIELDS:
            raise AccessError(
                _(
                    "Only Mail Sync itself makes an outgoing server someone's "
                    "personal server: connect the mailbox instead."
                )
            )

    # ------------------------------------------------------------------
    # The personal servers of synced mailboxes
    # ------------------------------------------------------------------
    @api.model
    def _mail_sync_personal_servers(self):
        """The active personal servers (sudo)."""
        # sudo: read-only: which servers are personal (a fixed domain), for the sending
        # code to keep everyone's mail but their owner's off them.
        return self.sudo().search([("owner_user_id", "!=", False)])

    @api.model
    def _mail_sync_values(self, account):
        profile = self.env["mail.sync.quota.override"]._profile_for(account)
        return {
            "name": _(
                "%(user)s's mailbox (%(email)s)",
                user=account.user_id.name,
                email=account.email,
            ),
            "owner_user_id": account.user_id.id,
            "mail_sync_account_id": account.id,
            "from_filter": email_normalize(account.email) or account.email,
            "smtp_host": (account.smtp_host or "").strip(),
            "smtp_port": account.smtp_port,
            # Same three values in Odoo 18 (ssl, starttls, none).
            "smtp_encryption": account.smtp_encryption,
            "smtp_authentication": "login",
            "smtp_user": account._mail_sync_smtp_login() or False,
            "smtp_pass": False,  # injected by connect() from the encrypted store
            "max_email_size": (profile.max_size_bytes or 0) / MB,
            "sequence": PERSONAL_SEQUENCE,
            "active": True,
        }

    @api.model
    def _mail_sync_upsert(self, accounts):
        """Create or update the personal server of each of ``accounts``."""
        # sudo: the personal server of each mailbox whose owner just connected it
        # (action_connect and mail.sync.oauth._finish checked the owner): values from
        # _mail_sync_values(), computed from the mailbox; Odoo's sudo() drops a client
        # context's default_* keys.
        servers = self.sudo().with_context(active_test=False)
        existing = servers.search([("mail_sync_account_id", "in", accounts.ids)])
        by_account = {server.mail_sync_account_id: server for server in existing}
        # sudo: read-only: those mailboxes' own settings, for _mail_sync_values().
        for account in accounts.sudo():
            values = self._mail_sync_values(account)
            if account in by_account:
                by_account[account].write(values)
            else:
                existing |= servers.create(values)
        return existing

    @api.model
    def _mail_sync_remove(self, accounts):
        """Remove the personal servers of ``accounts``."""
        # sudo: removing the personal servers of the mailboxes being disconnected
        # (action_disable checked the owner or an administrator), found by mailbox.
        self.sudo().with_context(active_test=False).search(
            [("mail_sync_account_id", "in", accounts.ids)]
        ).unlink()

    def _mail_sync_follow_size_limit(self, profile):
        """Odoo turns the record's attachments into links above the server's
        ``max_email_size``: keep it at the provider's limit (company overrides
        included)."""
        size = (profile.max_size_bytes or 0) / MB
        if self.max_email_size != size:
            # sudo: the size limit of the mailbox's own profile (the quota figures and
            # its company's override) on the server about to send the owner's entitled
            # mail.
            self.sudo().max_email_size = size

    def _mail_sync_is_allowed(self):
        """A personal server may be used by its owner, or when the sending code
        allowed it (``mail.mail`` does, for its owner's own mail only)."""
        self.ensure_one()
        return (
            self.id in allowed_server_ids(self.env.context)
            or self.owner_user_id.id == self.env.uid
        )

    def _mail_sync_refusal(self):
        """Why this personal server may not carry the mail being sent."""
        return _(
            "Not sent: the outgoing server %(server)s is %(owner)s's own mailbox; "
            "only mail that %(owner)s writes from %(email)s leaves through it. "
            "Send this mail without choosing that server.",
            server=self.name,
            owner=self.owner_user_id.name,
            email=self.from_filter,
        )

    def _mail_sync_open_connection(self):
        """A connected, encrypted (pinned when self-signed) and authenticated
        ``smtplib.SMTP`` to this personal server, with the mailbox's own
        settings. Raises a classified ``MailSyncError``."""
        self.ensure_one()
        # sudo: the mailbox of this personal server, whose own settings open its
        # session; callers: connect() after _mail_sync_is_allowed(), and the sending of
        # its owner's entitled mail (mail_mail._mail_sync_send).
        account = self.sudo().mail_sync_account_id
        # A missing or undecryptable password raises its own MailSyncError.
        settings = self.env["mail.sync.connector"]._smtp_settings(account)
        connection, _fingerprint = smtp_session.open_smtp(settings)
        return connection

    # ------------------------------------------------------------------
    # The sending route, as the composer tells it
    # ------------------------------------------------------------------
    @api.model
    def _mail_sync_sending_route(self, email_from):
        """One line telling the current user from which address and through
        which server mail they send now with ``email_from`` leaves: their
        mailbox's own SMTP server (Smart Mail, ``mail_mail.py``) or the
        company's server, and why not their mailbox."""
        # sudo: the current user's own mailbox and the servers Odoo would
        # choose among; only their names and addresses are shown.
        account = (
            self.env["mail.sync.account"]
            .sudo()
            .search([("user_id", "=", self.env.uid)], limit=1)
        )
        address = tools.email_normalize(email_from) or email_from or ""
        own = account and tools.email_normalize(account.email) == address
        sending = own and account.state in ("enabled", "error", "connection")
        if sending and account.email_proof:
            host = (account.smtp_host or "").strip()
            if account.state == "enabled":
                return self.env._(
                    "Leaves from %(address)s through your mailbox's own server "
                    "(%(host)s), within its sending limits.",
                    address=account.email,
                    host=host,
                )
            return self.env._(
                "Leaves from %(address)s through your mailbox's own server "
                "(%(host)s) once it works again: your mailbox is in %(state)s; "
                "the mail waits, it is never sent another way.",
                address=account.email,
                host=host,
                state=dict(account._fields["state"]._description_selection(self.env))[
                    account.state
                ],
            )
        # sudo: read-only: Odoo's own choice of server for the caller's address,
        # to tell them how a reply leaves; nothing is sent or written.
        server, sender = self.sudo()._find_mail_server(email_from)
        if server:
            route = self.env._(
                "Leaves from %(address)s through the company's server %(server)s "
                "(%(host)s)",
                address=sender,
                server=server.name,
                host=server.smtp_host,
            )
        else:
            route = self.env._(
                "Leaves from %(address)s through the company's outgoing server "
                "(%(host)s, Odoo's configuration)",
                address=sender,
                host=tools.config.get("smtp_server") or "localhost",
            )
        if own and account.state == "pending":
            why = self.env._(
                "your mailbox is Pending (your company's limit of synced mailboxes)"
            )
        elif sending:
            why = self.env._("your mailbox's address is not confirmed yet")
        elif account and account.state != "draft":
            why = self.env._(
                "this address is not your mailbox's (%(email)s)", email=account.email
            )
        else:
            why = self.env._("you have no connected mailbox")
        return self.env._("%(route)s: %(why)s.", route=route, why=why)

    # ------------------------------------------------------------------
    # Odoo's server choice and connection
    # ------------------------------------------------------------------
    def _find_mail_server(self, email_from, mail_servers=None):
        """Odoo's choice among the company servers and the allowed personal
        servers only: nobody else's mail ever goes through a personal server,
        not even as the last-resort fallback."""
        if mail_servers is None:
            # sudo: read-only: every server, as Odoo's own _find_mail_server searches;
            # the personal ones the sending code did not allow are dropped below.
            mail_servers = self.sudo().search([], order="sequence")
        allowed = allowed_server_ids(self.env.context)
        mail_servers = mail_servers.filtered(
            lambda server: not server.owner_user_id or server.id in allowed
        )
        return super()._find_mail_server(email_from, mail_servers=mail_servers)

    # Not for RPC: Odoo's connect() and send_email() are public methods that
    # connect to the host and port given as arguments, with no access check: any
    # internal user's call_kw made Odoo connect anywhere (loopback services, the
    # private network, the metadata service), past the host policy of mail
    # servers (``lib/net/host_policy.py``), telling closed, silent and talking ports
    # apart. No client has a use for them (neither result is JSON): Odoo's own
    # code and the addon's call them in Python, as before; the Test Connection
    # button is test_smtp_connection().
    @api.private
    @api.model
    def send_email(self, message, *args, **kwargs):
        return super().send_email(message, *args, **kwargs)

    @api.private
    def connect(
        self,
        host=None,
        port=None,
        user=None,
        password=None,
        encryption=None,
        smtp_from=None,
        ssl_certificate=None,
        ssl_private_key=None,
        smtp_debug=False,
        mail_server_id=None,
        allow_archived=False,
    ):
        """Personal servers connect with their mailbox's settings: encrypted
        password, pinned certificate, timeout; and only when allowed."""
        # sudo: connect() is public (RPC): mail_server_id may be a caller's. The server
        # is read only to see whose it is; a personal one connects only when
        # _mail_sync_is_allowed() (its owner, or an entitlement no client can carry).
        server = self.sudo().browse(mail_server_id) if mail_server_id else None
        if server is None and not host and allowed_server_ids(self.env.context):
            # sudo: read-only: Odoo's choice among the servers the context's entitlement
            # allows (an _Entitlement, made by the addon's sending code only, never a
            # client's value).
            server, smtp_from = self.sudo()._find_mail_server(smtp_from)
        if not server or not server.owner_user_id:
            return super().connect(
                host=host,
                port=port,
                user=user,
                password=password,
                encryption=encryption,
                smtp_from=smtp_from,
                ssl_certificate=ssl_certificate,
                ssl_private_key=ssl_private_key,
                smtp_debug=smtp_debug,
                mail_server_id=server.id if server else mail_server_id,
                allow_archived=allow_archived,
            )
        if not server._mail_sync_is_allowed():
            raise UserError(server._mail_sync_refusal())
        # Do not actually connect while running in test mode (as Odoo does).
        if modules.module.current_test:
            return None
        if not allow_archived and not server.active:
            raise UserError(
                _(
                    'The server "%(server)s" cannot be used because it is archived.',
                    server=server.display_name,
                )
            )
        try:
            connection = server._mail_sync_open_connection()
        except errors.MailSyncError as err:
            message, hint = server.mail_sync_account_id._describe(err)
            raise UserError(
                _("%(message)s\n\nHow to fix it: %(hint)s", message=message, hint=hint)
            ) from err
        connection.from_filter = server.from_filter
        connection.smtp_from = smtp_from
        return connection
