# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Rotating the key of the mailbox secrets: an operator's task, run from
``odoo-bin shell`` (README, "The encryption key")."""

import functools
import logging

from odoo import api, models
from odoo.exceptions import AccessError, UserError

from ..lib import errors
from ..lib.secrets import crypto, secret_key
from .mail_sync_account_key import (
    FINGERPRINT_PARAM,
    KEY_LOCK,
    KEY_LOCK_NAMESPACE,
    SECRET_FIELDS,
    SECRETS_LOCK,
)

_logger = logging.getLogger(__name__)


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    @api.model
    def _rotate_secret_key(self, new_key=None, forget_undecryptable=False):
        """Re-encrypt every stored mailbox secret with ``new_key`` (a new random
        key when None) and make it the key. From ``odoo-bin shell``::

            result = env["mail.sync.account"]._rotate_secret_key()
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
            cr.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [KEY_LOCK_NAMESPACE, lock]
            )
        configured, _source = self._secret_key_configured()
        try:
            old_key = self._secret_key_found()[0]
        except errors.MailSyncError:
            if not forget_undecryptable:
                raise
            old_key = None
        reencrypted, forgotten = self._reencrypt_secrets(
            old_key, new_key, forget_undecryptable
        )
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
        path = self._secret_key_path()
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
    def _reencrypt_secrets(self, old_key, new_key, forget_undecryptable):
        tokens = self._secret_tokens()
        accounts = self.browse(sorted({account_id for account_id, *_rest in tokens}))
        if accounts:
            self.env.cr.execute(
                "SELECT id FROM mail_sync_account WHERE id = ANY(%s) FOR NO KEY UPDATE",
                [accounts.ids],
            )
        reencrypted = forgotten = 0
        for account in accounts:
            vals = {}
            for field in SECRET_FIELDS:
                token = account[field]
                if not token:
                    continue
                try:
                    if not old_key:
                        raise crypto.SecretKeyError("no key")
                    plaintext = crypto.decrypt(old_key, token)
                except crypto.SecretKeyError as exc:
                    if not forget_undecryptable:
                        raise UserError(
                            self.env._(
                                "A password of %(mailbox)s cannot be decrypted with "
                                "the current key: nothing was changed. Restore the "
                                "key it was stored with, or rotate with "
                                "forget_undecryptable=True to erase such passwords "
                                "(their owners then enter them again).",
                                mailbox=account.display_name,
                            )
                        ) from exc
                    vals[field] = False
                    forgotten += 1
                else:
                    vals[field] = crypto.encrypt(new_key, plaintext)
                    reencrypted += 1
            account.write(vals)
        return reencrypted, forgotten

    @api.model
    def _finish_key_rotation(self, path, stored):
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
