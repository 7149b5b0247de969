"""The error catalogue: what the user reads for each error code.

Data only: ``code -> (message, hint)``, in English, each literal wrapped in
``_lt`` so that Odoo's translation extractor collects it. ``errors.describe``
renders an entry through the Odoo layer's translation function; ``errors``
also decides which code a failure gets.
"""

__all__ = ["CATALOGUE"]


def _lt(text: str) -> str:
    """Mark a literal for translation; the Odoo layer translates it later."""
    return text


# code -> (message, hint). Placeholders: %(server)s is a whole noun phrase
# ("the IMAP server imap.example.com:993", or "the mail server" when nothing is
# known), never at the start of a sentence; %(side)s ("IMAP", "SMTP" or
# "mail"), %(host)s and %(port)s are available too, and so are err.params.
# %(provider)s is "Google" or "Microsoft" (``lib.oauth.client`` errors), else "your
# provider": never at the start of a sentence either. A key "<code>/oauth" is
# the wording of <code> for a session that signed in with OAuth.
CATALOGUE: dict[str, tuple[str, str]] = {
    "auth_failed": (
        _lt("Login refused by %(server)s: wrong login or password."),
        _lt(
            "Check the login (usually your full email address) and the password."
            " Gmail and Microsoft accept only an app password here, not your"
            " usual password."
        ),
    ),
    "app_password_required": (
        _lt(
            "Your usual password is not accepted by %(server)s: it requires an app"
            " password (or OAuth sign-in)."
        ),
        _lt(
            "Turn on 2-Step Verification for your account, then create an app"
            " password (Google: Google Account > Security > App passwords;"
            " Microsoft: Microsoft account > Security > Advanced security options"
            " > App passwords) and enter it here instead of your usual password."
        ),
    ),
    "imap_disabled": (
        _lt("IMAP access is disabled for this mailbox at the provider."),
        _lt(
            "Gmail: Settings > See all settings > Forwarding and POP/IMAP > Enable"
            " IMAP (Google Workspace administrators may have to allow it in the"
            " Admin console > Apps > Google Workspace > Gmail > End user access)."
            " Microsoft 365: an administrator enables IMAP for the mailbox in the"
            " Microsoft 365 admin center > Users > Active users > Mail > Manage"
            " email apps."
        ),
    ),
    "encryption_required": (
        _lt("Signing in without encryption is not allowed by %(server)s."),
        _lt(
            "Choose an encryption: SSL/TLS on port 993 (IMAP) or 465 (SMTP),"
            " STARTTLS on port 143 (IMAP) or 587 (SMTP)."
        ),
    ),
    "host_unreachable": (
        _lt(
            "Could not reach %(server)s (unknown host, connection refused or"
            " network unreachable)."
        ),
        _lt(
            "Check the host name and the port. If they are right, check that a"
            " firewall does not block connections from this Odoo server."
        ),
    ),
    "host_not_allowed": (
        _lt(
            "Connecting to %(server)s is not allowed: it is not a public internet"
            " address (loopback, private network, link-local or cloud metadata"
            " addresses are refused)."
        ),
        _lt(
            "Check the host name. If this mail server really is on your own"
            " network, ask an administrator to allow it: Settings > CRM > Mail"
            " Sync > Mail servers on private networks (the system parameter"
            " mail_sync_crm.allowed_hosts: its address range, such as"
            " 10.1.2.0/24, or its host name)."
        ),
    ),
    "timeout": (
        _lt("No answer in time from %(server)s."),
        _lt(
            "Check the host and the port (a wrong port often just hangs). If they"
            " are right, the server or the network is slow: the sync retries"
            " automatically."
        ),
    ),
    "tls_failed": (
        _lt("The secure connection (TLS) to %(server)s failed."),
        _lt(
            "Pick the encryption that matches the port: SSL/TLS for 993 (IMAP) and"
            " 465 (SMTP), STARTTLS for 143 (IMAP) and 587 (SMTP)."
        ),
    ),
    "starttls_unsupported": (
        _lt("STARTTLS is not supported by %(server)s."),
        _lt(
            "Choose SSL/TLS encryption with its port (993 for IMAP, 465 for SMTP),"
            " or ask your provider for the right settings."
        ),
    ),
    "cert_untrusted": (
        _lt(
            "The certificate of %(server)s is not trusted (self-signed, expired,"
            " or issued for another name)."
        ),
        _lt(
            'Check the host name. Tick "Self-signed certificate" only if you'
            " trust this server: Odoo then pins this exact certificate."
        ),
    ),
    "cert_changed": (
        _lt(
            "The certificate of %(server)s changed since you connected: the"
            " connection may be intercepted."
        ),
        _lt(
            "If your administrator changed the server's certificate, disconnect"
            " and connect again to accept the new one. Otherwise, contact your"
            " administrator before going on."
        ),
    ),
    "folder_missing": (
        _lt("No Inbox or no Sent folder was found in the mailbox."),
        _lt(
            "Make sure the mailbox has an Inbox and a Sent folder visible over"
            ' IMAP (Gmail: Settings > Labels > tick "Show in IMAP" for Sent'
            " Mail)."
        ),
    ),
    "smtp_auth_failed": (
        _lt("Login refused by %(server)s: wrong SMTP login or password."),
        _lt(
            "Check the SMTP login and password (usually the same as for IMAP)."
            " Gmail and Microsoft accept only an app password here; Microsoft 365"
            " administrators must also enable Authenticated SMTP for the mailbox."
        ),
    ),
    "smtp_refused": (
        _lt("The sender or a recipient was refused by %(server)s."),
        _lt(
            "Check that the From address is your own mailbox address (or an alias"
            " the server allows) and that the recipients' addresses are valid."
            " The server's answer is in the details."
        ),
    ),
    "quota_exceeded": (
        _lt("Your provider's sending quota is reached."),
        _lt(
            "Nothing is lost: the mail waits and leaves automatically once the"
            " provider's limit window resets (usually within 24 hours)."
        ),
    ),
    "message_too_large": (
        _lt("The message is larger than %(server)s accepts."),
        _lt("Remove or shrink attachments, or share large files as links."),
    ),
    "message_malformed": (
        _lt("A message could not be read: it was skipped, the others were synced."),
        _lt(
            "Nothing to do unless it happens again and again; the details name the"
            " message."
        ),
    ),
    "message_undeliverable": (
        _lt(
            "The server could not deliver a message, even after several tries:"
            " it was skipped, the other messages were synced."
        ),
        _lt(
            "The message is probably damaged or unreadable on the server. Open it"
            " in your webmail or mail app: if it opens there, press Retry on this"
            " entry and it is fetched again on the next sync; otherwise ask your"
            " mail provider or administrator about it. The details say what the"
            " server answered."
        ),
    ),
    "sync_deadline": (
        _lt(
            "The mailbox's sync reached its time limit without any progress:"
            " %(server)s answered too slowly, or not at all."
        ),
        _lt(
            "The sync tries again on its next run and the other mailboxes are not"
            " held up. If this goes on, check the server's status with your"
            " provider; an administrator can raise the time limit per mailbox"
            " (system parameter mail_sync_crm.turn_seconds)."
        ),
    ),
    "connection_lost": (
        _lt("The connection to %(server)s was lost."),
        _lt(
            "This is usually temporary (network or server restart): the sync"
            " retries automatically."
        ),
    ),
    "server_error": (
        _lt("Unexpected answer from %(server)s."),
        _lt(
            "The sync retries automatically. If this goes on, check the server"
            " status with your provider; the server's answer is in the details."
        ),
    ),
    "oauth_not_configured": (
        _lt("Connecting with %(provider)s is not set up in this database."),
        _lt(
            "Ask your administrator to set up sign-in with %(provider)s: its"
            " client ID and secret in Settings, and the redirect URI shown under"
            " Settings > CRM > Mail Sync registered at %(provider)s."
        ),
    ),
    "oauth_denied": (
        _lt(
            "Access to your mailbox was not granted at %(provider)s: the sign-in"
            " was cancelled or the mail permission unticked."
        ),
        _lt(
            "Press Connect with %(provider)s again, sign in, and allow access to"
            " your mail: Odoo needs it to read and send your email."
        ),
    ),
    "oauth_invalid_grant": (
        _lt(
            "The access to your mailbox through %(provider)s has ended (revoked,"
            " password changed, or sign-in expired)."
        ),
        _lt(
            "Connect again with %(provider)s: press Connect with %(provider)s on"
            " your mailbox and sign in."
        ),
    ),
    "oauth_wrong_account": (
        _lt(
            "You signed in at %(provider)s with another account than this"
            " mailbox's address (or with an address %(provider)s has not"
            " verified)."
        ),
        _lt(
            "Connect again and pick the account of this mailbox's address at"
            " %(provider)s; sign out of the other account first if it is chosen"
            " automatically. The details name both addresses."
        ),
    ),
    "oauth_state_invalid": (
        _lt(
            "This sign-in with %(provider)s was not accepted: its link expired,"
            " was already used, or was started by another user or for another"
            " mailbox."
        ),
        _lt(
            "Open your own mailbox, press Connect with %(provider)s again and"
            " finish signing in within 15 minutes, in the same browser."
        ),
    ),
    "oauth_provider_error": (
        _lt("The sign-in with %(provider)s failed: the provider answered an error."),
        _lt(
            "Try again in a few minutes. If it goes on, your administrator checks"
            " the %(provider)s client ID and secret in Settings and the redirect"
            " URI registered at %(provider)s; the details give the answer."
        ),
    ),
    "auth_failed/oauth": (
        _lt(
            "Sign-in refused by %(server)s: the access granted through"
            " %(provider)s was not accepted."
        ),
        _lt(
            "Connect again with %(provider)s. If it goes on, IMAP may be off for"
            " the mailbox: Gmail: Settings > See all settings > Forwarding and"
            " POP/IMAP; Microsoft 365: an administrator enables IMAP in the"
            " Microsoft 365 admin center > Users > Active users > Mail > Manage"
            " email apps."
        ),
    ),
    "smtp_auth_failed/oauth": (
        _lt(
            "Sign-in refused by %(server)s: the access granted through"
            " %(provider)s was not accepted for sending."
        ),
        _lt(
            "Connect again with %(provider)s. Microsoft 365: an administrator must"
            " also enable Authenticated SMTP for the mailbox (Microsoft 365 admin"
            " center > Users > Active users > Mail > Manage email apps), which"
            " Microsoft turns off by default."
        ),
    ),
    "password_missing": (
        _lt("No password is stored for %(server)s."),
        _lt(
            "The password is erased when the server, port, encryption or login it"
            " was entered for changes (and when the mailbox is reset after a lost"
            " encryption key). Enter the password again and press Connect."
        ),
    ),
    "secret_key_mismatch": (
        _lt(
            "The stored password cannot be decrypted: Odoo's encryption key for"
            " mailbox passwords is not the one it was saved with."
        ),
        _lt(
            "Nothing is wrong with your password. An administrator must give Odoo"
            " back the key the passwords were saved with (environment variable"
            " MAIL_SYNC_CRM_KEY, option mail_sync_crm_key of Odoo's configuration"
            " file, or the key file in Odoo's data directory, the same on every"
            " Odoo server) and restart Odoo; the server log names the key found"
            ' and the key expected. See "The encryption key" in the README.'
        ),
    ),
    "secret_key_unavailable": (
        _lt(
            "Odoo has no usable encryption key for mailbox passwords, so no"
            " password can be stored or read."
        ),
        _lt(
            "An administrator must set one key for all Odoo servers of this"
            " database: the environment variable MAIL_SYNC_CRM_KEY or the option"
            " mail_sync_crm_key of Odoo's configuration file, or else a writable"
            " data directory (shared by all servers) where Odoo keeps the key it"
            " makes; then restart Odoo. The server log says what is missing. See"
            ' "The encryption key" in the README.'
        ),
    ),
    "unknown": (
        _lt("An unexpected error occurred with %(server)s."),
        _lt(
            "The sync retries automatically. If this goes on, send the details to"
            " your administrator."
        ),
    ),
}

SIDE_LABELS = {"imap": "IMAP", "smtp": "SMTP", "oauth": "OAuth"}
MAIL_LABEL = _lt("mail")
PROVIDER = _lt("your provider")
SERVER_AT = _lt("the %(side)s server %(address)s")
SERVER = _lt("the %(side)s server")
