# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Open chatters follow the emails a sync writes: when the transaction that
wrote chatter messages on leads commits (a turn's batch, a past-mail chunk,
Sync Now), each of those leads gets one bus notification,
``mail_sync_crm/new_emails``, with its id and nothing of the emails
themselves. A lead's chatter open in a browser then fetches its new messages
with the user's own rights (``static/src/bus/new_emails_refresh.js``): it
shows what a reload would show.

Only the browsers with that lead's chatter open hear it: the notification goes
to the lead's own channel, ``(lead, "mail_sync_crm/new_emails")``, and a page
joins that channel by asking for ``mail_sync_crm.lead_<id>`` when it shows the
lead's messages. The page's bus subscription grants it only if the user may
read the lead then (``models/ir_websocket.py``). So the rights are checked
once per open chatter, by the user who opens it, and never by the sync: a
turn's cost does not depend on who follows its leads nor on how many users
the database has.

The notification is prepared as the transaction commits (a pre-commit hook of
its cursor): a batch rolled back (a claim lost to another process, a failed
turn) takes its notification with it, batches committed one by one each send
theirs, and a turn that writes nothing registers nothing, so it costs no query.
"""

import re

NOTIFICATION = "mail_sync_crm/new_emails"
# What a page asks for to hear a lead's new emails, and its pattern.
CHANNEL_PREFIX = "mail_sync_crm.lead_"
CHANNEL_ASKED = re.compile(r"mail_sync_crm\.lead_([1-9][0-9]{0,17})")
# The key of this transaction's pending leads in its cursor's pre-commit data.
_PENDING = "mail_sync_crm.new_emails"


def written(env, lead_ids):
    """Note that chatter messages were written on ``lead_ids`` in the
    transaction of ``env``'s cursor: their open chatters are told when it
    commits."""
    if not lead_ids:
        return
    precommit = env.cr.precommit
    pending = precommit.data.get(_PENDING)
    if pending is None:
        pending = precommit.data[_PENDING] = set()
        precommit.add(lambda: _notify(env, pending))
    pending.update(lead_ids)


def channel(lead):
    """The bus channel of ``lead``'s open chatters."""
    return (lead, NOTIFICATION)


def _notify(env, pending):
    """One notification per lead, on its own channel (the bus inserts them
    together as the commit goes on)."""
    Bus = env["bus.bus"]
    for lead in env["crm.lead"].browse(sorted(pending)):
        Bus._sendone(channel(lead), NOTIFICATION, {"lead_ids": [lead.id]})


def split_asked(channels):
    """``channels`` (what a page subscribes to) split in two: the strings that
    ask for a lead's channel, and the others."""
    asked, others = [], []
    for name in channels:
        is_asked = isinstance(name, str) and name.startswith(CHANNEL_PREFIX)
        (asked if is_asked else others).append(name)
    return asked, others


def granted(env, asked):
    """The channels that ``env``'s user may join among ``asked`` (strings a
    page sent, from ``split_asked``): those of the leads they may read now, in
    all their companies (as Odoo's inbox notifies). A string naming no lead or
    one they may not read grants nothing."""
    ids = set()
    for name in asked:
        match = CHANNEL_ASKED.fullmatch(name)
        if match:
            ids.add(int(match[1]))
    if not ids:
        return []
    leads = (
        env["crm.lead"]
        .with_context(allowed_company_ids=[], active_test=False)
        .browse(sorted(ids))
        .exists()
        ._filtered_access("read")
    )
    return [channel(lead) for lead in leads]
