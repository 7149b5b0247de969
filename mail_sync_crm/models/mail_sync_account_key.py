# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The key of the mailbox secrets: one per database deployment, never lost.

The key is, in this order:

1. the environment variable ``MAIL_SYNC_CRM_KEY``, or the option
   ``mail_sync_crm_key`` of Odoo's configuration file (set by the operator;
   when both are set they must hold the same key);
2. else the key file ``<data_dir>/mail_sync_crm/<database>.key``, made once
   when there is none: under a database-wide lock, written atomically and
   exclusively (``lib/secrets/secret_key.py``) where every worker and every server
   sharing the data directory finds it. The configuration file is never
   written.

The fingerprint of the key the stored secrets were made with is kept in the
system parameter ``mail_sync_crm.secret_key_fingerprint``. Start-up (each
worker's registry load), storing and reading a secret compare it with the key
found: a key that differs or cannot be found or kept fails loudly, naming the
fix (an ERROR in the server log, a ``secret_key_mismatch`` or
``secret_key_unavailable`` error for connect and sync), instead of a new key
that silently leaves the stored passwords undecryptable.
"""

import logging
import os

from odoo import api, models
from odoo.tools import config

from ..lib import errors
from ..lib.secrets import crypto, secret_key

_logger = logging.getLogger(__name__)

FINGERPRINT_PARAM = "mail_sync_crm.secret_key_fingerprint"
# pg_advisory locks (namespace, id). KEY_LOCK: making the key, recording its
# fingerprint, rotating it. SECRETS_LOCK: shared by every transaction storing a
# secret, exclusive for a rotation (so no secret is stored with a retired key).
KEY_LOCK_NAMESPACE = 0x6D6B
KEY_LOCK = 1
SECRETS_LOCK = 2
SECRET_FIELDS = ("imap_secret", "smtp_secret")


def key_error(code, detail):
    """A ``secret_key_*`` MailSyncError (``detail`` names files and fingerprints,
    never a key)."""
    return errors.MailSyncError(code, detail)


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    # ------------------------------------------------------------------
    # Start-up
    # ------------------------------------------------------------------
    def _register_hook(self):
        super()._register_hook()
        if self.pool.ready or self.pool.updated_modules:
            # A running registry set up again, or modules installed/updated in
            # this load (their tables are not committed yet): the check runs at
            # the next start, and before any secret is stored.
            return
        try:
            self._ensure_secret_key()
        except errors.MailSyncError as err:
            message, hint = errors.describe(err)
            _logger.error(
                "mail_sync_crm: %s %s (database %s: %s)",
                message,
                hint,
                self.env.cr.dbname,
                err.detail,
            )
        except Exception:
            _logger.exception("mail_sync_crm: checking the mailbox secret key failed")

    # ------------------------------------------------------------------
    # Where the key is
    # ------------------------------------------------------------------
    @api.model
    def _secret_key_configured(self):
        """``(key, source)`` set by the operator, or ``(None, None)``."""
        found = {}
        config_file = config.rcfile or "the configuration"
        for source, value in (
            (
                f"environment variable {secret_key.ENV_VAR}",
                os.environ.get(secret_key.ENV_VAR),
            ),
            (
                f"option {secret_key.CONFIG_OPTION} of {config_file}",
                config.get(secret_key.CONFIG_OPTION),
            ),
        ):
            if not value or not str(value).strip():
                continue
            try:
                found.setdefault(secret_key.normalize(str(value)), source)
            except crypto.SecretKeyError as exc:
                raise key_error(
                    "secret_key_unavailable", f"the {source} is not a Fernet key"
                ) from exc
        if len(found) > 1:
            raise key_error(
                "secret_key_unavailable",
                f"the {' and the '.join(found.values())} hold two different keys: "
                "keep the one the passwords were stored with",
            )
        return next(iter(found.items()), (None, None))

    @api.model
    def _secret_key_path(self):
        try:
            return secret_key.key_path(config["data_dir"], self.env.cr.dbname)
        except secret_key.KeyFileError as exc:
            raise key_error("secret_key_unavailable", str(exc)) from exc

    @api.model
    def _secret_key_found(self):
        """``(key, source)`` as this process finds it now, without making one
        (``key`` is None when there is no key file yet)."""
        key, source = self._secret_key_configured()
        if key:
            return key, source
        path = self._secret_key_path()
        try:
            return secret_key.read_key_file(path), f"key file {path}"
        except secret_key.KeyFileError as exc:
            raise key_error("secret_key_unavailable", str(exc)) from exc

    @api.model
    def _secret_key_fingerprint_stored(self):
        self.env.cr.execute(
            "SELECT value FROM ir_config_parameter WHERE key = %s", [FINGERPRINT_PARAM]
        )
        row = self.env.cr.fetchone()
        return row[0] if row else None

    @api.model
    def _secret_key(self):
        """The key to read the stored secrets with. Raises a ``secret_key_*``
        MailSyncError when there is none, or when it is not the key they were
        made with."""
        key, source = self._secret_key_found()
        stored = self._secret_key_fingerprint_stored()
        if not key:
            raise key_error(
                "secret_key_unavailable",
                f"no key: {secret_key.ENV_VAR} and {secret_key.CONFIG_OPTION} are "
                f"not set and there is no {source}"
                + (
                    f"; the stored passwords were made with the key of fingerprint "
                    f"{stored}"
                    if stored
                    else ""
                ),
            )
        self._check_secret_key_fingerprint(key, source, stored)
        return key

    @api.model
    def _check_secret_key_fingerprint(self, key, source, stored):
        found = secret_key.fingerprint(key)
        if stored and stored != found:
            raise key_error(
                "secret_key_mismatch",
                f"the key of the {source} (fingerprint {found}) is not the key the "
                f"stored passwords were made with (fingerprint {stored})",
            )

    @api.model
    def _secret_key_for_storing(self):
        """The key to store a secret with, made and recorded when there is none
        yet. Holds the shared secrets lock until the transaction ends, so that a
        rotation never misses the secret about to be stored."""
        self.env.cr.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, %s)",
            [KEY_LOCK_NAMESPACE, SECRETS_LOCK],
        )
        key, _source = self._secret_key_found()
        stored = self._secret_key_fingerprint_stored()
        if key and stored == secret_key.fingerprint(key):
            return key
        return self._ensure_secret_key()

    # ------------------------------------------------------------------
    # Making the key once
    # ------------------------------------------------------------------
    @api.model
    def _ensure_secret_key(self):
        """The key, made and kept when there is none, its fingerprint recorded:
        under the database-wide key lock, in a transaction of its own that
        starts once the lock is granted (so it sees what another process that
        held it committed). Raises a ``secret_key_*`` MailSyncError."""
        with self.pool.cursor() as cr:
            lock = [KEY_LOCK_NAMESPACE, KEY_LOCK]
            cr.execute("SELECT pg_advisory_lock(%s, %s)", lock)
            try:
                # A snapshot taken after the lock was granted, not before.
                cr.commit()  # pylint: disable=invalid-commit
                # sudo: making and recording the key: a random key, its fingerprint in a
                # system parameter, the key file; values computed here, none from the
                # caller.
                fresh = self.with_env(self.env(cr=cr, su=True))
                key = fresh._ensure_secret_key_locked()
                cr.commit()  # pylint: disable=invalid-commit
            except Exception:
                cr.rollback()
                raise
            finally:
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", lock)
        return key

    @api.model
    def _ensure_secret_key_locked(self):
        stored = self._secret_key_fingerprint_stored()
        key, source = self._secret_key_configured()
        if not key:
            path = self._secret_key_path()
            self._finish_key_rotation(path, stored)
            key, source = self._secret_key_found()
            if not key:
                if stored and self._secret_tokens():
                    raise key_error(
                        "secret_key_unavailable",
                        f"the stored passwords were made with the key of fingerprint "
                        f"{stored}, which is neither in {secret_key.ENV_VAR}, nor in "
                        f"{secret_key.CONFIG_OPTION}, nor in the key file {path}: "
                        "restore that key (or reset the passwords, see the README)",
                    )
                key = self._make_key_file(path)
        found = secret_key.fingerprint(key)
        if stored == found:
            return key
        undecryptable = self._secret_tokens_undecryptable(key)
        if undecryptable:
            raise key_error(
                "secret_key_mismatch",
                f"the key of the {source} (fingerprint {found}) cannot decrypt "
                f"{undecryptable} stored password(s)"
                + (f", made with the key of fingerprint {stored}" if stored else ""),
            )
        self.env["ir.config_parameter"].set_param(FINGERPRINT_PARAM, found)
        return key

    @api.model
    def _make_key_file(self, path):
        try:
            key = secret_key.create_key_file(path, crypto.generate_key())
        except secret_key.KeyFileError as exc:
            raise key_error(
                "secret_key_unavailable",
                f"{secret_key.ENV_VAR} and {secret_key.CONFIG_OPTION} are not set "
                f"and Odoo cannot keep a key: {exc}",
            ) from exc
        _logger.info(
            "mail_sync_crm: the key of the mailbox passwords of database %s is in "
            "%s (fingerprint %s); back it up apart from the database",
            self.env.cr.dbname,
            path,
            secret_key.fingerprint(key),
        )
        return key

    @api.model
    def _secret_tokens(self):
        """``[(mailbox id, field, token)]`` of every stored secret."""
        self.flush_model(list(SECRET_FIELDS))
        self.env.cr.execute(
            """SELECT id, imap_secret, smtp_secret FROM mail_sync_account
                WHERE COALESCE(imap_secret, '') != '' OR COALESCE(smtp_secret, '') != ''
                ORDER BY id"""
        )
        return [
            (account_id, field, token)
            for account_id, *tokens in self.env.cr.fetchall()
            for field, token in zip(SECRET_FIELDS, tokens, strict=True)
            if token
        ]

    @api.model
    def _secret_tokens_undecryptable(self, key):
        count = 0
        for _account_id, _field, token in self._secret_tokens():
            try:
                crypto.decrypt(key, token)
            except crypto.SecretKeyError:
                count += 1
        return count
