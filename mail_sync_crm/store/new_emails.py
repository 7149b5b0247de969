# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Open chatters follow the emails a sync writes: when the transaction that
wrote chatter messages on leads commits (a turn's batch, a past-mail chunk,
Sync Now), the users who may be looking at those leads get one bus
notification each, ``mail_sync_crm/new_emails``, listing the leads they may
read, nothing of the emails themselves. A lead's chatter open in their browser
then fetches its new messages with their own rights
(``static/src/bus/new_emails_refresh.js``): it shows what a reload would show.

Who is told of a lead: the owner of the mailbox that wrote on it, its
salesperson and the internal users following it, each only if they may read
it. Anyone else sees the new emails at the next load of the lead.

The notification is prepared as the transaction commits (a pre-commit hook of
its cursor): a batch rolled back (a claim lost to another process, a failed
turn) takes its notification with it, batches committed one by one each send
theirs, and a turn that writes nothing registers nothing, so it costs no query.
"""

from collections import defaultdict

NOTIFICATION = "mail_sync_crm/new_emails"
# The key of this transaction's pending leads in its cursor's pre-commit data:
# {lead id: {ids of the users whose mailboxes wrote on it}}.
_PENDING = "mail_sync_crm.new_emails"


def written(env, owner_id, lead_ids):
    """Note that the mailbox of the user ``owner_id`` wrote chatter messages on
    ``lead_ids`` in the transaction of ``env``'s cursor: told when it commits."""
    if not lead_ids:
        return
    precommit = env.cr.precommit
    pending = precommit.data.get(_PENDING)
    if pending is None:
        pending = precommit.data[_PENDING] = defaultdict(set)
        precommit.add(lambda: _notify(env, pending))
    for lead in lead_ids:
        pending[lead].add(owner_id)


def _notify(env, pending):
    """One notification per user who may be looking at one of the ``pending``
    leads, listing those they may read."""
    leads_of = defaultdict(set)  # user id -> lead ids
    for lead, owners in pending.items():
        for owner in owners:
            leads_of[owner].add(lead)
    env.cr.execute(
        """SELECT l.id, l.user_id
             FROM crm_lead l JOIN res_users u ON u.id = l.user_id
            WHERE l.id = ANY(%(leads)s) AND u.active
            UNION
           SELECT f.res_id, u.id
             FROM mail_followers f JOIN res_users u ON u.partner_id = f.partner_id
            WHERE f.res_model = 'crm.lead' AND f.res_id = ANY(%(leads)s)
              AND u.active AND NOT u.share""",
        {"leads": list(pending)},
    )
    for lead, user in env.cr.fetchall():
        leads_of[user].add(lead)
    Bus = env["bus.bus"]
    for user in env["res.users"].browse(sorted(leads_of)):
        # Their own rights, in all their companies (as Odoo's inbox notifies).
        readable = (
            env["crm.lead"]
            .with_user(user)
            .with_context(allowed_company_ids=[])
            .browse(sorted(leads_of[user.id]))
            ._filtered_access("read")
        )
        if readable:
            Bus._sendone(user.partner_id, NOTIFICATION, {"lead_ids": readable.ids})
