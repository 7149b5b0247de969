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

import functools
import logging
import os

from odoo import api, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import config

from ..lib import errors
from ..lib.secrets import crypto, secret_key
from .advisory_locks import KEY_LOCK, SECRET_KEY, SECRETS_LOCK

_logger = logging.getLogger(__name__)

FINGERPRINT_PARAM = "mail_sync_crm.secret_key_fingerprint"


def key_error(code, detail):
    """A ``secret_key_*`` MailSyncError (``detail`` names files and fingerprints,
    never a key)."""
    return errors.MailSyncError(code, detail)


class MailSyncSecretKey(models.AbstractModel):
    """The deployment's secret key: where it is, its fingerprint, making it
    once, and its rotation. A service: every method is private (no RPC)."""

    _name = "mail.sync.secret.key"
    _description = "Mail Sync Secret Key"

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
            self._ensure()
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
    def _configured(self):
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
    def _path(self):
        try:
            return secret_key.key_path(config["data_dir"], self.env.cr.dbname)
        except secret_key.KeyFileError as exc:
            raise key_error("secret_key_unavailable", str(exc)) from exc

    @api.model
    def _found(self):
        """``(key, source)`` as this process finds it now, without making one
        (``key`` is None when there is no key file yet)."""
        key, source = self._configured()
        if key:
            return key, source
        path = self._path()
        try:
            return secret_key.read_key_file(path), f"key file {path}"
        except secret_key.KeyFileError as exc:
            raise key_error("secret_key_unavailable", str(exc)) from exc

    @api.model
    def _stored_fingerprint(self):
        self.env.cr.execute(
            "SELECT value FROM ir_config_parameter WHERE key = %s", [FINGERPRINT_PARAM]
        )
        row = self.env.cr.fetchone()
        return row[0] if row else None

    @api.model
    def _key(self):
        """The key to read the stored secrets with. Raises a ``secret_key_*``
        MailSyncError when there is none, or when it is not the key they were
        made with."""
        key, source = self._found()
        stored = self._stored_fingerprint()
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
        self._check_fingerprint(key, source, stored)
        return key

    @api.model
    def _check_fingerprint(self, key, source, stored):
        found = secret_key.fingerprint(key)
        if stored and stored != found:
            raise key_error(
                "secret_key_mismatch",
                f"the key of the {source} (fingerprint {found}) is not the key the "
                f"stored passwords were made with (fingerprint {stored})",
            )

    @api.model
    def _key_for_storing(self):
        """The key to store a secret with, made and recorded when there is none
        yet. Holds the shared secrets lock until the transaction ends, so that a
        rotation never misses the secret about to be stored."""
        self.env.cr.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, %s)",
            [SECRET_KEY, SECRETS_LOCK],
        )
        key, _source = self._found()
        stored = self._stored_fingerprint()
        if key and stored == secret_key.fingerprint(key):
            return key
        return self._ensure()

    # ------------------------------------------------------------------
    # A secret stored and read with the key
    # ------------------------------------------------------------------
    @api.model
    def _store(self, account, field, plaintext):
        """Store ``plaintext`` encrypted in the secret ``field`` of ``account``
        (the inverse of its write-only password fields)."""
        account.ensure_one()
        try:
            key = self._key_for_storing()
        except errors.MailSyncError as err:
            message, hint = account._describe(err)
            raise UserError(
                self.env._(
                    "%(message)s\n\nHow to fix it: %(hint)s", message=message, hint=hint
                )
            ) from err
        # sudo: the password the owner typed (the inverse of
        # imap_password/smtp_password, fields that create() and write() allow the owner
        # only), stored encrypted in the secret field the inverse names.
        account.sudo().write({field: crypto.encrypt(key, plaintext)})

    @api.model
    def _read(self, account, field, side=None, key=None):
        """The secret ``field`` of ``account`` in clear ("" when none). Raises a
        classified MailSyncError (``secret_key_unavailable`` /
        ``secret_key_mismatch``) when it cannot be decrypted: a key problem,
        never a wrong password. ``key``: :meth:`_key`, when the caller read it
        for many mailboxes in this transaction; read here otherwise."""
        account.ensure_one()
        # sudo: read-only: this mailbox's stored secret, decrypted for its own IMAP and
        # SMTP sessions (mail.sync.connector._password); never returned to a client.
        token = account.sudo()[field]
        if not token:
            return ""
        return self._decrypt(
            key=key or self._key(),
            token=token,
            what=f"the stored {field}",
            account=account,
            side=side,
        )

    @api.model
    def _decrypt(self, key, token, what, account, side=None):
        """``token`` decrypted with ``key``; ``secret_key_mismatch`` naming
        ``what`` of ``account`` when the key is not the one it was made with."""
        try:
            return crypto.decrypt(key, token)
        except crypto.SecretKeyError as exc:
            raise errors.MailSyncError(
                "secret_key_mismatch",
                f"{what} of mailbox {account.id}: made with another key than the one "
                f"in use (fingerprint {secret_key.fingerprint(key)})",
                side=side,
            ) from exc

    # ------------------------------------------------------------------
    # Making the key once
    # ------------------------------------------------------------------
    @api.model
    def _ensure(self):
        """The key, made and kept when there is none, its fingerprint recorded:
        under the database-wide key lock, in a transaction of its own that
        starts once the lock is granted (so it sees what another process that
        held it committed). Raises a ``secret_key_*`` MailSyncError."""
        with self.pool.cursor() as cr:
            lock = [SECRET_KEY, KEY_LOCK]
            cr.execute("SELECT pg_advisory_lock(%s, %s)", lock)
            try:
                # A snapshot taken after the lock was granted, not before.
                cr.commit()  # pylint: disable=invalid-commit
                # sudo: making and recording the key: a random key, its fingerprint in a
                # system parameter, the key file; values computed here, none from the
                # caller.
                fresh = self.with_env(self.env(cr=cr, su=True))
                key = fresh._ensure_locked()
                cr.commit()  # pylint: disable=invalid-commit
            except Exception:
                cr.rollback()
                raise
            finally:
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", lock)
        return key

    @api.model
    def _ensure_locked(self):
        stored = self._stored_fingerprint()
        key, source = self._configured()
        if not key:
            path = self._path()
            self._finish_rotation(path, stored)
            key, source = self._found()
            if not key:
                if stored and self.env["mail.sync.account"]._secret_tokens():
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
        undecryptable = self._undecryptable(key)
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
    def _undecryptable(self, key):
        """How many stored passwords ``key`` cannot decrypt."""
        count = 0
        for _account_id, _field, token in self.env[
            "mail.sync.account"
        ]._secret_tokens():
            try:
                crypto.decrypt(key, token)
            except crypto.SecretKeyError:
                count += 1
        return count

    @api.model
    def _rotate(self, new_key=None, forget_undecryptable=False):
        """Re-encrypt every stored secret (the mailboxes' passwords, then
        their OAuth tokens) with ``new_key`` (a new random key when None) and
        make it the key. From ``odoo-bin shell``::

            result = env["mail.sync.secret.key"]._rotate()
            env.cr.commit()

        Nothing changes until the transaction commits. A key kept in the key
        file is replaced right after the commit (the previous one stays beside
        it as ``<file>.retired-<fingerprint>``). A key set in
        ``MAIL_SYNC_CRM_KEY`` or ``mail_sync_crm_key`` is not changed here: set
        ``result["key"]`` there on every server and restart them (they refuse
        the stored passwords until then).

        A secret the current key cannot decrypt stops the rotation, unless
        ``forget_undecryptable``: it is then erased and its owner enters the
        password again (the way out when the key is lost for good).

        Returns a dict: ``key`` (the new key), ``fingerprint``, ``reencrypted``
        and ``forgotten`` (numbers of secrets), ``key_file`` (None when the key
        is set by the operator)."""
        # sudo: a guard: only server code run as superuser (odoo-bin shell) rotates the
        # key; the method is private (no RPC), its arguments are the operator's.
        if not self.env.su:
            raise AccessError(
                self.env._(
                    "Only server code (odoo-bin shell) can rotate the key of the "
                    "mailbox passwords."
                )
            )
        new_key = secret_key.normalize(new_key) if new_key else crypto.generate_key()
        cr = self.env.cr
        for lock in (SECRETS_LOCK, KEY_LOCK):
            cr.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SECRET_KEY, lock])
        configured, _source = self._configured()
        try:
            old_key = self._found()[0]
        except errors.MailSyncError:
            if not forget_undecryptable:
                raise
            old_key = None
        # Each model holding secrets re-encrypts its own rows, in this order.
        reencrypted, forgotten = self.env["mail.sync.account"]._reencrypt_passwords(
            old_key, new_key, forget_undecryptable
        )
        tokens, forgotten_tokens = self.env["mail.sync.oauth.token"]._reencrypt(
            old_key, new_key, forget_undecryptable
        )
        reencrypted += tokens
        forgotten += forgotten_tokens
        new_fingerprint = secret_key.fingerprint(new_key)
        self.env["ir.config_parameter"].set_param(FINGERPRINT_PARAM, new_fingerprint)
        result = {
            "key": new_key,
            "fingerprint": new_fingerprint,
            "reencrypted": reencrypted,
            "forgotten": forgotten,
            "key_file": None,
        }
        if configured:
            _logger.warning(
                "mail_sync_crm: mailbox passwords re-encrypted with the key of "
                "fingerprint %s: once committed, set it in %s or %s on every server "
                "and restart them",
                new_fingerprint,
                secret_key.ENV_VAR,
                secret_key.CONFIG_OPTION,
            )
            return result
        path = self._path()
        try:
            secret_key.stage_key_file(path, new_key)
        except secret_key.KeyFileError as exc:
            raise UserError(str(exc)) from exc
        retired = (
            f"{path}.retired-{secret_key.fingerprint(old_key)}" if old_key else None
        )
        cr.postcommit.add(
            functools.partial(_install_rotated_key, path, retired, new_fingerprint)
        )
        result["key_file"] = path
        return result

    @api.model
    def _finish_rotation(self, path, stored):
        """A rotation committed but its new key file was not moved in place (the
        process stopped right after the commit): move it now."""
        try:
            staged = secret_key.read_key_file(path + secret_key.STAGED_SUFFIX)
            current = secret_key.read_key_file(path)
        except secret_key.KeyFileError:
            return
        if not staged or secret_key.fingerprint(staged) != stored:
            return  # nothing staged, or a rotation that never committed
        if current and secret_key.fingerprint(current) == stored:
            return
        retired = None
        if current:
            retired = f"{path}.retired-{secret_key.fingerprint(current)}"
        _install_rotated_key(path, retired, stored)


def _install_rotated_key(path, retired, expected_fingerprint):
    """After the rotation's commit: the staged key becomes the key file."""
    try:
        staged = secret_key.read_key_file(path + secret_key.STAGED_SUFFIX)
        if (
            staged
            and secret_key.fingerprint(staged) == expected_fingerprint
            and secret_key.install_staged_key(path, retired)
        ):
            _logger.info(
                "mail_sync_crm: the key file %s now holds the key of fingerprint "
                "%s; the previous key is kept as %s",
                path,
                expected_fingerprint,
                retired,
            )
    except secret_key.KeyFileError as exc:
        _logger.error(
            "mail_sync_crm: the mailbox passwords were re-encrypted, but the new key "
            "could not replace the key file: %s. Move %s%s to %s.",
            exc,
            path,
            secret_key.STAGED_SUFFIX,
            path,
        )
