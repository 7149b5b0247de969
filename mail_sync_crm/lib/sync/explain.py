"""Why is this email not here? The answer the sync would give, from the facts.

A salesperson on a lead asks about an address or a subject. The Odoo side
gathers the facts (:class:`Facts`): the ledger rows of the emails in question,
the moves off the lead, the held messages, the user's mailboxes and their
states, the messages an IMAP SEARCH found in the user's own connected
mailboxes (Inbox and Sent) with what the sync knows about each (the blocklist
entry blocking its addresses, the noise rule it meets, whether the sync has
reached it), and the company's "Find past emails" setting. :func:`explain`
turns them into an ordered list of :class:`Finding`: one line per reason, each
with its code (:mod:`lib.sync.skip_reasons`, plus the codes below), the emails
it concerns, what the reason names (the blocklist entry, the rule, the leads,
the error) and what to do about it (an action code).

The decision for one message follows the sync's own order
(``lib.sync.engine``, ``lib.sync.matcher``): held back, none of its addresses
the lead's (Inbox: the sender; Sent: the recipients), every matching address
blocklisted, a noise rule, dated before a lead added after the mailbox
connected while past mail is not fetched, not reached by the sync yet, or passed
by the sync when it was not to be recorded (the lead had another address, a
setting was different then: the sync does not go back).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..message.addresses import normalize
from . import skip_reasons

# Findings beyond the skip reasons.
RECORDED = "recorded"  # on this lead
MOVED = "moved"  # its owner moved it off this lead
HELD = "held"  # held back: the server failed on it, retried at later turns
# the sync has not reached it: the next one records it
NOT_YET_SYNCED = "not_yet_synced"
# the sync passed it when it was not to be recorded (the lead had another address,
# a setting was different): it does not go back
PASSED_EARLIER = "passed_earlier"
NOT_FOUND = "not_found"  # in none of the user's connected mailboxes (Inbox, Sent)
NO_MAILBOX = "no_mailbox"  # the user has no mailbox
MAILBOX_DISCONNECTED = "mailbox_disconnected"  # not connected (or pending a place)
MAILBOX_ERROR = "mailbox_error"  # in Error: the sync stopped
SEARCH_FAILED = "search_failed"  # the server could not be searched now

# What the user can do (codes; the Odoo side words them).
DO_NOTHING = "nothing"  # it is there, or the sync gets it by itself
DO_OPEN_LEAD = "open_lead"  # look at (or move it from) the lead it is on
DO_CONNECT = "connect"  # connect a mailbox
DO_RECONNECT = "reconnect"  # reconnect the mailbox
DO_SYNC_NOW = "sync_now"
DO_READ_HISTORY = "read_history_again"  # reconnect: the history is read again
DO_FIND_PAST = "find_past_emails"
DO_ASK_PAST = "ask_past_emails"  # ask an administrator to turn "Find past emails" on
DO_UNBLOCK = "remove_blocklist_entry"
DO_OWN_DOMAIN = "own_domain_setting"
DO_NOISE_RULE = "noise_rule_setting"
DO_ADD_ADDRESS = "add_address"  # give the lead (or its contact) that address
DO_CHECK_QUESTION = "check_question"  # another spelling, or a colleague's mailbox

# Past mail of a lead added after the mailbox connected (company setting).
PAST_AUTOMATIC = "auto"
PAST_ON_REQUEST = "on_request"
PAST_OFF = "off"  # the seed's rule: only mail dated from the lead's creation on

# The order of the findings: what the user sees first.
ORDER = (
    RECORDED,
    MOVED,
    NO_MAILBOX,
    MAILBOX_ERROR,
    MAILBOX_DISCONNECTED,
    HELD,
    skip_reasons.NO_LEAD,
    skip_reasons.BLOCKLISTED,
    skip_reasons.OWN_DOMAIN,
    skip_reasons.MAILING_LIST,
    skip_reasons.AUTOMATED,
    skip_reasons.ROLE_SENDER,
    skip_reasons.BEFORE_LEAD,
    NOT_YET_SYNCED,
    PASSED_EARLIER,
    SEARCH_FAILED,
    NOT_FOUND,
)
NOISE = (skip_reasons.MAILING_LIST, skip_reasons.AUTOMATED, skip_reasons.ROLE_SENDER)
CONNECTED = ("enabled", "error")  # the states whose mailbox can be searched


@dataclass(frozen=True)
class Lead:
    id: int
    name: str
    created: datetime  # naive UTC, as Odoo stores it
    addresses: frozenset  # normalised: its own and its contact's


@dataclass(frozen=True)
class Mailbox:
    id: int
    email: str
    state: str  # mail.sync.account's: draft, pending, enabled, error, ...
    connected: datetime | None = None  # naive UTC
    error: str = ""  # the last error, in the user's words


@dataclass(frozen=True)
class Email:
    """An email in question as a fact names it: ``key`` identifies it across
    the facts (its Message-ID), ``subject`` as the user may read it."""

    key: str
    subject: str = ""
    date: datetime | None = None


@dataclass(frozen=True)
class Recorded:
    """A ledger row of an email in question: on which lead."""

    email: Email
    lead_id: int
    lead_name: str


@dataclass(frozen=True)
class Moved:
    """An email in question its owner moved off this lead."""

    email: Email
    target_name: str = ""


@dataclass(frozen=True)
class Held:
    """A held message of one of the user's mailboxes (``mail.sync.failed.message``)."""

    email: Email
    mailbox_id: int
    folder: str
    uid: int
    attempts: int = 0
    given_up: bool = False


