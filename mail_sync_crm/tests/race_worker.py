# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A separate Odoo process for the concurrency tests (``test_concurrency.py``).

Run as ``python race_worker.py CONFIG DATABASE LOGFILE``: it loads the registry of
DATABASE once, then answers commands, one JSON object per line on stdin, with one
JSON object per line on stdout (Odoo logs to LOGFILE):

* ``{"cmd": "setup", "users": [...], "leads": [...], "servers": {...}}``: creates
  the users and leads and connects each user's mailbox (``action_connect``, real
  IMAP and SMTP), committed; answers their ids.
* ``{"cmd": "begin"}``: opens a transaction and reads the mailboxes in it, as any
  caller does before it calls the sync (a cron job reads its server action, a
  request its session), and keeps it for the next command.
* ``{"cmd": "cron", "batch_size": n}``: ``mail.sync.scheduler._cron_sync()``.
* ``{"cmd": "sync_now", "login": l}``: ``action_sync_now()`` as that user.
* ``{"cmd": "quit"}``.

Every answer carries ``ok`` and, when the call raised, ``error`` (the traceback).
"""

import json
import sys
import traceback


def _load(config_path, database, logfile):
    import odoo
    from odoo.modules.module import initialize_sys_path
    from odoo.tools import config

    config.parse_config(
        ["-c", config_path, "-d", database, f"--logfile={logfile}", "--no-http"],
        setup_logging=True,
    )
    initialize_sys_path()
    return odoo.modules.registry.Registry(database)


def _setup(env, command):
    from odoo import Command

    groups = env.ref("base.group_user") | env.ref("sales_team.group_sale_salesman")
    users = {}
    for login, email, _password in command["users"]:
        users[login] = (
            env["res.users"]
            .with_context(no_reset_password=True)
            .create(
                {
                    "name": login,
                    "login": login,
                    "email": email,
                    "groups_id": [Command.set(groups.ids)],
                }
            )
        )
    leads = env["crm.lead"].create(
        [
            {"name": name, "type": kind, "email_from": email}
            for name, kind, email in command["leads"]
        ]
    )
    # No mail is delivered to the test mailboxes: Connect's address
    # confirmation looks once, without waiting for it (lib/sending/address_proof.py).
    env["ir.config_parameter"].sudo().set_param(
        "mail_sync_crm.address_proof_seconds", "0"
    )
    env.cr.commit()  # the leads exist before the mailboxes connect
    servers = command["servers"]
    accounts = {}
    for login, email, password in command["users"]:
        account = (
            env["mail.sync.account"]
            .with_user(users[login])
            .create(
                {
                    "provider": "custom",
                    "email": email,
                    "imap_host": servers["host"],
                    "imap_port": servers["imap_port"],
                    "imap_encryption": "ssl",
                    "imap_allow_self_signed": True,
                    "imap_login": login,
                    "imap_password": password,
                    "smtp_host": servers["host"],
                    "smtp_port": servers["smtp_port"],
                    "smtp_encryption": "ssl",
                    "smtp_allow_self_signed": True,
                    "smtp_same_credentials": True,
                }
            )
        )
        account.action_connect()
        env.cr.commit()  # each connect is kept, as a user's click would be
        accounts[login] = account.id
    return {"accounts": accounts, "leads": leads.ids}


def _run(env, command):
    Account = env["mail.sync.account"]
    if command.get("batch_size"):
        Account = Account.with_context(mail_sync_batch_size=command["batch_size"])
    if command["cmd"] == "cron":
        Account.env["mail.sync.scheduler"]._cron_sync()
        return {}
    if command["cmd"] == "sync_now":
        user = env["res.users"].search([("login", "=", command["login"])])
        account = Account.with_user(user).search([("user_id", "=", user.id)])
        action = account.action_sync_now()
        return {"notification": action.get("params", {})}
    if command["cmd"] == "setup":
        return _setup(env, command)
    raise ValueError(f"unknown command {command['cmd']!r}")


def main(config_path, database, logfile):
    from odoo import SUPERUSER_ID, api

    registry = _load(config_path, database, logfile)
    sys.stdout.write(json.dumps({"ok": True, "ready": True}) + "\n")
    sys.stdout.flush()
    cursor = None
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        answer = {"ok": True}
        if cursor is None:
            cursor = registry.cursor()
        env = api.Environment(cursor, SUPERUSER_ID, {})
        try:
            if command["cmd"] == "begin":
                answer["mailboxes"] = env["mail.sync.account"].search_count([])
                sys.stdout.write(json.dumps(answer) + "\n")
                sys.stdout.flush()
                continue  # the transaction stays open for the next command
            answer.update(_run(env, command))
            cursor.commit()
        except Exception:  # noqa: BLE001 - reported to the test, which fails
            answer = {"ok": False, "error": traceback.format_exc()}
            cursor.rollback()
        cursor.close()
        cursor = None
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(*sys.argv[1:4])
