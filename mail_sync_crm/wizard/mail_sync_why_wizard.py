# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Why is this email not here? From a lead, a salesperson gives an address or a
subject and reads the answer the sync would give (``lib.sync.explain``).

The wizard gathers the facts: the user's own mailboxes and their states, an
IMAP SEARCH of their connected ones (Inbox and Sent, bounded by a deadline:
``lib.imap.question``), the ledger rows of what it found (on the leads the user
may read), the moves off this lead, the held messages, the blocklist entry
blocking each address. Only the user's own mailboxes are searched; of other
mailboxes' mail it says no more than the lead's chatter shows them."""

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools.misc import format_datetime

from ..lib import errors
from ..lib.imap import question
from ..lib.imap import session as imap_session
from ..lib.message.addresses import normalize
from ..lib.net.deadline import Deadline
from ..lib.privacy.blocklist import blocking_entry
from ..lib.sync import explain, noise, skip_reasons
from ..lib.timeutil import naive_utc
from ..superuser import addon_sudo

# The whole search of a question, all of the user's mailboxes: a user waits.
SEARCH_SECONDS = 20


class MailSyncWhyWizard(models.TransientModel):
    _name = "mail.sync.why.wizard"
    _description = "Why Is This Email Not Here?"

    lead_id = fields.Many2one("crm.lead", required=True, readonly=True)
    question = fields.Char(
        string="Address or Subject",
        help="The email address the email was exchanged with, or words of its subject.",
    )
    asked = fields.Boolean(readonly=True)
    finding_ids = fields.One2many(
        "mail.sync.why.finding", "wizard_id", string="Answer", readonly=True
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        lead = self.env["crm.lead"].browse(values.get("lead_id"))
        if lead and "question" in fields_list and not values.get("question"):
            values["question"] = lead.email_normalized or False
        return values

    def action_ask(self):
        """Answer the question, then show the wizard again with the findings."""
        self.ensure_one()
        text = (self.question or "").strip()
        if not text:
            raise UserError(_("Give an email address or words of the subject."))
        lead = self.lead_id
        lead.check_access("read")
        facts = self._mail_sync_facts(lead, text)
        self.finding_ids.unlink()
        self.write(
            {
                "asked": True,
                "finding_ids": [
                    fields.Command.create(values)
                    for values in self._mail_sync_lines(explain.explain(facts))
                ],
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [[False, "form"]],
            "target": "new",
            "name": _("Why is this email not here?"),
        }

    # -- the facts -------------------------------------------------------------
    def _mail_sync_facts(self, lead, text):
        address = normalize(text) if "@" in text else None
        subject = None if address else text
        mailboxes = self.env["mail.sync.account"].search(
            [("user_id", "=", self.env.uid)]
        )
        held = self.env["mail.sync.failed.message"].search(
            [("account_id", "in", mailboxes.ids)]
        )
        lead_facts = self._mail_sync_lead(lead)
        company = lead.company_id or self.env.company
        found, searched, failed = self._mail_sync_search(
            mailboxes,
            held,
            address,
            subject,
            lead_facts.addresses,
            company._mail_sync_noise_rules(),
        )
        keys = {message.email.key for message in found}
        return explain.Facts(
            lead=lead_facts,
            mailboxes=tuple(
                explain.Mailbox(
                    m.id,
                    m.email or "",
                    m.state,
                    m.connected_date,
                    m.last_error or "",
                )
                for m in mailboxes
            ),
            recorded=self._mail_sync_recorded(lead, keys, address, subject),
            moved=self._mail_sync_moved(lead, keys),
            held=self._mail_sync_held(held, address or subject),
            found=tuple(found),
            searched=tuple(searched),
            search_failed=failed,
            blocked=self._mail_sync_blocked(lead, found),
            past_mail=self._mail_sync_past_mail(lead),
        )

    def _mail_sync_lead(self, lead):
        # sudo: read-only: the creation date and addresses of the lead the caller may
        # read (check_access in action_ask), as the sync's lead index reads them.
        record = addon_sudo(lead)
        addresses = {record.email_normalized, record.partner_id.email_normalized}
        return explain.Lead(
            lead.id,
            lead.display_name,
            record.create_date.replace(microsecond=0),
            frozenset(a for a in addresses if a),
        )

    def _mail_sync_past_mail(self, lead):
        """The company's "Find past emails" setting, the seed's rule (off)
        where it does not exist."""
        company = lead.company_id or self.env.company
        if "mail_sync_past_mail" in company._fields:
            return company.mail_sync_past_mail or explain.PAST_OFF
        return explain.PAST_OFF

    def _mail_sync_search(self, mailboxes, held, address, subject, lead, rules):
        """The messages an IMAP SEARCH finds in the user's connected mailboxes'
        folders, each with the noise rule of ``rules`` that keeps it out (a
        list message to one of the ``lead`` addresses is not noise), the
        mailboxes searched, {mailbox: error} of those that failed. The ``held``
        messages are left out (the server fails on them)."""
        deadline = Deadline(SEARCH_SECONDS, code="timeout")
        found, searched, failed = [], [], {}
        for mailbox in mailboxes.filtered(lambda m: m.state in explain.CONNECTED):
            folders = {f.name: f for f in mailbox.folder_ids}
            if not folders:
                continue
            unreadable = {}
            for row in held.filtered(lambda r, m=mailbox: r.account_id == m):
                unreadable.setdefault(row.folder, {}).setdefault(
                    row.uidvalidity, set()
                ).add(row.uid)
            try:
                if deadline.expired:
                    raise deadline.error()
                # sudo: the caller's own mailbox (searched among user_id = the caller):
                # its server settings with the secret, for this search only.
                settings = self._mail_sync_settings(addon_sudo(mailbox))
                with imap_session.ImapSession(settings, deadline=deadline) as session:
                    answers = question.search_folders(
                        session,
                        list(folders),
                        address=address,
                        subject=subject,
                        held=unreadable,
                    )
            except errors.MailSyncError as err:
                message, _hint = errors.describe(
                    err, translate=lambda text: self.env._(text)
                )  # pylint: disable=translation-required
                failed[mailbox.id] = message
                continue
            searched.append(mailbox.id)
            for answer in answers:
                folder = folders[answer.folder]
                for header in answer.headers:
                    found.append(
                        explain.ServerMessage(
                            explain.Email(
                                header.message_id,
                                header.subject or "",
                                naive_utc(header.date),
                            ),
                            mailbox.id,
                            folder.name,
                            folder.direction,
                            header.uid,
                            from_=tuple(header.from_),
                            recipients=tuple(header.to + header.cc + header.bcc),
                            noise=noise.classify(
                                header,
                                rules,
                                to_lead=bool(lead.intersection(header.to + header.cc)),
                            ),
                            beyond_checkpoint=answer.uidvalidity != folder.uidvalidity
                            or header.uid > folder.last_uid,
                        )
                    )
        return found, searched, failed

    @api.model
    def _mail_sync_settings(self, mailbox):
        """The IMAP settings of ``mailbox`` (the sync's own builder)."""
        return mailbox.env["mail.sync.connector"]._imap_settings(mailbox)

    def _mail_sync_recorded(self, lead, keys, address, subject):
        """Ledger rows of the emails found (on leads the user may read), and of
        the emails on this lead that match the question."""
        if address:
            match = expression.OR(
                [
                    [("email_to", "ilike", address)],
                    [("email_cc", "ilike", address)],
                    [("mail_message_id.email_from", "ilike", address)],
                ]
            )
        else:
            match = [("subject", "ilike", subject)]
        domain = expression.OR(
            [
                [("message_id", "in", list(keys))],
                expression.AND([[("lead_id", "=", lead.id)], match]),
            ]
        )
        # sudo: read-only: the ledger rows of the emails this user's own mailboxes hold
        # (their Message-IDs, found above) and of this lead (which the caller may
        # read); only rows on leads the caller may read are kept below, with the
        # ledger's subject (empty where colleagues may not read it).
        rows = addon_sudo(self.env["mail.sync.message"]).search(domain)
        readable = self.env["crm.lead"].search([("id", "in", rows.lead_id.ids)])
        result = []
        for row in rows.filtered(lambda r: r.lead_id in readable):
            key = row.mail_message_id.message_id or row.message_id.split("#")[0]
            result.append(
                explain.Recorded(
                    explain.Email(key, row.subject or "", row.date),
                    row.lead_id.id,
                    row.lead_id.display_name,
                )
            )
        return tuple(result)

    def _mail_sync_moved(self, lead, keys):
        domain = [("lead_id", "=", lead.id), ("message_id", "in", list(keys))]
        # sudo: read-only: the moves off this lead (which the caller may read) of the
        # emails found in their own mailboxes: a target lead's name only when the
        # caller may read it.
        rows = addon_sudo(self.env["mail.sync.moved"]).search(domain)
        readable = self.env["crm.lead"].search([("id", "in", rows.target_lead_id.ids)])
        return tuple(
            explain.Moved(
                explain.Email(row.message_id),
                row.target_lead_id.display_name
                if row.target_lead_id in readable
                else _("another lead"),
            )
            for row in rows
        )

    def _mail_sync_held(self, rows, text):
        """The held messages of the user's mailboxes (``rows``) that may be the
        one asked about: their sender or subject holds ``text``, or neither is
        known (the server failed before they could be read)."""
        text = text.lower()
        result = []
        for row in rows:
            known = f"{row.sender or ''} {row.subject or ''}".strip().lower()
            if known and text not in known:
                continue
            result.append(
                explain.Held(
                    explain.Email(f"held-{row.id}", row.subject or "", row.date),
                    row.account_id.id,
                    row.folder,
                    row.uid,
                    row.attempts,
                    given_up=row.state == "skipped",
                )
            )
        return tuple(result)

    def _mail_sync_blocked(self, lead, found):
        """{address: (kind, entry)} of the lead's addresses among the found
        messages' that a blocklist entry of the user's (or the company's) blocks."""
        company = lead.company_id or self.env.company
        # sudo: read-only: the blocklist entries that apply to the caller's own
        # mailboxes (their own and the company's), as the sync reads them.
        entries = addon_sudo(self.env["mail.sync.blocklist"]).search(
            [("company_id", "=", company.id), ("user_id", "in", (False, self.env.uid))]
        )
        values = entries.mapped("value")
        own = company._mail_sync_own_domains()
        addresses = {normalize(a) for m in found for a in (*m.from_, *m.recipients)} - {
            None
        }
        blocked = {}
        for address in addresses:
            entry = blocking_entry(address, values, own)
            if entry:
                blocked[address] = entry
        return blocked

    # -- the answer --------------------------------------------------------------
    def _mail_sync_labels(self):
        """{code: what it means} in the user's language."""
        return {
            explain.RECORDED: self.env._("It is on this lead."),
            explain.MOVED: self.env._("Its owner moved it off this lead, to: %s"),
            explain.NO_MAILBOX: self.env._("You have no mailbox connected to Odoo."),
            explain.MAILBOX_ERROR: self.env._(
                "Your mailbox %(mailbox)s is in Error: %(detail)s"
            ),
            explain.MAILBOX_DISCONNECTED: self.env._(
                "Your mailbox %(mailbox)s is not connected: nothing is synced from it."
            ),
            explain.HELD: self.env._(
                "Held back: the server failed to deliver it; the sync tries again."
            ),
            skip_reasons.NO_LEAD: self.env._(
                "None of its addresses is this lead's (in the Inbox the sender counts, "
                "in Sent the recipients)."
            ),
            skip_reasons.BLOCKLISTED: self.env._("Blocklisted by the entry %s."),
            skip_reasons.OWN_DOMAIN: self.env._(
                "Only addresses of the company's own domain (%s): it is internal mail."
            ),
            skip_reasons.MAILING_LIST: self.env._("Skipped as mailing-list mail."),
            skip_reasons.AUTOMATED: self.env._(
                "Skipped as automated mail (Auto-Submitted)."
            ),
            skip_reasons.ROLE_SENDER: self.env._(
                "Skipped: sent by a role address (no-reply, notifications, ...)."
            ),
            skip_reasons.BEFORE_LEAD: self.env._(
                "Dated before this lead was created, after your mailbox was "
                "connected: past emails of new leads are not fetched."
            ),
            explain.NOT_YET_SYNCED: self.env._(
                "Found in your mailbox, not synced yet: the next sync records it."
            ),
            explain.PASSED_EARLIER: self.env._(
                "Your mailbox's sync passed it when it was not to be recorded (the "
                "lead had another address, or a setting was different then); the "
                "sync does not go back."
            ),
            explain.SEARCH_FAILED: self.env._(
                "Your mailbox %(mailbox)s could not be searched: %(detail)s"
            ),
            explain.NOT_FOUND: self.env._(
                "Not found in the Inbox or Sent folder of your connected mailboxes "
                "(%s)."
            ),
        }

    def _mail_sync_advice(self):
        """{action code: what to do} in the user's language."""
        return {
            explain.DO_NOTHING: self.env._("Nothing to do."),
            explain.DO_OPEN_LEAD: self.env._(
                "Look for it on that lead (its owner can move it back)."
            ),
            explain.DO_CONNECT: self.env._("Connect your mailbox (My Mailbox)."),
            explain.DO_RECONNECT: self.env._("Reconnect the mailbox (My Mailbox)."),
            explain.DO_SYNC_NOW: self.env._(
                "Wait for the next sync, or press Sync Now on your mailbox."
            ),
            explain.DO_READ_HISTORY: self.env._(
                "Disconnect and reconnect your mailbox (keeping its emails): it "
                "reads its history again, nothing twice."
            ),
            explain.DO_FIND_PAST: self.env._('Press "Find past emails" on this lead.'),
            explain.DO_ASK_PAST: self.env._(
                'Ask an administrator to turn on "Find past emails" (Settings), or '
                "reconnect your mailbox to read its history again."
            ),
            explain.DO_UNBLOCK: self.env._(
                "Remove the blocklist entry (CRM > Configuration > Blocklist)."
            ),
            explain.DO_OWN_DOMAIN: self.env._(
                'Ask an administrator to turn off "Block own domain" if this mail '
                "belongs on leads."
            ),
            explain.DO_NOISE_RULE: self.env._(
                "Ask an administrator to turn off this rule in the Mail Sync settings."
            ),
            explain.DO_ADD_ADDRESS: self.env._(
                "Give this lead (or its contact) the address the email was "
                "exchanged with."
            ),
            explain.DO_CHECK_QUESTION: self.env._(
                "Check the address or subject; the email may be in another folder or "
                "in a colleague's mailbox."
            ),
        }

    def _mail_sync_lines(self, findings):
        labels, advice = self._mail_sync_labels(), self._mail_sync_advice()
        lines = []
        for sequence, finding in enumerate(findings):
            mailbox = ", ".join(m.email for m in finding.mailboxes)
            label = labels[finding.code]
            if "%(" in label:
                label = label % {"mailbox": mailbox, "detail": finding.detail}
            elif "%s" in label:
                label = label % (
                    mailbox if finding.code == explain.NOT_FOUND else finding.detail
                )
            if finding.code == skip_reasons.NO_LEAD and finding.detail:
                label += " " + _("It is on: %s.", finding.detail)
            emails = "\n".join(
                " · ".join(
                    part
                    for part in (
                        format_datetime(self.env, e.date, dt_format="medium")
                        if e.date
                        else "",
                        e.subject or _("(no subject)"),
                    )
                    if part
                )
                for e in finding.emails[:10]
            )
            if finding.count > 10:
                emails += "\n" + _("... and %s more", finding.count - 10)
            lines.append(
                {
                    "sequence": sequence,
                    "code": finding.code,
                    "label": label,
                    "advice": advice[finding.action],
                    "emails": emails,
                    "count": finding.count,
                }
            )
        return lines


class MailSyncWhyFinding(models.TransientModel):
    _name = "mail.sync.why.finding"
    _description = "Why Is This Email Not Here? (One Finding)"
    _order = "sequence, id"

    wizard_id = fields.Many2one(
        "mail.sync.why.wizard", required=True, ondelete="cascade"
    )
    sequence = fields.Integer()
    code = fields.Char(
        readonly=True, help="lib/sync/skip_reasons.py or lib/sync/explain.py"
    )
    label = fields.Char(string="Finding", readonly=True)
    advice = fields.Char(string="What To Do", readonly=True)
    emails = fields.Text(string="Which Emails", readonly=True)
    count = fields.Integer(string="Emails", readonly=True)
