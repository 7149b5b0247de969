from . import mail_sync_account
from . import res_config_settings
