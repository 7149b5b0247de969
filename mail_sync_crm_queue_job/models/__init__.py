from . import mail_sync_account
from . import mail_sync_scheduler
from . import res_config_settings
