# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Past mail for leads added later: a request per (lead, address), processed
in the background.

A lead created after a mailbox was connected gets from the turn only the mail
dated from its creation on (``MailSyncStore.allowed_leads``, the seed's rule,
kept by the turn whatever the setting). Its past comes from a request: when a
lead or opportunity gets an address (created with one, its email or contact
changed) and its company's "Past emails of new leads" is Automatic, or when a
salesperson who may write the lead presses "Find past emails", a request is
queued and the scheduled action "Mail Sync: find past emails" is triggered
for after the commit: no IMAP work in the user's request.

The action takes the requests one by one, and for each, its company's
connected mailboxes one at a time, each under the mailbox's own lock (the one
``mail.sync.scheduler`` takes for its turn: a mailbox is never read by its turn
and a request at once; a busy mailbox is tried again at the next run), with the
IMAP settings its turn gets (``mail.sync.connector``) and a turn's deadline
(``mail.sync.turn``). Each mailbox's Inbox and Sent are
searched for the address on the server (``lib.sync.past_mail``), at most
``mail_sync_crm.past_mail_limit`` messages per folder (500), and what they hold
for the lead goes through the turn's matching and ledger (exactly once,
whoever finds a message), in date order, within a turn's deadline; no
checkpoint moves. Each written chunk is committed: the lead shows its first
emails while the rest is fetched.

