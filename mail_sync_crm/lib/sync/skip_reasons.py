"""Why a scanned message is not on a lead: the one vocabulary of the sync's skip
counts, the mailbox's counts and the lead's "Why is this email not here?".

Each reason is a stable code (stored in counts, never translated) with an English
label the Odoo side passes through its translation."""

NO_LEAD = "no_lead"  # none of its addresses is a known lead's
BLOCKLISTED = "blocklisted"  # its lead's address is on a blocklist
OWN_DOMAIN = "own_domain"  # only colleagues' addresses (the company's own domain)
MAILING_LIST = "mailing_list"  # List-Id, or List-Unsubscribe with bulk/list/junk
AUTOMATED = "automated"  # Auto-Submitted other than "no"
ROLE_SENDER = "role_sender"  # no-reply, mailer-daemon, postmaster, notifications
BEFORE_LEAD = "before_lead"  # dated before its lead, and past mail is not fetched
MALFORMED = "malformed"  # no sender and no recipient could be read

LABELS = {
    NO_LEAD: "No lead or opportunity has one of its addresses",
    BLOCKLISTED: "Blocklisted",
    OWN_DOMAIN: "Only addresses of the company's own domain",
    MAILING_LIST: "Mailing list",
    AUTOMATED: "Automated mail",
    ROLE_SENDER: "Sent by a role address (no-reply, notifications, ...)",
    BEFORE_LEAD: "Dated before the lead, and past emails are not fetched",
    MALFORMED: "Malformed message",
}

ALL = tuple(LABELS)
