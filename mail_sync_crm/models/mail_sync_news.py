# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The check for news of a run: before any turn, the due mailboxes are checked
concurrently (``lib.imap_news``: a bounded pool of IMAP connections, system
parameter ``mail_sync_crm.poll_pool_size``), a batch claimed at a time. The
mailboxes without news get their bookkeeping written in bulk (tried and
synced) and a failed check is recorded as a failed turn would be (Error,
back-off of a refused login); all are released again, and whoever claims one
with news first gives it its turn (``mail.sync.scheduler``).

A service: every method is private (no RPC).
"""

from odoo import api, fields, models

from ..lib import errors
from ..lib.imap import news as imap_news

POOL_PARAM = "mail_sync_crm.poll_pool_size"


class MailSyncNews(models.AbstractModel):
    _name = "mail.sync.news"
    _description = "Mail Sync Check for News"

    @api.model
    def _pool_size(self):
        """IMAP connections at once of a run (``lib.imap_news.pool_size``)."""
        # sudo: read-only: a system parameter of a fixed name.
        return imap_news.pool_size(
            self.env["ir.config_parameter"].sudo().get_param(POOL_PARAM)
        )

    @api.model
    def _check(self, accounts, sync_round, due_before, budget, commit, settings):
        """Check ``accounts`` (due mailboxes, in order) for news while the
        budget lasts, a batch claimed at a time; returns the ids of the
        mailboxes found with news. ``settings``: the run's IMAP settings by
        mailbox, built once (``mail.sync.scheduler._imap_settings``)."""
        size = self._pool_size()
        scheduler = self.env["mail.sync.scheduler"]

        def batches():
            for start in range(0, len(accounts), size):
                if start and budget.elapsed() >= budget.seconds:
                    return  # the first batch always goes, and the first turn
                batch = accounts.browse(accounts.ids[start : start + size])
                claimed = scheduler._try_locks(batch, commit)
                now = fields.Datetime.now()  # when their tries start
                due = claimed.filtered(
                    lambda a: scheduler._is_due(a, due_before, sync_round)
                )
                targets = [t for t in self._targets(due, settings) if t is not None]
                checked = accounts.browse([t.key for t in targets])
                scheduler._unlock_all(claimed - checked)  # a turn without a check
                held.update(checked.ids)
                begun.update(dict.fromkeys(checked.ids, now))
                yield targets

        news, done, held, begun = [], [], set(), {}
        try:
            for result in imap_news.poll_stream(batches(), size):
                done.append(result)
                if len(done) >= size:
                    news += self._checked(accounts, done, sync_round, commit, begun)
                    held.difference_update(r.key for r in done)
                    done = []
            news += self._checked(accounts, done, sync_round, commit, begun)
        except Exception:
            if commit:
                self.env.cr.rollback()  # the unlocks below need a usable transaction
            scheduler._unlock_all(accounts.browse(sorted(held)))
            raise
        return news

    @api.model
    def _targets(self, accounts, settings):
        """Per mailbox, what to check (``imap_news.PollTarget``), or None
        when it needs a turn anyway: history not done, messages held for
        another try, settings that cannot be built (its turn says why)."""
        self.env["mail.sync.failed.message"].flush_model()
        self.env.cr.execute(
            """SELECT DISTINCT account_id FROM mail_sync_failed_message
                WHERE account_id = ANY(%s) AND state = 'retry'""",
            [accounts.ids],
        )
        holding = {row[0] for row in self.env.cr.fetchall()}
        checkable = accounts.filtered(
            lambda a: (
                a.sync_historical_done
                and a.id not in holding
                and all(a.folder_ids.mapped("uidvalidity"))
            )
        )
        scheduler = self.env["mail.sync.scheduler"]
        scheduler._build_imap_settings(checkable, settings)
        checkable_ids = set(checkable.ids)
        targets = []
        for account in accounts:
            target = None
            if account.id in checkable_ids:
                imap = scheduler._imap_settings(account, settings)
                if not isinstance(imap, errors.MailSyncError):
                    target = imap_news.PollTarget(
                        account.id,
                        imap,
                        tuple(
                            imap_news.KnownFolder(f.name, f.uidvalidity, f.last_uid)
                            for f in account.folder_ids
                        ),
                    )
            targets.append(target)
        return targets

    @api.model
    def _checked(self, accounts, results, sync_round, commit, begun):
        """Write what the checks ``results`` found: mailboxes without news
        tried (when their check began: ``begun``) and synced now, failed ones
        recorded; all released. Returns the ids of those with news."""
        idle = accounts.browse([r.key for r in results if not r.error and not r.news])
        failed = [(accounts.browse(r.key), r.error) for r in results if r.error]
        news = [r.key for r in results if r.news and not r.error]
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # a fresh snapshot
        turn = self.env["mail.sync.turn"]
        tried = idle.browse([account.id for account, _err in failed]) | idle
        # Bookkeeping of no tracked field: Odoo's tracking would read and
        # compare every mailbox's state for nothing (a run writes thousands).
        quiet = tried.with_context(tracking_disable=True)
        for moment in {begun[key] for key in tried.ids}:
            quiet.filtered(lambda a, m=moment: begun[a.id] == m).write(
                {"last_attempt_date": moment, "sync_round": sync_round}
            )
        if idle:
            turn._succeeded(idle)
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # before unlocking
        for account, err in failed:
            turn._failed(account, err, commit)
        self.env["mail.sync.scheduler"]._unlock_all(tried | accounts.browse(news))
        return news
