from . import cli
from . import controllers
from . import models
from . import wizard

from .models.crm_lead import LEAD_EMAIL_INDEX
from .models.res_partner import PARTNER_EMAIL_INDEX


def uninstall_hook(env):
    """Drop the indexes the addon added to CRM's and the contacts' tables."""
    for name in (LEAD_EMAIL_INDEX, PARTNER_EMAIL_INDEX):
        env.cr.execute(f'DROP INDEX IF EXISTS "{name}"')
