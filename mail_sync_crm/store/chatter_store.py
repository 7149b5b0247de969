# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The Odoo side of a sync run: the store ``lib.sync.engine`` writes through
(``lib.sync.store.SyncStore``). It reads the lead index, checks the ledger, and
writes chatter messages, ledger rows and checkpoints."""

import re
from collections import defaultdict
from dataclasses import dataclass

import psycopg2.extras
from markupsafe import Markup

from odoo import fields
from odoo.tools import SQL
from odoo.tools.mail import formataddr

from odoo.addons.mail.models.mail_message import _image_dataurl

from ..lib.sync.store import SyncStore
from ..lib.timeutil import naive_utc
from . import claims, new_emails
from .held_messages import HeldMessages
from .lead_index import LeadIndex

# The ledger columns written by one INSERT (the related stored fields user_id,
# company_id, stage_id and lead_type are filled from the mailbox and the lead).
_LEDGER_INSERT = """
    INSERT INTO mail_sync_message (
        account_id, user_id, company_id, message_id, folder, uid, direction, date,
        subject, lead_id, stage_id, lead_type, mail_message_id, introduced,
        email_to, email_cc, in_reply_to, "references", content_fingerprint, size,
        create_uid, create_date, write_uid, write_date)
    SELECT v.account_id, %(user)s, %(company)s, v.message_id, v.folder, v.uid,
           v.direction, v.date, v.subject, v.lead_id, l.stage_id, l.type,
           v.mail_message_id, v.introduced, v.email_to, v.email_cc, v.in_reply_to,
           v.refs, v.fingerprint, v.size, %(uid)s, %(now)s, %(uid)s, %(now)s
      FROM (VALUES %%s) AS v(account_id, message_id, folder, uid, direction, date,
                             subject, lead_id, mail_message_id, introduced,
                             email_to, email_cc, in_reply_to, refs, fingerprint,
                             size)
 LEFT JOIN crm_lead l ON l.id = v.lead_id
