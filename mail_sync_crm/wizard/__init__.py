from . import mail_sync_disable_wizard
from . import mail_sync_erase_wizard
from . import mail_sync_move_wizard
from . import mail_sync_why_wizard
