"""A salesperson's mailbox on the benchmark's servers (on loopback): connected
as from its form, and the records its syncs wrote."""


def allow_loopback(env):
    """mail_sync_crm.allowed_hosts = 127.0.0.1: mailboxes may reach the bench's
    servers on loopback (refused otherwise: lib/net/host_policy.py)."""
    env["ir.config_parameter"].sudo().set_param(
        "mail_sync_crm.allowed_hosts", "127.0.0.1"
    )


def connect_mailbox(env, user, proxy_port, smtp, email, login, password):
    """``user`` connects their mailbox ``email`` (``login`` on the IMAP server
    behind ``proxy_port``, sending through ``smtp``) as they would from its form;
    the bench servers are on loopback, which an administrator allows first."""
    allow_loopback(env)
    values = {
        "provider": "custom",
        "email": email,
        "imap_host": "127.0.0.1",
        "imap_port": proxy_port,
        "imap_encryption": "ssl",
        "imap_allow_self_signed": True,
        "imap_login": login,
        "imap_password": password,
        "smtp_host": smtp.host,
        "smtp_port": smtp.ssl_port,
        "smtp_encryption": "ssl",
        "smtp_allow_self_signed": True,
        "smtp_same_credentials": True,
    }
    # No mail is delivered to the benchmark's mailboxes: Connect's address
    # confirmation (lib/sending/address_proof.py) is sent and looked for once.
    env["ir.config_parameter"].sudo().set_param(
        "mail_sync_crm.address_proof_seconds", "0"
    )
    account = env["mail.sync.account"].with_user(user).create(values)
    account.action_connect()
    return account.sudo()


def written_records(env, account):
    """What ``account``'s syncs wrote: ledger rows, chatter messages, leads with
    mail, attachments, log entries."""
    cr = env.cr
    cr.execute(
        """SELECT count(*), count(DISTINCT mail_message_id), count(DISTINCT lead_id)
             FROM mail_sync_message WHERE account_id = %s AND introduced""",
        [account.id],
    )
    ledger, messages, leads = cr.fetchone()
    cr.execute(
        """SELECT count(*), coalesce(sum(file_size), 0) FROM ir_attachment
            WHERE id IN (SELECT r.attachment_id
                           FROM message_attachment_rel r
                           JOIN mail_sync_message s
                             ON s.mail_message_id = r.message_id
                          WHERE s.account_id = %s)""",
        [account.id],
    )
    attachments, attachment_bytes = cr.fetchone()
    cr.execute("SELECT count(*) FROM mail_sync_log WHERE account_id = %s", [account.id])
    return {
        "ledger_rows": ledger,
        "chatter_messages": messages,
        "leads_with_mail": leads,
        "attachments": attachments,
        "attachment_bytes": attachment_bytes,
        "log_entries": cr.fetchone()[0],
    }
