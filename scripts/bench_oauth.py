#!/usr/bin/env python3
# A command-line benchmark reports on stdout.
# pylint: disable=print-used
"""Benchmark of the extra time an OAuth mailbox's idle sync run takes over a
password mailbox's: token still valid, and a refresh due at every run.

Usage (from the repository root)::

    .venv/bin/python scripts/bench_oauth.py [--rounds 15]
        [--database mail_sync_bench_oauth] [--skip-install]

What it does: installs or updates the addon in ``--database`` (unless
``--skip-install``); starts a local authorization server (``OAuthServer``) and
a Dovecot that checks its tokens itself (``DovecotServer(oauth=...)``), both on
loopback; creates two salespeople with an enabled mailbox each on that Dovecot
(folders tracked, three messages in the Inbox already synced): one signs in
with a password, the other with OAuth tokens obtained through the real code
flow. Then, per round, in alternating order, times a turn
(``mail.sync.scheduler._claim_turn``; an idle run: nothing new) of:

* ``password``: the password mailbox;
* ``oauth``: the OAuth mailbox, its access token valid;
* ``oauth+refresh``: the OAuth mailbox with its token due (a refresh on a
  cursor of its own, the rotated tokens committed, then the run).

Everything is committed (the refresh needs it) and removed at the end. Prints
each run and the medians, and the extra time of each OAuth variant.
"""

import argparse
import statistics
import sys
import time
import uuid

from benchkit import odoo_db

ODOO_LOG = "/tmp/bench-oauth-odoo.log"
INSTALL_LOG = "/tmp/bench-oauth-install.log"
PASSWORD = "B3nch-OAuth-pa55!"
RUN = uuid.uuid4().hex[:6]  # fresh users at each run (archived at the end)
LOGINS = {"password": f"bench_oauth_pw_{RUN}", "oauth": f"bench_oauth_tok_{RUN}"}
CUSTOMER = "ceo@prospect-bench.example"


def install(database):
    odoo_db.install(database, INSTALL_LOG)


def configure_odoo(database):
    odoo_db.configure_odoo(database, ODOO_LOG)


def set_params(env, auth):
    from odoo.addons.mail_sync_crm.lib.oauth.providers import CLIENT_PARAMS, param_name

    params = env["ir.config_parameter"].sudo()
    old = {}
    values = {
        "web.base.url": "http://127.0.0.1:8069",
        # the bench's servers are on loopback, which an administrator allows
        "mail_sync_crm.allowed_hosts": "127.0.0.1",
    }
    for provider, (id_param, secret_param) in CLIENT_PARAMS.items():
        values[id_param] = auth.client_id
        values[secret_param] = auth.client_secret
        for kind, url in auth.urls.items():
            values[param_name(provider, kind)] = url
    for key, value in values.items():
        old[key] = params.get_param(key)
        params.set_param(key, value)
    return old


def make_accounts(env, imap, auth):
    from odoo import Command, fields

    from odoo.addons.mail_sync_crm.lib.oauth import client as oauth
    from odoo.addons.mail_sync_crm.lib.oauth.providers import get_provider

    from mail_sync_testing import make_message

    groups = env.ref("base.group_user") | env.ref("sales_team.group_sale_salesman")
    env["crm.lead"].create({"name": "Bench OAuth lead", "email_from": CUSTOMER})
    accounts = {}
    for variant, login in LOGINS.items():
        email = f"{login}@bench-oauth.example"
        user = env["res.users"].create(
            {
                "name": login,
                "login": login,
                "email": email,
                "groups_id": [Command.set(groups.ids)],
            }
        )
        values = {
            "provider": "custom" if variant == "password" else "gmail",
            "email": email,
            "imap_host": imap.host,
            "imap_port": imap.ssl_port,
            "imap_encryption": "ssl",
            "imap_allow_self_signed": True,
            "smtp_host": imap.host,
            "smtp_port": 1,
        }
        mailbox = login if variant == "password" else email
        if variant == "password":
            imap.add_user(login, PASSWORD)
            values.update(imap_login=login, imap_password=PASSWORD)
        else:
            imap.add_user(email, PASSWORD)
        for number in range(3):
            raw = make_message(CUSTOMER, email, subject=f"Bench {number}")
            imap.append(mailbox, "INBOX", raw)
        account = env["mail.sync.account"].with_user(user).create(values)
        if variant == "oauth":
            client = oauth.OAuthClient(
                get_provider("google", urls=auth.urls),
                auth.client_id,
                auth.client_secret,
                env["mail.sync.oauth"]._redirect_uri(),
            )
            auth.add_user(email)
            auth.user = email
            request = client.authorization_request("bench", login_hint=email)
            code = oauth.parse_callback(auth.authorize(request.url))
            env["mail.sync.oauth.token"]._store(
                account, client.exchange_code(code, request.code_verifier)
            )
        account.sudo().write(
            {"state": "enabled", "connected_date": fields.Datetime.now()}
        )
        env["mail.sync.folder"]._ensure_for(account)
        accounts[variant] = account.sudo()
    return accounts