@dataclass(frozen=True)
class ServerMessage:
    """A message the IMAP search found in one of the user's mailboxes, with
    what the sync knows of it."""

    email: Email
    mailbox_id: int
    folder: str
    direction: str  # "in" (Inbox: the sender matters) | "out" (Sent: recipients)
    uid: int
    from_: tuple = ()
    recipients: tuple = ()  # To, Cc and Bcc
    # the noise rule (skip reason) the sync applies to it, None: none
    noise: str | None = None
    # the sync has not scanned it yet (beyond its folder's checkpoint)
    beyond_checkpoint: bool = False


@dataclass(frozen=True)
class Facts:
    lead: Lead
    mailboxes: tuple = ()  # Mailbox: the user's own
    recorded: tuple = ()  # Recorded: the emails in question on any lead
    moved: tuple = ()  # Moved: off this lead
    held: tuple = ()  # Held
    found: tuple = ()  # ServerMessage
    searched: tuple = ()  # ids of the mailboxes searched
    search_failed: Mapping = field(default_factory=dict)  # mailbox id -> error
    # address -> (kind, entry) of what blocks it (lib.privacy.blocklist.blocking_entry)
    blocked: Mapping = field(default_factory=dict)
    past_mail: str = PAST_OFF


@dataclass
class Finding:
    """One line of the answer."""

    code: str
    action: str
    emails: list = field(default_factory=list)  # Email
    mailboxes: list = field(default_factory=list)  # Mailbox
    # what the reason names: the blocklist entry, the leads, the error ...
    detail: str = ""
    kind: str = ""  # the blocklist entry's kind (email, domain, own_domain)

    @property
    def count(self):
        return len(self.emails)


def _before_lead(facts, message, mailbox):
    """Dated before a lead added after its mailbox connected, past mail not
    fetched (the seed's rule, ``MailSyncStore.allowed_leads``)."""
    lead = facts.lead
    if mailbox is None or mailbox.connected is None:
        return False
    if lead.created <= mailbox.connected:
        return False  # a lead that existed at connect gets the whole history
    date = message.email.date
    return date is not None and date < lead.created


def _reason(facts, message, mailboxes):
    """(code, detail, kind) of why ``message`` (not on the lead) is not there."""
    lead = facts.lead
    if message.direction == "in":
        candidates = message.from_
    else:
        candidates = message.recipients
    ours = [a for a in map(normalize, candidates) if a in lead.addresses]
    if not ours:
        return skip_reasons.NO_LEAD, "", ""
    blocks = [facts.blocked.get(a) for a in ours]
    if all(blocks):
        kind, entry = blocks[0]
        code = (
            skip_reasons.OWN_DOMAIN
            if kind == "own_domain"
            else skip_reasons.BLOCKLISTED
        )
        return code, entry, kind
    if message.noise:
        return message.noise, message.noise, ""
    if facts.past_mail != PAST_AUTOMATIC and _before_lead(
        facts, message, mailboxes.get(message.mailbox_id)
    ):
        return skip_reasons.BEFORE_LEAD, facts.past_mail, ""
    if message.beyond_checkpoint:
        return NOT_YET_SYNCED, "", ""
    return PASSED_EARLIER, facts.past_mail, ""


