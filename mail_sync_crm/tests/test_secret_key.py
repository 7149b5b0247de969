# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The key of the mailbox secrets across real Odoo processes: restarts,
read-only configuration files, workers starting together, a changed or lost
key, an unwritable data directory, rotation; and connect in the transaction
that created the mailbox. Each process is ``odoo-bin shell`` on a throwaway
copy of the test database."""

import glob
import os
import stat

from odoo.tests import tagged

from mail_sync_testing import DovecotServer

from ..lib import errors
from ..lib.secrets import crypto, secret_key
from .common import PASSWORD
from .odoo_process_case import OdooProcessCase
from .odoo_processes import write_config

FINGERPRINT_PARAM = "mail_sync_crm.secret_key_fingerprint"


@tagged("post_install", "-at_install")
class TestSecretKeyAcrossProcesses(OdooProcessCase):
    LOGINS = ("keeper_a", "keeper_b")

    def setUp(self):
        super().setUp()
        # What the database had from earlier tests goes: mailboxes, fingerprint.
        self.db.sql(
            "DELETE FROM mail_sync_account; DELETE FROM ir_config_parameter "
            "WHERE key = :'p1'",
            FINGERPRINT_PARAM,
        )

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def key_files(self, data_dir=None):
        directory = os.path.join(data_dir or self.data_dir, secret_key.KEY_DIR)
        return sorted(os.listdir(directory)) if os.path.isdir(directory) else []

    def key_path(self, data_dir=None):
        return secret_key.key_path(data_dir or self.data_dir, self.db.name)

    def stored_fingerprint(self):
        rows = self.db.sql(
            "SELECT value FROM ir_config_parameter WHERE key = :'p1'",
            FINGERPRINT_PARAM,
        )
        return rows[0][0] if rows else None

    def assert_no_startup_error(self, log):
        self.assertNotIn(" ERROR ", log)

    def described(self, code):
        return errors.describe(errors.MailSyncError(code))

    # ------------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------------
    def test_restart_decrypts_what_the_first_process_stored(self):
        """A read-only configuration file (a Docker or Kubernetes config map):
        the key is kept in the data directory, and a restart still reads the
        password stored before."""
        results, log = self.run_odoo(
            """
            account = mailbox("keeper_a")
            env.cr.commit()
            result(stored=bool(account.sudo().imap_secret))
            """
        )
        self.assertTrue(results["stored"])
        self.assert_no_startup_error(log)
        results, log = self.run_odoo(
            """
            account = mailbox("keeper_a")
            Key = env["mail.sync.secret.key"]
            result(same=Key._read(account, "imap_secret") == ARGS["password"])
            account.with_user(account.user_id).action_connect()
            result(state=account.state)
            """
        )
        self.assert_no_startup_error(log)
        self.assertEqual(results, {"same": True, "state": "enabled"})
        self.assert_config_untouched()
        self.assertEqual(self.key_files(), [f"{self.db.name}.key"])
        mode = os.stat(self.key_path()).st_mode
        self.assertEqual(stat.S_IMODE(mode), 0o600)
        key = secret_key.read_key_file(self.key_path())
        self.assertEqual(self.stored_fingerprint(), secret_key.fingerprint(key))
        found = self.db.sql(
            "SELECT count(*) FROM ir_config_parameter WHERE value LIKE :'p1'",
            f"%{key}%",
        )
        self.assertEqual(found, [["0"]], "the key is not in the database")

    def test_workers_starting_together_make_one_key(self):
        """Two processes start at once without any key: one key is made, and
        each decrypts the password the other stored."""
        script = """
            me, other = ARGS["me"], ARGS["other"]
            account = mailbox(me)
            env.cr.commit()
            open(os.path.join(ARGS["workdir"], me + ".stored"), "w").close()
            wait_for(os.path.join(ARGS["workdir"], other + ".stored"))
            env.cr.commit()  # a new transaction sees the other's mailbox
            theirs = env["mail.sync.account"].search([("user_id.login", "=", other)])
            from odoo.addons.mail_sync_crm.lib.secrets import secret_key
            result(
                read_other=env["mail.sync.secret.key"]._read(theirs, "imap_secret")
                == ARGS["password"],
                fingerprint=secret_key.fingerprint(env["mail.sync.secret.key"]._key()),
            )
        """
        first = self.start(script, me=self.LOGINS[0], other=self.LOGINS[1])
        second = self.start(script, me=self.LOGINS[1], other=self.LOGINS[0])
        (one, log_one), (two, log_two) = first.finish(), second.finish()
        self.assertTrue(one["read_other"])
        self.assertTrue(two["read_other"])
        self.assertEqual(one["fingerprint"], two["fingerprint"])
        self.assertEqual(self.key_files(), [f"{self.db.name}.key"])
        self.assertEqual(self.stored_fingerprint(), one["fingerprint"])
        self.assert_no_startup_error(log_one + log_two)
        self.assert_config_untouched()

    def test_changed_key_says_secret_key_mismatch(self):
        """Restarted with another key: start-up logs an ERROR naming the fix,
        connect and sync say secret_key_mismatch with its hint, never "wrong
        login or password"."""
        results, _log = self.run_odoo(
            """
            account = mailbox("keeper_a")
            account.with_user(account.user_id).action_connect()
            env.cr.commit()
            result(state=account.state)
            """
        )
        self.assertEqual(results["state"], "enabled")
        results, log = self.run_odoo(
            """
            account = mailbox("keeper_a")
            kind, text = error_of(account.with_user(account.user_id).action_connect)
            env["mail.sync.scheduler"]._claim_turn(account.sudo())
            result(kind=kind, text=text, state=account.state,
                   last_error=account.last_error,
                   codes=account.sudo().log_ids.mapped("code"))
            """,
            env={secret_key.ENV_VAR: crypto.generate_key()},
        )
        message, hint = self.described("secret_key_mismatch")
        self.assertEqual(results["kind"], "UserError")
        self.assertIn(message, results["text"])
        self.assertIn(hint, results["text"])
        self.assertEqual(results["codes"], ["secret_key_mismatch"] * 2)
        self.assertEqual(results["last_error"], message)
        self.assertEqual(results["state"], "error")
        self.assertNotIn("wrong login or password", str(results))
        self.assertRegex(log, r" ERROR .*mail_sync_crm.*MAIL_SYNC_CRM_KEY")
        self.assert_config_untouched()

    def test_lost_key_is_never_replaced_silently(self):
        """The data directory did not survive the restart: no new key is made
        while passwords exist; start-up and connect say the key is missing; the
        operator's reset erases the passwords, which work again once typed."""
        self.run_odoo('mailbox("keeper_a"); env.cr.commit()')
        fresh_data_dir = os.path.join(self.workdir, "fresh-data")
        conf = os.path.join(self.workdir, "etc-fresh", "odoo.conf")
        write_config(conf, self.db.name, fresh_data_dir)
        results, log = self.run_odoo(
            """
            account = mailbox("keeper_a")
            user = account.user_id
            kind, text = error_of(account.with_user(user).action_connect)
            result(kind=kind, text=text, key_files=os.listdir(ARGS["key_dir"])
                   if os.path.isdir(ARGS["key_dir"]) else [])
            reset = env["mail.sync.secret.key"]._rotate(
                forget_undecryptable=True)
            env.cr.commit()
            result(forgotten=reset["forgotten"], password_set=account.imap_password_set)
            account.with_user(user).write({"imap_password": ARGS["password"]})
            account.with_user(user).action_connect()
            result(state=account.state)
            """,
            conf=conf,
            key_dir=os.path.join(fresh_data_dir, secret_key.KEY_DIR),
        )
        message, hint = self.described("secret_key_unavailable")
        self.assertEqual(results["kind"], "UserError")
        self.assertIn(message, results["text"])
        self.assertIn(hint, results["text"])
        self.assertEqual(results["key_files"], [], "no new key while passwords exist")
        self.assertRegex(log, r" ERROR .*mail_sync_crm.*MAIL_SYNC_CRM_KEY")
        self.assertEqual(results["forgotten"], 1)
        self.assertFalse(results["password_set"])
        self.assertEqual(results["state"], "enabled")
        key = secret_key.read_key_file(self.key_path(fresh_data_dir))
        self.assertEqual(self.stored_fingerprint(), secret_key.fingerprint(key))

    def test_unwritable_data_dir_fails_loudly(self):
        """No key set and nowhere to keep one: start-up logs an ERROR naming the
        fix, and storing a password refuses, saying the same."""
        blocker = os.path.join(self.workdir, "not-a-directory")
        open(blocker, "w").close()
        conf = os.path.join(self.workdir, "etc-blocked", "odoo.conf")
        write_config(conf, self.db.name, os.path.join(blocker, "data"))
        results, log = self.run_odoo(
            """
            kind, text = error_of(lambda: mailbox("keeper_a"))
            result(kind=kind, text=text)
            """,
            conf=conf,
        )
        message, hint = self.described("secret_key_unavailable")
        self.assertEqual(results["kind"], "UserError")
        self.assertIn(message, results["text"])
        self.assertIn(hint, results["text"])
        self.assertRegex(log, r" ERROR .*mail_sync_crm.*MAIL_SYNC_CRM_KEY")
        self.assertIsNone(self.stored_fingerprint())

    def test_rotation_reencrypts_every_secret(self):
        """Rotation from odoo-bin shell re-encrypts the IMAP and SMTP passwords
        with a new key, which replaces the key file once committed; a restart
        reads them and connects."""
        self.run_odoo(
            """
            mailbox("keeper_a", smtp_same_credentials=False, smtp_login="keeper_a",
                    smtp_password=ARGS["password"])
            env.cr.commit()
            """
        )
        old_key = secret_key.read_key_file(self.key_path())
        tokens = self.db.sql("SELECT imap_secret, smtp_secret FROM mail_sync_account")
        results, _log = self.run_odoo(
            """
            user = mailbox("keeper_a").user_id
            kind, _text = error_of(
                env["mail.sync.secret.key"].with_user(user)._rotate)
            rotated = env["mail.sync.secret.key"]._rotate()
            env.cr.commit()
            result(kind=kind, fingerprint=rotated["fingerprint"],
                   reencrypted=rotated["reencrypted"], key_file=rotated["key_file"])
            """
        )
        self.assertEqual(results["kind"], "AccessError", "only server code rotates")
        self.assertEqual(results["reencrypted"], 2)
        self.assertEqual(results["key_file"], self.key_path())
        new_key = secret_key.read_key_file(self.key_path())
        self.assertEqual(secret_key.fingerprint(new_key), results["fingerprint"])
        self.assertNotEqual(new_key, old_key)
        self.assertEqual(self.stored_fingerprint(), results["fingerprint"])
        retired = glob.glob(self.key_path() + ".retired-*")
        self.assertEqual(len(retired), 1)
        self.assertEqual(secret_key.read_key_file(retired[0]), old_key)
        new_tokens = self.db.sql(
            "SELECT imap_secret, smtp_secret FROM mail_sync_account"
        )
        self.assertNotEqual(new_tokens, tokens)
        for token in new_tokens[0]:
            self.assertEqual(crypto.decrypt(new_key, token), PASSWORD)
        results, log = self.run_odoo(
            """
            account = mailbox("keeper_a")
            account.with_user(account.user_id).action_connect()
            result(state=account.state,
                   smtp=env["mail.sync.secret.key"]._read(account, "smtp_secret")
                   == ARGS["password"])
            """
        )
        self.assertEqual(results, {"state": "enabled", "smtp": True})
        self.assert_no_startup_error(log)
        self.assert_config_untouched()

    def test_connect_in_the_transaction_that_created_the_mailbox(self):
        """A script (or an import, a server action) creates a mailbox and
        connects it at once: a failure is the UserError with its hint, and its
        log entry is kept once the script commits."""
        with DovecotServer() as gone:
            closed_port = gone.ssl_port
        results, _log = self.run_odoo(
            """
            account = mailbox("keeper_a", imap_port=ARGS["closed_port"])
            try:
                account.with_user(account.user_id).action_connect()
                kind, text = None, None
            except Exception as exc:
                kind, text = kind_of(exc), str(exc)
            codes = account.sudo().log_ids.mapped("code")
            env.cr.commit()
            result(kind=kind, text=text, codes=codes)
            """,
            closed_port=closed_port,
        )
        self.assertEqual(results["kind"], "UserError", results["text"])
        self.assertIn("How to fix it", results["text"])
        self.assertEqual(results["codes"], ["host_unreachable"])
        self.assertEqual(
            self.db.sql("SELECT code FROM mail_sync_log"), [["host_unreachable"]]
        )
