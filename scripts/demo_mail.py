"""The demo mail server of `make run`, and the demo salesperson's mailbox.

demo_mail.py serve STATE_FILE     real Dovecot (IMAP) + aiosmtpd (SMTP) on loopback,
                                  seeded with Sally's and Sam's conversation
                                  histories; logs every mail its SMTP accepts;
                                  runs until SIGTERM/SIGINT
demo_mail.py connect CONF DB STATE_FILE
                                  connects Sally's and Sam's mailboxes in DB to that
                                  server (as themselves, tested for real), runs one
                                  sync each, and sends one Smart Mail from Sally
demo_mail.py append STATE_FILE [SUBJECT]
                                  APPENDs a new email from Alice (lead "Acme Corp")
                                  to Sally's Inbox on that server: with `make run`'s
                                  listener it is on the lead's chatter seconds later
"""

import json
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "mail_sync_crm")]

SALLY = ("Sally Sales", "sally@mailsync-demo.example.com")
LOGIN, PASSWORD = "sally", "sally-mail-demo"
SAM = ("Sam Seller", "sam@mailsync-demo.example.com")
SAM_LOGIN, SAM_PASSWORD = "sam", "sam-mail-demo"
CONTACTS = {
    "alice": ("Alice Martin", "alice.martin@acme.example.com"),
    "bruno": ("Bruno Keller", "b.keller@globex.example.com"),
    "chloe": ("Chloé Dubois", "chloe.dubois@initech.example.com"),
    "dmitri": ("Dmitri Volkov", "d.volkov@umbrella.example.com"),
    "evan": ("Evan Wayne", "evan.wayne@wayne-logistics.example.com"),
}
# (days ago, who, direction, subject, text)
HISTORY = [
    (420, "alice", "in", "Warehouse automation - first contact",
     "Hello Sally,\n\nWe met at LogiMAT. Could you send us your catalogue?\n\nAlice"),
    (419, "alice", "out", "Re: Warehouse automation - first contact",
     "Hi Alice,\n\nHere is our catalogue. Happy to visit your site.\n\nSally"),
    (300, "alice", "in", "Site visit in Lyon",
     "Sally,\n\nThursday 10:00 works for us. See you there.\n\nAlice"),
    (35, "alice", "out", "Phase 2: 40 robots - proposal",
     "Alice,\n\nAttached is the proposal for phase 2 (40 robots).\n\nSally"),
    (20, "alice", "in", "Re: Phase 2: 40 robots - proposal",
     "Thanks Sally, our board reviews it next week.\n\nAlice"),
    (60, "bruno", "in", "Fleet tracking for 300 trucks",
     "Hi,\n\nWe are looking for fleet tracking. Can we talk?\n\nBruno Keller"),
    (59, "bruno", "out", "Re: Fleet tracking for 300 trucks",
     "Hello Bruno,\n\nSure - how about a call on Monday?\n\nSally"),
    (14, "chloe", "out", "Support contract renewal",
     "Bonjour Chloé,\n\nYour contract ends next month. Shall we renew?\n\nSally"),
    (12, "chloe", "in", "Re: Support contract renewal",
     "Bonjour Sally,\n\nOui, avec l'option 24/7 s'il vous plaît.\n\nChloé"),
    (3, "dmitri", "in", "200 licences - pricing question",
     "Sally,\n\nIs there a volume discount above 150 licences?\n\nDmitri"),
]  # fmt: skip
# Sam's mailbox: he wrote to Umbrella before Sally (First Contact By: Sam).
HISTORY_SAM = [
    (90, "dmitri", "out", "Licences for Umbrella",
     "Hello Dmitri,\n\nFollowing our call, here are our licence tiers.\n\nSam"),
    (88, "dmitri", "in", "Re: Licences for Umbrella",
     "Sam,\n\nThanks. My colleague will come back to you.\n\nDmitri"),
    (40, "evan", "out", "Tracking pilot - order",
     "Evan,\n\nThe pilot is confirmed, trackers ship Monday.\n\nSam"),
    (39, "evan", "in", "Re: Tracking pilot - order",
     "Great, thanks Sam!\n\nEvan"),
]  # fmt: skip
NOISE = [
    (5, ("Newsletter", "news@newsletter.example.com"), "in", "This week in logistics"),
    (2, ("Unknown", "random.person@example.org"), "in", "Quick question"),
]