def run_once(env, account, due):
    from odoo import fields

    if due:
        env["mail.sync.oauth.token"]._of(account).expires_at = fields.Datetime.now()
        env.cr.commit()  # the refresh locks the row on a cursor of its own
    start = time.perf_counter()
    ok = env["mail.sync.scheduler"]._claim_turn(account) is None
    elapsed = time.perf_counter() - start
    env.cr.commit()
    if not ok:
        raise RuntimeError(f"the sync of {account.email} failed: {account.last_error}")
    return elapsed


def measure(args):
    configure_odoo(args.database)

    import odoo
    from odoo import SUPERUSER_ID, api

    from mail_sync_testing import DovecotServer, OAuthServer

    registry = odoo.modules.registry.Registry(args.database)
    times = {"password": [], "oauth": [], "oauth+refresh": []}
    with (
        OAuthServer() as auth,
        DovecotServer(oauth=auth) as imap,
        registry.cursor() as cr,
    ):
        env = api.Environment(cr, SUPERUSER_ID, {})
        old_params = set_params(env, auth)
        accounts = make_accounts(env, imap, auth)
        env.cr.commit()
        try:
            # Warm-up (historical sync of the three messages, TLS, caches).
            for account in accounts.values():
                run_once(env, account, due=False)
            variants = [
                ("password", accounts["password"], False),
                ("oauth", accounts["oauth"], False),
                ("oauth+refresh", accounts["oauth"], True),
            ]
            for round_ in range(args.rounds):
                order = variants if round_ % 2 == 0 else variants[::-1]
                for name, account, due in order:
                    elapsed = run_once(env, account, due)
                    times[name].append(elapsed)
                    print(f"round {round_ + 1} {name:13}: {elapsed * 1000:7.1f} ms")
            refreshes = auth.count("/token", grant_type="refresh_token")
        finally:
            env.cr.rollback()
            for account in accounts.values():
                user = account.user_id
                account.with_user(user).action_disable(keep_history=False)
                env["mail.sync.account"].browse(account.id).unlink()
                env["res.users"].browse(user.id).active = False
            env["crm.lead"].search([("email_from", "=", CUSTOMER)]).unlink()
            params = env["ir.config_parameter"].sudo()
            for key, value in old_params.items():
                params.set_param(key, value or False)
            env.cr.commit()
    medians = {name: statistics.median(values) for name, values in times.items()}
    print()
    for name, value in medians.items():
        print(f"median {name:13}: {value * 1000:7.1f} ms")
    for name in ("oauth", "oauth+refresh"):
        extra = medians[name] - medians["password"]
        print(f"extra  {name:13}: {extra * 1000:+7.1f} ms over the password mailbox")
    print(f"refresh requests: {refreshes} (one per oauth+refresh run expected)")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--database", default="mail_sync_bench_oauth")
    parser.add_argument("--skip-install", action="store_true")
    args = parser.parse_args()
    if not args.skip_install:
        install(args.database)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
