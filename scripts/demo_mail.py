"""The demo mail server of `make run`, and the demo salesperson's mailbox.

demo_mail.py serve STATE_FILE     real Dovecot (IMAP) + aiosmtpd (SMTP) on loopback,
                                  seeded with Sally's conversation history; runs
                                  until SIGTERM/SIGINT
demo_mail.py connect CONF DB STATE_FILE
                                  connects Sally's mailbox in DB to that server
                                  (as Sally, tested for real) and runs one sync
"""

import json
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "mail_sync_crm"))

SALLY = ("Sally Sales", "sally@mailsync-demo.example.com")
LOGIN, PASSWORD = "sally", "sally-mail-demo"
CONTACTS = {
    "alice": ("Alice Martin", "alice.martin@acme.example.com"),
    "bruno": ("Bruno Keller", "b.keller@globex.example.com"),
    "chloe": ("Chloé Dubois", "chloe.dubois@initech.example.com"),
    "dmitri": ("Dmitri Volkov", "d.volkov@umbrella.example.com"),
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
NOISE = [
    (5, ("Newsletter", "news@newsletter.example.com"), "in", "This week in logistics"),
    (2, ("Unknown", "random.person@example.org"), "in", "Quick question"),
]


def _say(text):
    sys.stdout.write(f"demo_mail: {text}\n")


def _messages():
    from lib.testing import make_message

    now = datetime.now(timezone.utc)
    inbox, sent = [], []
    for i, (days, who, direction, subject, text) in enumerate(HISTORY):
        contact = CONTACTS[who]
        sender, recipient = (contact, SALLY) if direction == "in" else (SALLY, contact)
        raw = make_message(
            sender,
            recipient,
            subject=subject,
            text=text,
            date=now - timedelta(days=days, hours=i),
            message_id=f"<demo-{i}@mailsync-demo.example.com>",
        )
        (inbox if direction == "in" else sent).append((raw, now - timedelta(days=days)))
    for i, (days, sender, _direction, subject) in enumerate(NOISE):
        raw = make_message(
            sender,
            SALLY,
            subject=subject,
            date=now - timedelta(days=days),
            message_id=f"<demo-noise-{i}@mailsync-demo.example.com>",
        )
        inbox.append((raw, now - timedelta(days=days)))
    return inbox, sent


def serve(state_file):
    from lib.testing import DovecotServer, SmtpServer

    imap, smtp = DovecotServer(), SmtpServer()
    imap.start()
    smtp.start()
    stopped = threading.Event()

    def stop(*_args):
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        imap.add_user(LOGIN, PASSWORD)
        smtp.add_user(LOGIN, PASSWORD)
        inbox, sent = _messages()
        imap.fill_maildir(LOGIN, "INBOX", inbox)
        imap.fill_maildir(LOGIN, "Sent", sent)
        state = {
            "host": imap.host,
            "imap_port": imap.ssl_port,
            "smtp_port": smtp.ssl_port,
            "login": LOGIN,
            "password": PASSWORD,
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
        Account = env["mail.sync.account"].with_user(sally)
        account = Account.search([("user_id", "=", sally.id)])
        if account.state != "draft" and account:
            account.action_disable(keep_history=True)  # new certificate each run
        values = {
            "provider": "custom",
            "email": SALLY[1],
            "imap_host": state["host"],
            "imap_port": state["imap_port"],
            "imap_encryption": "ssl",
            "imap_allow_self_signed": True,
            "imap_login": state["login"],
            "imap_password": state["password"],
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
        account.sudo()._sync_mailbox(auto_commit=True)
        _say(
            f"Sally's mailbox is {account.state}, {account.synced_count} synced emails"
        )


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["help"]
    if command == "serve" and len(args) == 1:
        serve(*args)
    elif command == "connect" and len(args) == 3:
        connect(*args)
    else:
        sys.exit(__doc__)
