from . import mail_sync_disable_wizard