A service-like model: users reach it only through the lead (its state and
count on the form, the button); every method is private.
"""

import logging

from odoo import api, fields, models
from odoo.tools import email_normalize

from ..lib import errors
from ..lib.imap.session import ImapSession
from ..lib.net.deadline import Deadline
from ..lib.sync import past_mail
from ..lib.sync.store import FolderState
from ..store import MailSyncStore, claims
from .mail_sync_scheduler import auto_commit

_logger = logging.getLogger(__name__)

LIMIT_PARAM = "mail_sync_crm.past_mail_limit"
# Seconds of work per run of the scheduled action; the rest is left to the
# next run, triggered at once.
RUN_BUDGET = 240
# A mailbox busy with its turn is tried again this many seconds later.
BUSY_RETRY_SECONDS = 30
PAST_MAIL_MODES = [
    ("auto", "Automatic"),
    ("on_request", "On request only"),
    ("off", "Off"),
]


class MailSyncHistoryRequest(models.Model):
    _name = "mail.sync.history.request"
    _description = "Mail Sync Past Emails Request"
    _order = "id"

    lead_id = fields.Many2one(
        "crm.lead", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        readonly=True,
        help="Whose connected mailboxes are searched: the lead's company, or the "
        "requester's for a lead without one.",
    )
    address = fields.Char(required=True, readonly=True)
    requested_by = fields.Many2one("res.users", readonly=True)
    trigger = fields.Selection(
        [("auto", "New address"), ("button", "Find past emails")],
        required=True,
        default="auto",
        readonly=True,
    )
    state = fields.Selection(
        [
            ("queued", "Queued"),
            ("running", "Running"),
            ("done", "Done"),
            ("failed", "Failed"),
        ],
        required=True,
        default="queued",
        readonly=True,
        index=True,
    )
    done_account_ids = fields.Many2many(
        "mail.sync.account",
        string="Mailboxes Searched",
        readonly=True,
        help="The mailboxes this request searched (or failed on): not searched again.",
    )
    failed_count = fields.Integer(string="Mailboxes Failed", readonly=True)
    found_count = fields.Integer(
        string="Emails Found",
        readonly=True,
        help="Emails of this address the searched mailboxes hold for the lead.",
    )
    recorded_count = fields.Integer(
        string="Emails Added",
        readonly=True,
        help="Of them, the emails added to the lead by this request (the others "
        "were on it already).",
    )
    date_done = fields.Datetime(readonly=True)

    # ------------------------------------------------------------------
    # Queueing (from the lead)
    # ------------------------------------------------------------------
    @api.model
    def _queue(self, leads, trigger="auto", only=None):
        """Queue a request for each address of ``leads`` (their own and their
        contact's; ``only``: {lead id: addresses}, those of them) that has none
        queued or running, and trigger the scheduled action for after this
        transaction. The caller checked that the user may write ``leads``
        (in the caller's environment: a lead without company is searched in the
        caller's current company); returns the requests queued now."""
        values, searched = [], {}
        for lead in leads:
            company = lead.company_id or leads.env.company
            if company.mail_sync_past_mail == "off":
                continue
            if trigger == "auto" and company.mail_sync_past_mail != "auto":
                continue
            if company not in searched:
                searched[company] = bool(self._connected_mailboxes(company))
            if not searched[company]:
                continue
            addresses = {
                address
                for address in (
                    lead.email_normalized,
                    email_normalize(lead.partner_id.email or ""),
                )
                if address and (only is None or address in only.get(lead.id, ()))
            }
            pending = self.search(
                [
                    ("lead_id", "=", lead.id),
                    ("state", "in", ("queued", "running")),
                    ("address", "in", list(addresses)),
                ]
            ).mapped("address")
            values += [
                {
                    "lead_id": lead.id,
                    "company_id": company.id,
                    "address": address,
                    "trigger": trigger,
                    "requested_by": self.env.uid,
                }
                for address in sorted(addresses - set(pending))
            ]
        requests = self.create(values)
        if requests:
            self.env.ref("mail_sync_crm.ir_cron_mail_sync_past_mail")._trigger()
        return requests

    @api.model
    def _connected_mailboxes(self, company):
        """The mailboxes of ``company`` whose turn runs (Enabled or Error, not
        backing off after refused logins)."""
        now = fields.Datetime.now()
        return (
            self.env["mail.sync.account"]
            .search(
                [("company_id", "=", company.id), ("state", "in", ("enabled", "error"))]
            )
            .filtered(lambda a: not a.next_attempt_date or a.next_attempt_date <= now)
        )

    # ------------------------------------------------------------------
    # The scheduled action
    # ------------------------------------------------------------------
    @api.model
    def _cron_find_past_mail(self):
        """Process the queued requests, oldest first, within the run's budget;
        what is left (a busy mailbox, the budget spent) is for the next run,
        triggered here."""
        commit = auto_commit()
        started = fields.Datetime.now()
        retry_at = None
        for request in self.search([("state", "in", ("queued", "running"))]):
            if (fields.Datetime.now() - started).total_seconds() > RUN_BUDGET:
                retry_at = fields.Datetime.now()
                break
            try:
                finished = request._process(commit)
            except Exception:
                if not commit:
                    raise
                # A bug, not a server: logged, and the lead stops saying it is
                # looking (what was committed stays on it).
                _logger.exception(
                    "mail_sync_crm: the search for the past emails of lead %s failed",
                    request.lead_id.id,
                )
                self.env.cr.rollback()
                self.env.invalidate_all()
                request.write({"state": "failed", "date_done": fields.Datetime.now()})
                self.env.cr.commit()  # pylint: disable=invalid-commit
                continue
            if not finished:
                retry_at = fields.Datetime.add(
                    fields.Datetime.now(), seconds=BUSY_RETRY_SECONDS
                )
        if retry_at:
            self.env.ref("mail_sync_crm.ir_cron_mail_sync_past_mail")._trigger(retry_at)

    def _process(self, commit):
        """Search this request's mailboxes not searched yet; True when it is
        finished (done or failed), False when a mailbox was busy."""
        self.ensure_one()
        company = self.company_id
        lead = self.lead_id
        if company.mail_sync_past_mail == "off" or not lead.active:
            self._finish()
            if commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
            return True
        self.state = "running"
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # it shows
        busy = False
        for account in self._connected_mailboxes(company) - self.done_account_ids:
            outcome = self._search_mailbox(account, commit)
            if outcome == claims.BUSY:
                busy = True
                continue
            values = {"done_account_ids": [fields.Command.link(account.id)]}
            if isinstance(outcome, errors.MailSyncError):
                values["failed_count"] = self.failed_count + 1
            self.write(values)
            if commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        if busy:
            self.state = "queued"
            if commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
            return False
        self._finish()
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return True

    def _finish(self):
        searched = len(self.done_account_ids)
        failed = searched and self.failed_count >= searched
        self.write(
            {
                "state": "failed" if failed else "done",
                "date_done": fields.Datetime.now(),
            }
        )
        self.lead_id._mail_sync_past_mail_notify(self)

    def _search_mailbox(self, account, commit):
        """This request's search of ``account``, under the mailbox's lock:
        None when done, the ``MailSyncError`` it failed with, or
        ``claims.BUSY`` when the mailbox is being synced."""
        Scheduler = self.env["mail.sync.scheduler"]
        if not Scheduler._try_lock(account):
            return claims.BUSY
        try:
            if commit:
                # a snapshot taken after the lock: what the turn committed
                self.env.cr.commit()  # pylint: disable=invalid-commit
            for _attempt in range(3):
                try:
                    self._search_locked(account, commit)
                    return None
                except errors.MailSyncError as err:
                    _logger.info(
                        "mail_sync_crm: past emails of lead %s in mailbox %s: %s",
                        self.lead_id.id,
                        account.id,
                        err.code,
                    )
                    if commit:
                        self.env.cr.rollback()  # what was written is committed
                        self.env.invalidate_all()
                    return err
                except Exception as exc:
                    # Another mailbox's turn recorded the same email on this
                    # lead at the same moment (store/claims.py): redone in a new
                    # transaction, which sees it.
                    if not (commit and claims.is_conflict(exc)):
                        raise
                    self.env.cr.rollback()
                    self.env.invalidate_all()
            return claims.BUSY
        finally:
            Scheduler._unlock(account)

    def _search_locked(self, account, commit):
        store = MailSyncStore(account, auto_commit=False)
        index = store.lead_index()
        index.look_up([self.address])  # the lead's contact too, for the author
        lead = self.lead_id.id
        if lead not in (index.get(self.address) or ()):
            return  # the lead no longer has this address (or another company's)
        blocked = self.env["mail.sync.blocklist"]._blocklist_for(
            account.user_id, account.company_id
        )
        if blocked.blocks(self.address):
            return  # nothing of it would be recorded: the server is not asked
        folders = [
            FolderState(folder.name, folder.direction)
            for folder in account.folder_ids.sorted("direction")
        ]
        found = self.found_count
        before = self.recorded_count - self._introduced(account)

        def written(_outcome):
            # What this mailbox introduced on the lead since the search began
            # (its turn cannot run meanwhile): a copy of an email another
            # mailbox put there is not counted.
            first = not self.recorded_count
            self.recorded_count = before + self._introduced(account)
            if first and self.recorded_count:  # the first emails show now
                self.lead_id._mail_sync_past_mail_refresh(self)
            if commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit  # shows now

        deadline = Deadline(self.env["mail.sync.turn"]._turn_seconds())
        settings = self.env["mail.sync.connector"]._imap_settings(account)
        with ImapSession(settings, deadline=deadline) as session:
            outcome = past_mail.find_past_mail(
                session,
                folders,
                store,
                lead,
                self.address,
                blocked,
                attachment_cap=account.company_id.mail_sync_attachment_cap_bytes,
                limit=self._limit(),
                deadline=deadline,
                noise_rules=account.company_id._mail_sync_noise_rules(),
                written=written,
            )
        self.found_count = found + outcome.matched

    def _introduced(self, account):
        """The chatter messages ``account`` wrote on this request's lead."""
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            """SELECT COUNT(*) FROM mail_sync_message
                WHERE lead_id = %s AND account_id = %s AND introduced""",
            [self.lead_id.id, account.id],
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _limit(self):
        # sudo: read-only: a system parameter of a fixed name.
        value = self.env["ir.config_parameter"].sudo().get_param(LIMIT_PARAM, "")
        try:
            limit = int(value)
        except ValueError:
            limit = 0
        return limit if limit > 0 else past_mail.SEARCH_LIMIT
