# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The store's side of the messages the server could not deliver
(``lib/sync/held.py``): their failed attempts in ``mail.sync.failed.message``,
and the log entry, with its Retry button, of the one skipped."""

from collections import defaultdict

from ..lib.timeutil import naive_utc


class HeldMessages:
    """``held``, ``hold`` and ``release`` of :class:`..lib.sync.store.SyncStore`,
    for ``MailSyncStore`` (``self.account``, ``self.env``)."""

    held_folders = None  # (folder, UIDVALIDITY) -> {uid: attempts}, read once

    def _failed_messages(self, folder, uidvalidity):
        record = self.account.folder_ids.filtered(lambda f: f.name == folder.name)
        # sudo: the failed-message rows of this mailbox's folder (the sync's own), to
        # count retries and drop stale ones.
        found = (
            self.env["mail.sync.failed.message"]
            .sudo()
            .search([("folder_id", "in", record.ids)])
        )
        stale = found.filtered(lambda f: f.uidvalidity != uidvalidity)
        if stale:  # the folder's UIDs were renumbered: they mean nothing now
            stale.unlink()
        return record, found - stale

    def held(self, folder, uidvalidity):
        if self.held_folders is None:  # one query for the mailbox's folders
            self.env["mail.sync.failed.message"].flush_model()
            self.env.cr.execute(
                """SELECT f.name, m.uidvalidity, m.uid, m.attempts
                     FROM mail_sync_failed_message m
                     JOIN mail_sync_folder f ON f.id = m.folder_id
                    WHERE m.account_id = %s AND m.state = 'retry'""",
                [self.account.id],
            )
            self.held_folders = defaultdict(dict)
            for name, validity, uid, attempts in self.env.cr.fetchall():
                self.held_folders[(name, validity)][uid] = attempts
        return dict(self.held_folders.get((folder.name, uidvalidity), {}))

    def hold(self, folder, uidvalidity, uid, attempts, err, give_up):
        record, found = self._failed_messages(folder, uidvalidity)
        failed = found.filtered(lambda f: f.uid == uid)
        params = err.params
        values = {
            "attempts": attempts,
            "state": "skipped" if give_up else "retry",
            "detail": err.detail,
        }
        sender, subject = params.get("sender", "-"), params.get("subject", "-")
        if sender != "-" or not failed:  # what the headers said, when read
            values.update(
                date=naive_utc(params.get("date_value")),
                sender=sender if sender != "-" else False,
                subject=subject[:500] if subject != "-" else False,
            )
        if failed:
            failed.write(values)
        else:
            failed = failed.create(
                dict(
                    values,
                    account_id=self.account.id,
                    folder_id=record.id,
                    uidvalidity=uidvalidity,
                    uid=uid,
                )
            )
        if give_up:
            log = self.account.env["mail.sync.log"]._record(self.account, err)
            log.write(
                {
                    "failed_message_id": failed.id,
                    "message": f"{log.message} ({failed._summary()})"[:500],
                }
            )

    def release(self, folder, uidvalidity, uids):
        _record, found = self._failed_messages(folder, uidvalidity)
        found.filtered(lambda f: f.uid in set(uids)).unlink()
