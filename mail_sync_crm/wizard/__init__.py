from . import mail_sync_disable_wizard
from . import mail_sync_erase_wizard