def _action(code, detail):
    if code == skip_reasons.BEFORE_LEAD:
        return DO_FIND_PAST if detail == PAST_ON_REQUEST else DO_ASK_PAST
    if code == PASSED_EARLIER:
        return DO_READ_HISTORY if detail == PAST_OFF else DO_FIND_PAST
    return {
        RECORDED: DO_NOTHING,
        MOVED: DO_OPEN_LEAD,
        NO_MAILBOX: DO_CONNECT,
        MAILBOX_ERROR: DO_RECONNECT,
        MAILBOX_DISCONNECTED: DO_RECONNECT,
        HELD: DO_NOTHING,
        skip_reasons.NO_LEAD: DO_ADD_ADDRESS,
        skip_reasons.BLOCKLISTED: DO_UNBLOCK,
        skip_reasons.OWN_DOMAIN: DO_OWN_DOMAIN,
        skip_reasons.MAILING_LIST: DO_NOISE_RULE,
        skip_reasons.AUTOMATED: DO_NOISE_RULE,
        skip_reasons.ROLE_SENDER: DO_NOISE_RULE,
        NOT_YET_SYNCED: DO_SYNC_NOW,
        SEARCH_FAILED: DO_NOTHING,
        NOT_FOUND: DO_CHECK_QUESTION,
    }[code]


class _Answer:
    """The findings being gathered, one per (code, detail)."""

    def __init__(self):
        self.findings = {}

    def add(self, code, email=None, mailbox=None, detail="", kind=""):
        finding = self.findings.get((code, detail))
        if finding is None:
            finding = self.findings[(code, detail)] = Finding(
                code, _action(code, detail), detail=detail, kind=kind
            )
        if email is not None and email.key not in {e.key for e in finding.emails}:
            finding.emails.append(email)
        if mailbox is not None and mailbox not in finding.mailboxes:
            finding.mailboxes.append(mailbox)
        return finding

    def ordered(self):
        return sorted(
            self.findings.values(), key=lambda f: (ORDER.index(f.code), f.detail)
        )


def _found(facts, answer, here, moved, held):
    """Each message the search found, not on the lead, under its reason."""
    mailboxes = {m.id: m for m in facts.mailboxes}
    elsewhere = {}
    for row in facts.recorded:
        if row.lead_id != facts.lead.id:
            elsewhere.setdefault(row.email.key, []).append(row.lead_name)
    for message in facts.found:
        key = message.email.key
        if key in here or key in moved:
            continue
        mailbox = mailboxes.get(message.mailbox_id)
        if (message.mailbox_id, message.folder, message.uid) in held:
            answer.add(HELD, message.email, mailbox=mailbox)
            continue
        code, detail, kind = _reason(facts, message, mailboxes)
        if code == skip_reasons.NO_LEAD and key in elsewhere:
            detail = ", ".join(sorted(set(elsewhere[key])))
        answer.add(code, message.email, mailbox=mailbox, detail=detail, kind=kind)


def explain(facts: Facts) -> list[Finding]:
    """The findings for ``facts``, in :data:`ORDER` (one per reason and what
    it names), each email under the first reason that keeps it off the lead."""
    answer = _Answer()
    mailboxes = {m.id: m for m in facts.mailboxes}
    here = {r.email.key for r in facts.recorded if r.lead_id == facts.lead.id}
    for row in facts.recorded:
        if row.lead_id == facts.lead.id:
            answer.add(RECORDED, row.email)
    moved = {}
    for row in facts.moved:
        if row.email.key not in here:
            moved[row.email.key] = row
            answer.add(MOVED, row.email, detail=row.target_name)
    if not facts.mailboxes:
        answer.add(NO_MAILBOX)
    for mailbox in facts.mailboxes:
        if mailbox.state == "error":
            answer.add(MAILBOX_ERROR, mailbox=mailbox, detail=mailbox.error)
        elif mailbox.state not in CONNECTED:
            answer.add(MAILBOX_DISCONNECTED, mailbox=mailbox)
    held = {(h.mailbox_id, h.folder, h.uid): h for h in facts.held if not h.given_up}
    for row in held.values():
        if row.email.key not in here:
            answer.add(HELD, row.email, mailbox=mailboxes.get(row.mailbox_id))
    _found(facts, answer, here, moved, held)
    for mailbox_id, error in sorted(facts.search_failed.items()):
        answer.add(SEARCH_FAILED, mailbox=mailboxes.get(mailbox_id), detail=error)
    if facts.searched and not facts.found and not here and not moved:
        finding = answer.add(NOT_FOUND)
        finding.mailboxes.extend(mailboxes[i] for i in facts.searched if i in mailboxes)
    return answer.ordered()