"""
_LEDGER_TEMPLATE = (
    "(%(account_id)s, %(message_id)s, %(folder)s, %(uid)s::int, %(direction)s, "
    "%(date)s::timestamp, %(subject)s, %(lead_id)s::int, %(mail_message_id)s::int, "
    "%(introduced)s::bool, %(email_to)s, %(email_cc)s, %(in_reply_to)s, "
    "%(references)s, %(fingerprint)s, %(size)s::int)"
)
# An <img> whose source is an inline part of the email (``cid:<Content-ID>``).
_CID_SRC = re.compile(
    r"""(<img\b[^>]*?\bsrc\s*=\s*)(["']?)cid:([^"'\s>]+)\2""", re.IGNORECASE
)


def _sender(header, message):
    """The sender as the chatter names it: "Alice Martin <alice@...>" (the From
    header's display name) when there is one, else the bare address."""
    if not header.from_:
        return False
    if message.from_name:
        return formataddr((message.from_name, header.from_[0]))
    return header.from_[0]


@dataclass(frozen=True)
class _Row:
    """A ledger row of a chatter message already on a lead."""

    account: int
    key: str  # the row's message_id: the Message-ID, or a variant's key
    fingerprint: str | None
    size: int | None


def variant_key(message_id, fingerprint):
    """The ledger key of an email reusing the Message-ID of another one on the
    same lead but saying something else (the chatter message keeps the real
    Message-ID)."""
    return f"{message_id}#{fingerprint[:20]}"


def _inline_indexes(message):
    """The indexes of the attachments ``message``'s HTML body shows inline."""
    if message.body_is_text or not message.inline_cids:
        return set()
    used = {m.group(3).lower() for m in _CID_SRC.finditer(message.body_html or "")}
    return {i for cid, i in message.inline_cids.items() if cid.lower() in used}


def _link_inline_images(body, inline):
    """``body`` with each ``cid:`` image pointing at its attachment
    (``/web/image/<id>?access_token=...``, as Odoo's mail gateway does in
    ``_process_attachments_for_post``); an image whose part was left out keeps
    its ``cid:`` source."""
    if not inline or "cid:" not in body.lower():
        return body
    by_cid = {cid.lower(): value for cid, value in inline.items()}

    def link(match):
        found = by_cid.get(match.group(3).lower())
        if found is None:
            return match.group(0)
        attachment, token = found
        quote = match.group(2) or '"'
        url = f"/web/image/{attachment}?access_token={token}"
        return f"{match.group(1)}{quote}{url}{quote}"

    return _CID_SRC.sub(link, body)


def _fingerprinted(rows):
    """Whether a chatter message's ledger rows say what its content is."""
    return any(row.fingerprint for row in rows)


def _format_size(size):
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, size // 1024)} KB"


class MailSyncStore(HeldMessages, SyncStore):
    """One mailbox's sync run, on the mailbox's environment; ``auto_commit``
    commits after each checkpoint (the cron), never under test."""

    def __init__(self, account, auto_commit):
        self.account = account
        self.env = account.env
        self.auto_commit = auto_commit
        self.connected = account.connected_date or fields.Datetime.now()
        self.lead_created = {}
        self.lead_partner = {}
        self.subtype = self.env.ref("mail_sync_crm.mt_synced_email")

    # -- reading --------------------------------------------------------------
    def lead_index(self):
        """Normalised email -> lead ids, from the leads' and their partners'
        addresses, in one query (run when the index is first consulted)."""
        return LeadIndex(self._load_lead_index)

    def _load_lead_index(self, addresses=None):
        """The index of the leads having one of ``addresses`` (all leads for
        None), noting each lead's creation date and partner."""
        self.env["crm.lead"].flush_model(["email_normalized", "partner_id", "active"])
        self.env["res.partner"].flush_model(["email_normalized"])
        if addresses is None:
            wanted = SQL(
                "l.email_normalized IS NOT NULL OR p.email_normalized IS NOT NULL"
            )
        else:
            # Two exact lookups (btree indexes on both columns, added by this
            # addon): the lead's own address, and its contact's. ARRAY(...) is
            # evaluated first, so the leads are then read by id (an IN would be
            # planned for thousands of ids and scan the table).
            emails = sorted(addresses)
            wanted = SQL(
                """l.id = ANY(ARRAY(
                        SELECT id FROM crm_lead WHERE email_normalized = ANY(%s)
                         UNION
                        SELECT lead.id FROM crm_lead lead
                          JOIN res_partner contact ON contact.id = lead.partner_id
                         WHERE contact.email_normalized = ANY(%s)))""",
                emails,
                emails,
            )
        self.env.cr.execute(
            SQL(
                """
            SELECT l.id, l.email_normalized, p.email_normalized, l.create_date,
                   l.partner_id
              FROM crm_lead l
         LEFT JOIN res_partner p ON p.id = l.partner_id
             WHERE l.active
               AND (l.company_id IS NULL OR l.company_id = %s)
               AND (%s)
            """,
                self.account.company_id.id,
                wanted,
            )
        )
        index = defaultdict(set)
        for lead, email, partner_email, created, partner in self.env.cr.fetchall():
            for address in (email, partner_email):
                if address:
                    index[address].add(lead)
            # Odoo keeps the connect time in whole seconds: a lead created in
            # that second, before Connect, existed at connect.
            self.lead_created[lead] = created.replace(microsecond=0)
            self.lead_partner[lead] = (partner, partner_email or email)
        return index

    def allowed_leads(self, lead_ids, date):
        """Leads that existed at connect get the history; a lead created later
        only mail dated from its creation on."""
        date = naive_utc(date)
        return {
            lead
            for lead in lead_ids
            if self.lead_created[lead] <= self.connected
            or (date is not None and date >= self.lead_created[lead])
        }

    def _on_chatter(self, message_ids, lead_ids):
        """{(Message-ID, lead): {chatter message id: [_Row...]}}: the chatter
        messages with those Message-IDs on those leads, and the ledger rows of
        each (none for mail sent from Odoo)."""
        self.env["mail.sync.message"].flush_model()
        self.env["mail.message"].flush_model(["message_id", "model", "res_id"])
        self.env.cr.execute(
            """SELECT m.message_id, m.res_id, m.id, r.account_id, r.message_id,
                      r.content_fingerprint, r.size
                 FROM mail_message m
            LEFT JOIN mail_sync_message r
                   ON r.mail_message_id = m.id AND r.lead_id = m.res_id
                WHERE m.model = 'crm.lead' AND m.message_id = ANY(%s)
                  AND m.res_id = ANY(%s)
             ORDER BY m.id, r.id""",
            [list(message_ids), list(lead_ids)],
        )
        found = defaultdict(dict)
        for (
            message_id,
            lead,
            mail_message,
            account,
            key,
            fp,
            size,
        ) in self.env.cr.fetchall():
            rows = found[(message_id, lead)].setdefault(mail_message, [])
            if account:
                rows.append(_Row(account, key, fp, size))
        return found

    def known_pairs(self, folder, candidates):
        """The pairs whose email needs no reading: this mailbox recorded it
        from a copy of the same size, or before fingerprints were kept; or it
        is on the chatter with no fingerprint to compare (sent from Odoo,
        synced by an earlier version): noted as this mailbox's too. A pair
        whose chatter messages all have fingerprints, none from a copy this
        mailbox read, is fetched: ``record`` tells a copy from another email
        reusing the Message-ID. A pair whose email its owner moved off the
        lead (``mail.sync.moved``) is settled too: it is not put back."""
        pairs = {(h.message_id, lead) for h, leads in candidates for lead in leads}
        if not pairs:
            return set()
        moved = self._moved_off(pairs)
        pairs -= moved
        on_chatter = self._on_chatter(
            {m for m, _l in pairs}, {lead for _m, lead in pairs}
        )
        sizes = defaultdict(set)  # Message-ID -> sizes of the candidate copies
        headers = {}
        for header, _leads in candidates:
            sizes[header.message_id].add(header.size)
            headers.setdefault(header.message_id, header)
        account = self.account.id
        settled, notes = set(), []
        for message_id, lead in pairs:
            chatter = on_chatter.get((message_id, lead))
            if not chatter:
                continue
            rows = [row for found in chatter.values() for row in found]
            mine = [row for row in rows if row.account == account]
            unknown = [m for m, found in chatter.items() if not _fingerprinted(found)]
            if any(row.fingerprint is None for row in mine) or sizes[message_id] <= {
                row.size for row in mine
            }:
                settled.add((message_id, lead))
            elif unknown:
                # Already on the chatter (sent from Odoo, or synced by an
                # earlier version): this mailbox has it too, nothing to write.
                settled.add((message_id, lead))
                if not any(row.key == message_id for row in mine):
                    notes.append(
                        self._ledger_values(
                            folder, headers[message_id], lead, unknown[0]
                        )
                    )
        self._insert_ledger(notes)
        return settled | moved

    def _moved_off(self, pairs):
        """The (Message-ID, lead) pairs among ``pairs`` whose email was moved
        off that lead by its owner, whichever mailbox meets it again."""
        self.env["mail.sync.moved"].flush_model(["message_id", "lead_id"])
        self.env.cr.execute(
            """SELECT message_id, lead_id FROM mail_sync_moved
                WHERE message_id = ANY(%s) AND lead_id = ANY(%s)""",
            [list({m for m, _l in pairs}), list({lead for _m, lead in pairs})],
        )
        return set(self.env.cr.fetchall()) & pairs

    def cap_left(self):
        cap = self.account.company_id.mail_sync_daily_cap
        if not cap:
            return None
        today = fields.Datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            """SELECT COUNT(DISTINCT message_id) FROM mail_sync_message
                WHERE account_id = %s AND introduced AND create_date >= %s""",
            [self.account.id, today],
        )
        return max(0, cap - self.env.cr.fetchone()[0])

    # -- writing --------------------------------------------------------------
    def _insert_ledger(self, rows, claim=False):
        """Write ledger rows (``_ledger_values`` dicts) in one INSERT: the ORM's
        create costs more per row than the whole chatter message. With
        ``claim``, the rows introduce their chatter messages: another process
        that recorded one of the pairs first makes the INSERT fail (see
        ``claims``), an expected outcome that Odoo is not to log as a bad query.
        The rows go in one order, which keeps two such INSERTs from deadlocking
        (should it happen anyway, the one that fails is redone like any loser)."""
        if not rows:
            return
        self.env["crm.lead"].flush_model(["stage_id", "type"])
        self.env["mail.sync.message"].flush_model()
        account = self.account
        cr = self.env.cr
        if claim:
            rows = sorted(rows, key=lambda row: (row["message_id"], row["lead_id"]))
        psycopg2.extras.execute_values(
            claims.QuietCursor(cr) if claim else cr,
            cr.mogrify(
                _LEDGER_INSERT,
                {
                    "user": account.user_id.id,
                    "company": account.company_id.id,
                    "uid": self.env.uid,
                    "now": cr.now(),
                },
            ).decode(),
            rows,
            template=_LEDGER_TEMPLATE,
            page_size=1000,
        )
        # no subject the chatter hides in these rows (mail.sync.content)
        self.env["mail.sync.content"]._mail_sync_ledger_subjects(
            [row["mail_message_id"] for row in rows]
        )
        # Rows written behind the ORM's back: nothing cached may miss them
        # (the leads' and mailbox's synced counts, their ledger lines).
        self.env.invalidate_all()

    def _ledger_values(
        self,
        folder,
        header,
        lead,
        mail_message,
        introduced=False,
        key=None,
        fingerprint=None,
    ):
        return {
            "account_id": self.account.id,
            "message_id": key or header.message_id,
            "folder": folder.name,
            "uid": header.uid,
            "direction": folder.direction,
            "date": naive_utc(header.date) or fields.Datetime.now(),
            "subject": (header.subject or "")[:500],
            "lead_id": lead,
            "mail_message_id": mail_message,
            "introduced": introduced,
            # the header fields the lead's Emails view threads and shows by
            "email_to": ", ".join(header.to) or None,
            "email_cc": ", ".join(header.cc) or None,
            "in_reply_to": (header.in_reply_to or "")[:995] or None,
            "references": " ".join(header.references) or None,
            "fingerprint": fingerprint or None,
            "size": header.size or None,
        }

    def _body(self, message, inline=None):
        """The chatter body of ``message``; ``inline``: {Content-ID:
        (attachment id, access token)} of the attachments its ``cid:`` images
        show, as Odoo's mail gateway links them."""
        body = Markup(_link_inline_images(message.body_html or "", inline or {}))
        if message.partial_size:
            note = self.env._(
                "This email (%(size)s) is too large to sync whole: its text and"
                " the attachments that fit are here.",
                size=_format_size(message.partial_size),
            )
            body += Markup("<p><em>%s</em></p>") % note
        if message.omitted_attachments:
            items = Markup("").join(
                Markup("<li>%s (%s)</li>") % (name, _format_size(size))
                for name, size in message.omitted_attachments
            )
            note = self.env._(
                "Attachments left out (over the %(cap)s MB per message limit):",
                cap=self.account.company_id.mail_sync_attachment_cap,
            )
            body += Markup("<p><em>%s</em></p><ul>%s</ul>") % (note, items)
        return body

    def _author(self, folder, message, lead):
        if folder.direction == "out":
            return self.account.user_id.partner_id.id
        partner, partner_email = self.lead_partner.get(lead, (False, None))
        if partner and partner_email in message.from_:
            return partner
        return False

    def _record_names(self, lead_ids):
        """What mail.message's create would compute one lead at a time (the
        document's display name, as superuser), read in batches."""
        # sudo: read-only: the display names of the leads this email matched (in the
        # mailbox's company, by address), stored as mail.message's own create would.
        leads = self.env["crm.lead"].sudo().browse(sorted(lead_ids))
        return {lead.id: lead.display_name for lead in leads}

    def _resolve(self, items):
        """Which (item, lead) pairs ``items`` add to the chatters, each with its
        ledger key, and the ledger rows noting the others as this mailbox's.

        A pair whose Message-ID is already on the lead is compared by content
        (``ParsedMessage.fingerprint``): a copy of an email there (another
        folder's, another mailbox's) adds a ledger row for this mailbox, if it
        has none; another email reusing the Message-ID is written too, its
        ledger key the Message-ID and the start of its fingerprint (so the
        claim on each (key, lead) keeps every email once). A chatter message
        without fingerprint (sent from Odoo) is taken as the same email."""
        pairs = [(item, lead) for item in items for lead in sorted(item.lead_ids)]
        on_chatter = self._on_chatter(
            {item.header.message_id for item, _lead in pairs},
            {lead for _item, lead in pairs},
        )
        account = self.account.id
        written, notes = [], []
        for item, lead in pairs:
            message_id = item.header.message_id
            fingerprint = item.message.fingerprint
            chatter = on_chatter.setdefault((message_id, lead), {})
            rows = [row for found in chatter.values() for row in found]
            same = next(
                (
                    (mail_message, found)
                    for mail_message, found in chatter.items()
                    if not _fingerprinted(found)
                    or any(row.fingerprint == fingerprint for row in found)
                ),
                None,
            )
            if same is not None:
                mail_message, found = same
                key = next(
                    (row.key for row in found if row.fingerprint == fingerprint),
                    message_id,
                )
                if isinstance(mail_message, int) and not any(
                    row.account == account and row.key == key for row in rows
                ):
                    notes.append(
                        self._ledger_values(
                            item.folder,
                            item.header,
                            lead,
                            mail_message,
                            key=key,
                            fingerprint=fingerprint,
                        )
                    )
                    chatter[mail_message].append(
                        _Row(account, key, fingerprint, item.header.size)
                    )
                continue
            keys = {row.key for row in rows}
            key = (
                message_id
                if message_id not in keys
                else variant_key(message_id, fingerprint)
            )
            # Written in this batch: a later pair compares with it too.
            chatter[("new", len(written))] = [
                _Row(account, key, fingerprint, item.header.size)
            ]
            written.append((item, lead, key))
        return written, notes

    def record(self, folder, items):
        """One chatter message per (email, lead), with its original date, author,
        subject, sanitised body (``cid:`` images shown from their attachments),
        attachments and Message-ID; nobody notified. Written in the order of
        ``items`` (the chatter lists by id): the engine hands them in date
        order. An item's own ``folder`` (a run writing several folders at once)
        overrides ``folder``. A copy of an email already on a lead adds a
        ledger row only (see ``_resolve``)."""
        for item in items:
            item.folder = item.folder or folder
        # sudo: the sync's own writes, in its environment (the cron's, a queue job's, or
        # Sync Now's through addon_sudo: no client context): the email's attachments on
        # the leads it matched by address, as Odoo's mail gateway stores an incoming
        # email's (ir.attachment's own mimetype checks).
        Attachment = self.env["ir.attachment"].sudo()
        # sudo: one chatter message per lead the email matched: headers, author and body
        # built here from the mailbox's own mail (the body sanitised), nobody notified.
        Message = (
            self.env["mail.message"].sudo().with_context(mail_create_nosubscribe=True)
        )
        pairs, notes = self._resolve(items)
        self._insert_ledger(notes)
        # Every attachment of the batch in one create, in order.
        attachment_vals, spans, tokens = [], [], []
        for item, lead, _key in pairs:
            start = len(attachment_vals)
            shown = _inline_indexes(item.message)
            for index, (name, content, mimetype) in enumerate(item.message.attachments):
                values = {
                    "name": name,
                    "raw": content,
                    "mimetype": mimetype,
                    "res_model": "crm.lead",
                    "res_id": lead,
                }
                if index in shown:  # shown in the body: readable by its URL
                    values["access_token"] = Attachment._generate_access_token()
                attachment_vals.append(values)
                tokens.append(values.get("access_token"))
            spans.append((start, len(attachment_vals)))
        attachment_ids = (
            Attachment.create(attachment_vals).ids if attachment_vals else []
        )
        record_names = self._record_names({lead for _item, lead, _key in pairs})
        message_vals, bodies, safe_bodies = [], {}, {}
        for index, ((item, lead, _key), (start, end)) in enumerate(
            zip(pairs, spans, strict=True)
        ):
            message = item.message
            header = item.header
            item_folder = item.folder
            email_from = (
                self.account.email
                if item_folder.direction == "out"
                else _sender(header, message)
            )
            vals = {
                "model": "crm.lead",
                "res_id": lead,
                "record_name": record_names[lead],
                "message_type": "email",
                "subtype_id": self.subtype.id,
                "message_id": header.message_id,
                "subject": header.subject or message.subject or False,
                "date": naive_utc(header.date) or fields.Datetime.now(),
                "author_id": self._author(item_folder, message, lead),
                "email_from": email_from,
                "reply_to": email_from,
            }
            if end > start:
                vals["attachment_ids"] = [fields.Command.set(attachment_ids[start:end])]
            body = self._body(
                message,
                {
                    cid: (attachment_ids[start + i], tokens[start + i])
                    for cid, i in message.inline_cids.items()
                    if start + i < end and tokens[start + i]
                },
            )
            if message.body_is_text:
                safe_bodies[index] = body  # escaped text: nothing to sanitise
            elif _image_dataurl.search(body):
                vals["body"] = body  # create() turns embedded images into attachments
            else:
                bodies[index] = body
            message_vals.append(vals)
        created = Message.create(message_vals)
        self._write_bodies(created, bodies, safe_bodies)
        self._insert_ledger(
            [
                self._ledger_values(
                    item.folder,
                    item.header,
                    lead,
                    mail_message.id,
                    True,
                    key=key,
                    fingerprint=item.message.fingerprint,
                )
                for (item, lead, key), mail_message in zip(pairs, created, strict=True)
            ],
            claim=True,
        )
        # What colleagues may not see moves to the vault, in this transaction.
        self.env["mail.sync.content"]._mail_sync_protect(self.account, created)
        # The chatters open on these leads follow, once this is committed.
        new_emails.written(self.env, {lead for _item, lead, _key in pairs})

    def _write_bodies(self, messages, bodies, safe_bodies):
        """Store ``bodies`` ({index in ``messages``: html}) sanitised once by the
        ``body`` field itself (create() would sanitise each body twice: for the
        column and for the cache), and ``safe_bodies`` (plain text the parser
        escaped, already in the sanitiser's own form) as they are."""
        if not bodies and not safe_bodies:
            return
        field = messages._fields["body"]
        rows = [
            (messages[index].id, field.convert_to_column(body, messages[index]))
            for index, body in bodies.items()
        ]
        rows += [(messages[index].id, str(body)) for index, body in safe_bodies.items()]
        messages.flush_recordset(["body"])
        self.env.cr.execute_values(
            """UPDATE mail_message m SET body = v.body
                 FROM (VALUES %s) AS v(id, body) WHERE m.id = v.id""",
            rows,
            template="(%s::int, %s::text)",
            page_size=1000,
        )
        messages.invalidate_recordset(["body"])

    def skip(self, folder, uid, err):
        self.account.env["mail.sync.log"]._record(self.account, err)

    def checkpoint(self, folder, progress):
        """Move ``folder``'s checkpoint and add the skips it moves past to the
        folder's counts, in one transaction (committed by the cron)."""
        record = self.account.folder_ids.filtered(lambda f: f.name == folder.name)
        counts = self.env["mail.sync.skip.count"]
        if record.uidvalidity and record.uidvalidity != progress.uidvalidity:
            counts._reset(record)  # the folder is scanned again from its start
        counts._add(record, progress.skips)
        values = {
            "uidvalidity": progress.uidvalidity,
            "last_uid": progress.last_uid,
            "scanned": progress.scanned,
            "total": progress.total,
            "historical_done": record.historical_done or progress.done,
        }
        folder.uidvalidity = progress.uidvalidity
        folder.last_uid = progress.last_uid
        if all(record[name] == value for name, value in values.items()):
            return  # a run that found nothing new: nothing to write
        record.write(values)
        if self.auto_commit:
            # batch done: a failure later resumes from here
            self.env.cr.commit()  # pylint: disable=invalid-commit