def _say(text):
    sys.stdout.write(f"demo_mail: {text}\n")


def _quote(name, text):
    """The quoted original a mail client puts under a reply."""
    lines = "\n".join(f"> {line}".rstrip() for line in text.splitlines())
    return f"\n\n{name} wrote:\n{lines}"


def _messages(owner, history, noise=()):
    from mail_sync_testing import make_message

    now = datetime.now(timezone.utc)
    tag = owner[1].split("@")[0]
    inbox, sent = [], []
    by_subject = {}  # a reply ("Re: ...") answers the email of that subject
    for i, (days, who, direction, subject, text) in enumerate(history):
        contact = CONTACTS[who]
        sender, recipient = (contact, owner) if direction == "in" else (owner, contact)
        message_id = f"<demo-{tag}-{i}@mailsync-demo.example.com>"
        parent = by_subject.get(subject.removeprefix("Re: "))
        by_subject.setdefault(subject, (message_id, sender[0], text))
        raw = make_message(
            sender,
            recipient,
            subject=subject,
            text=text + (_quote(*parent[1:]) if parent else ""),
            date=now - timedelta(days=days, hours=i),
            message_id=message_id,
            in_reply_to=parent and parent[0],
        )
        (inbox if direction == "in" else sent).append((raw, now - timedelta(days=days)))
    for i, (days, sender, _direction, subject) in enumerate(noise):
        raw = make_message(
            sender,
            owner,
            subject=subject,
            date=now - timedelta(days=days),
            message_id=f"<demo-noise-{i}@mailsync-demo.example.com>",
        )
        inbox.append((raw, now - timedelta(days=days)))
    return inbox, sent


def _log_smtp(smtp, stopped):
    """Say, in the demo mail log, each mail the SMTP server accepts."""
    seen = 0
    while not stopped.wait(1):
        for received in smtp.messages[seen:]:
            _say(
                f"SMTP accepted mail from {received.mail_from} to "
                f"{', '.join(received.rcpt_tos)} (signed in as {received.auth_user}, "
                f"TLS {'on' if received.tls else 'off'}, {len(received.data)} bytes)"
            )
            seen += 1
        sys.stdout.flush()


def serve(state_file):
    from mail_sync_testing import DovecotServer, SmtpServer

    # Dovecot tells an IDLE client of new mail at once through inotify, but only
    # while its user (nobody) has inotify instances left (128 by default, shared
    # with every other Dovecot on the machine); past that it looks every 30 s.
    # The demo's new email shows within seconds either way.
    imap = DovecotServer(extra="mailbox_idle_check_interval = 1 secs")
    smtp = SmtpServer()
    imap.start()
    smtp.start()
    stopped = threading.Event()

    def stop(*_args):
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for login, password, owner, history, noise in (
            (LOGIN, PASSWORD, SALLY, HISTORY, NOISE),
            (SAM_LOGIN, SAM_PASSWORD, SAM, HISTORY_SAM, ()),
        ):
            imap.add_user(login, password)
            smtp.add_user(login, password)
            inbox, sent = _messages(owner, history, noise)
            imap.fill_maildir(login, "INBOX", inbox)
            imap.fill_maildir(login, "Sent", sent)
        # The demo's SMTP server delivers mail for Sally's and Sam's addresses
        # to their Inbox, as a provider does: Connect's address confirmation
        # arrives there.
        smtp.deliver_to(imap, {SALLY[1]: LOGIN, SAM[1]: SAM_LOGIN})
        threading.Thread(target=_log_smtp, args=(smtp, stopped), daemon=True).start()
        state = {
            "host": imap.host,
            "imap_port": imap.ssl_port,
            "smtp_port": smtp.ssl_port,
            "login": LOGIN,
            "password": PASSWORD,
            "sam_login": SAM_LOGIN,
            "sam_password": SAM_PASSWORD,
            "pid": os.getpid(),
        }
        tmp = state_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, state_file)
        stopped.wait()
    finally:
        imap.stop()
        smtp.stop()
        if os.path.exists(state_file):
            os.unlink(state_file)


