# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A mailbox's completeness: per folder, what the server has (EXISTS), what
the sync scanned, recorded, holds and skipped, and its lag
(``lib/sync/completeness.py`` for the arithmetic and its definitions).

Two writers keep the folders' figures: each turn, from the EXAMINE it starts
with (:meth:`_after_turn`), and the reconciliation (:meth:`_cron_reconcile`,
hourly): one pipelined EXAMINE per mailbox, and only in a folder with
something above its checkpoint a ``UID SEARCH`` and one INTERNALDATE. It
retries nothing itself: the scheduled sync takes a mailbox with news or held
messages at its next run (the reconciliation wakes it when it found a gap),
through the same claim, lock and turn.

A service: every method is private (no RPC).
"""

import logging

from odoo import api, fields, models

from ..lib import errors
from ..lib.imap import news as imap_news
from ..lib.sync import completeness
from .mail_sync_scheduler import auto_commit

_logger = logging.getLogger(__name__)

LAG_THRESHOLD_PARAM = "mail_sync_crm.lag_threshold_minutes"


class MailSyncCompleteness(models.AbstractModel):
    _name = "mail.sync.completeness"
    _description = "Mail Sync Completeness of a Mailbox"

    @api.model
    def _lag_threshold(self):
        """Seconds of lag above which a mailbox is falling behind."""
        # sudo: read-only: a system parameter of a fixed name.
        return completeness.lag_threshold_seconds(
            self.env["ir.config_parameter"].sudo().get_param(LAG_THRESHOLD_PARAM)
        )

    # ------------------------------------------------------------------
    # After a turn
    # ------------------------------------------------------------------
    @api.model
    def _after_turn(self, account, statuses, examined_at):
        """The figures of the folders of ``account`` after its turn, from the
        EXAMINE the turn began with (``statuses``, at ``examined_at``) and the
        checkpoints it left."""
        for folder in account.folder_ids:
            status = statuses.get(folder.name)
            if status is None:
                continue  # refused or gone: the turn said why
            unscanned = completeness.unscanned_after_turn(
                status,
                folder.uidvalidity,
                folder.last_uid,
                folder.total,
                folder.scanned,
            )
            values = {
                "server_count": status.exists,
                "unscanned_count": unscanned,
                "server_checked_date": examined_at,
            }
            if unscanned:
                values["waiting_since"] = folder.waiting_since or examined_at
            else:
                values.update(waiting_since=False, caught_up_date=examined_at)
            self._write_folder(folder, values)
        self._write_account(account)

    @api.model
    def _write_folder(self, folder, values):
        if all(folder[name] == value for name, value in values.items()):
            return  # a turn that found nothing new: nothing to write
        # sudo: the folder's figures, computed here from what its server answered
        # (EXISTS, UIDs, a date) and its checkpoint; folders are addon-only.
        folder.sudo().write(values)

    @api.model
    def _write_account(self, account):
        waiting = [d for d in account.folder_ids.mapped("waiting_since") if d]
        since = min(waiting) if waiting else False
        if account.waiting_since != since:
            # sudo: the mailbox's oldest waiting moment, from its folders' figures.
            account.sudo().write({"waiting_since": since})

    # ------------------------------------------------------------------
    # The reconciliation
    # ------------------------------------------------------------------
    @api.model
    def _cron_reconcile(self):
        """Count every connected mailbox's folders against their checkpoints
        and held messages; log each mailbox with a gap and a summary; wake the
        scheduled sync when there is a gap. Returns the summary (a dict)."""
        scheduler = self.env["mail.sync.scheduler"]
        commit = auto_commit()
        accounts = self._to_reconcile()
        size = self.env["mail.sync.news"]._pool_size()
        settings = {}  # mailbox id: its IMAP settings, built once
        summary = {"mailboxes": 0, "gaps": 0, "behind": 0, "failed": 0, "busy": 0}
        threshold = self._lag_threshold()
        held = set()  # the mailboxes whose lock this pass holds

        def batches():
            for start in range(0, len(accounts), size):
                batch = accounts.browse(accounts.ids[start : start + size])
                claimed = scheduler._try_locks(batch, commit)
                summary["busy"] += len(batch) - len(claimed)  # a turn counts them
                targets = self._targets(claimed, settings)
                counted = accounts.browse([t.key for t in targets])
                scheduler._unlock_all(claimed - counted)
                held.update(counted.ids)
                yield targets

        try:
            for result in imap_news.poll_stream(
                batches(), size, check=imap_news.count_mailbox
            ):
                self._reconciled(
                    accounts.browse(result.key), result, threshold, summary
                )
                if commit:
                    # a mailbox's figures
                    self.env.cr.commit()  # pylint: disable=invalid-commit
                scheduler._unlock_all(accounts.browse(result.key))
                held.discard(result.key)
        finally:
            if held:
                if commit:
                    # the unlocks below need a usable transaction
                    self.env.cr.rollback()
                scheduler._unlock_all(accounts.browse(sorted(held)))
        if summary["gaps"]:
            # The scheduled sync gives the mailboxes with a gap their turn (and
            # retries their held messages) now rather than at its next time.
            cron = self.env.ref(
                "mail_sync_crm.ir_cron_mail_sync", raise_if_not_found=False
            )
            if cron:
                # sudo: wakes the addon's own scheduled action (nothing from a client).
                cron.sudo()._trigger()
        _logger.log(
            logging.WARNING if summary["gaps"] or summary["failed"] else logging.INFO,
            "mail_sync_crm: reconciliation: %(mailboxes)s mailboxes counted, "
            "%(gaps)s with a gap, %(behind)s falling behind, %(failed)s not "
            "reachable, %(busy)s being synced (counted by their turn)",
            summary,
        )
        return summary

    @api.model
    def _to_reconcile(self):
        """Connected mailboxes whose folders have a checkpoint, not backing off
        after a refused login (the reconciliation never adds a refusal)."""
        # sudo: read-only: the reconciliation's mailboxes (a fixed domain).
        return (
            self.env["mail.sync.account"]
            .sudo()
            .search(
                [
                    ("state", "in", ("enabled", "error")),
                    ("auth_failure_count", "=", 0),
                    ("folder_ids", "!=", False),
                ],
                order="id",
            )
        )

    @api.model
    def _targets(self, accounts, settings):
        scheduler = self.env["mail.sync.scheduler"]
        targets = []
        for account in accounts:
            folders = account.folder_ids.filtered("uidvalidity")
            if not folders:
                continue
            imap = scheduler._imap_settings(account, settings)
            if isinstance(imap, errors.MailSyncError):
                continue  # its turn says what is wrong
            targets.append(
                imap_news.PollTarget(
                    account.id,
                    imap,
                    tuple(
                        imap_news.KnownFolder(f.name, f.uidvalidity, f.last_uid)
                        for f in folders
                    ),
                )
            )
        return targets

    @api.model
    def _reconciled(self, account, result, threshold, summary):
        """Write what the reconciliation found in ``account`` (``result``:
        ``imap_news.PollResult`` with ``counts``) and tell the log."""
        summary["mailboxes"] += 1
        if result.error:
            summary["failed"] += 1
            _logger.info(
                "mail_sync_crm: reconciliation: mailbox %s not counted: %s",
                account.id,
                result.error.code,
            )
            return
        now = fields.Datetime.now()
        account.invalidate_recordset()
        for folder in account.folder_ids:
            count = result.counts.get(folder.name)
            if count is None:
                continue
            unscanned = min(count.status.exists, count.above)
            values = {
                "server_count": count.status.exists,
                "unscanned_count": unscanned,
                "server_checked_date": now,
            }
            if unscanned:
                values["waiting_since"] = completeness.waiting_since(
                    count.first_above_date, folder.caught_up_date, now
                )
            else:
                values.update(waiting_since=False, caught_up_date=now)
            self._write_folder(folder, values)
        self._write_account(account)
        held = sum(account.folder_ids.mapped("held_count"))
        growing = bool(account.reconciled_date) and held > account.reconciled_held_count
        # sudo: what the reconciliation found: its time, the held count and
        # whether it grew since the one before (computed here).
        account.sudo().write(
            {
                "reconciled_date": now,
                "reconciled_held_count": held,
                "held_growing": growing,
            }
        )
        unscanned = sum(account.folder_ids.mapped("unscanned_count"))
        lag = completeness.lag_seconds(account.waiting_since, now)
        behind = completeness.falling_behind(lag, threshold, held, None) or growing
        summary["behind"] += behind
        if unscanned or held:
            summary["gaps"] += 1
            _logger.warning(
                "mail_sync_crm: reconciliation: mailbox %s has a gap: %s messages "
                "not yet scanned, %s held, lag %s s%s; left to the scheduled sync",
                account.id,
                unscanned,
                held,
                lag,
                ", falling behind" if behind else "",
            )