def _connect_mailbox(env, user, address, login, password, state):
    """Connect ``user``'s mailbox to the demo server (as the user, tested for
    real) and run one sync. The demo server is on loopback, which only an
    administrator may allow mailboxes to reach (system parameter
    mail_sync_crm.allowed_hosts)."""
    env["ir.config_parameter"].sudo().set_param(
        "mail_sync_crm.allowed_hosts", state["host"]
    )
    Account = env["mail.sync.account"].with_user(user)
    account = Account.search([("user_id", "=", user.id)])
    if account.state != "draft" and account:
        account.action_disable(keep_history=True)  # new certificate each run
    values = {
        "provider": "custom",
        "email": address,
        "imap_host": state["host"],
        "imap_port": state["imap_port"],
        "imap_encryption": "ssl",
        "imap_allow_self_signed": True,
        "imap_login": login,
        "imap_password": password,
        "smtp_host": state["host"],
        "smtp_port": state["smtp_port"],
        "smtp_encryption": "ssl",
        "smtp_allow_self_signed": True,
        "smtp_same_credentials": True,
    }
    if account:
        account.write(values)
    else:
        account = Account.create(values)
    account.action_connect()
    account.env["mail.sync.scheduler"]._claim_turn(account.sudo())
    count = account.synced_count
    _say(f"{user.name}'s mailbox is {account.state}, {count} synced emails")
    return account


def _send_smart_mail(env, sally):
    """Sally writes to Alice from the Acme opportunity (no contact yet): the mail
    leaves through Sally's own SMTP server, which the demo mail log records."""
    from odoo.tools.mail import formataddr

    lead = env.ref("mail_sync_crm.demo_opportunity_acme").with_user(sally)
    subject = env._("Phase 2 planning")
    if lead.message_ids.filtered(
        lambda m: m.subject == subject and m.author_id == sally.partner_id
    ):
        _say("Smart Mail already sent by an earlier make run; not sent again")
        return
    named = formataddr((lead.contact_name or "", lead.email_from))
    partners = lead.partner_id or lead._mail_sync_recipient_partners([named])
    lead.message_post(
        body=env._("Hello Alice, the revised phase 2 planning is ready. Sally"),
        subject=subject,
        partner_ids=partners.ids,
        message_type="comment",
        subtype_xmlid="mail.mt_comment",
    )
    env["mail.mail"].sudo().process_email_queue()
    _say(f"Smart Mail sent from Sally to {', '.join(partners.mapped('email'))}")


def connect(conf, db, state_file):
    import odoo
    from odoo import SUPERUSER_ID, api

    with open(state_file) as fh:
        state = json.load(fh)
    odoo.tools.config.parse_config(["-c", conf, "-d", db, "--no-http"])
    registry = odoo.modules.registry.Registry(db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        sally = env.ref("mail_sync_crm.demo_user_sally", raise_if_not_found=False)
        if not sally:
            _say("no demo user (database without demo data); skipped")
            return
        _connect_mailbox(env, sally, SALLY[1], state["login"], state["password"], state)
        sam = env.ref("mail_sync_crm.demo_user_sam", raise_if_not_found=False)
        if sam:
            _connect_mailbox(
                env, sam, SAM[1], state["sam_login"], state["sam_password"], state
            )
        _send_smart_mail(env, sally)


def append(state_file, subject="Phase 2: the board said yes"):
    """A new email from Alice in Sally's Inbox, APPENDed over IMAP as a mail
    server's delivery would put it there."""
    import ssl

    from imapclient import IMAPClient

    from mail_sync_testing import make_message

    with open(state_file) as fh:
        state = json.load(fh)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the demo server's own certificate
    raw = make_message(
        CONTACTS["alice"][1],
        SALLY[1],
        subject=subject,
        text="Sally,\n\nThe board approved phase 2. Let's sign next week.\n\nAlice",
    )
    client = IMAPClient(
        state["host"], port=state["imap_port"], ssl=True, ssl_context=context
    )
    try:
        client.login(state["login"], state["password"])
        client.append("INBOX", raw)
    finally:
        client.logout()
    _say(f"appended {subject!r} from Alice to Sally's Inbox")


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["help"]
    if command == "serve" and len(args) == 1:
        serve(*args)
    elif command == "connect" and len(args) == 3:
        connect(*args)
    elif command == "append" and len(args) in (1, 2):
        append(*args)
    else:
        sys.exit(__doc__)
