# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The context of superuser work that a client's call starts: none of the
caller's values.

A client chooses the whole context of its call (``call_kw``'s ``context``, the JSON
routes' ``context``). Odoo's ``sudo()`` drops its ``default_<field>`` keys (which
every ``create`` would read, x2many commands included), and nothing else:
``allowed_company_ids`` then becomes ``env.company`` unchecked, and the addon's own
key (``mail_sync_batch_size``) would steer a turn. So the superuser work a client's
call starts with its context (Sync Now, the contact of "Send message") runs with a
context of the addon's own: the caller's language and time zone only (how texts
read; Odoo checks the language), nothing else.
"""

KEPT_KEYS = ("lang", "tz")


def superuser_context(context):
    """The part of ``context`` that superuser work may keep."""
    return {key: context[key] for key in KEPT_KEYS if key in context}


# sudo: the helper itself, sudo() minus the caller's context; each call says
# why no caller-chosen value passes through it (docs/superuser-paths.rst).
def addon_sudo(records):
    """``records`` as superuser, as ``records.sudo()``, with none of the caller's
    context but its language and time zone."""
    return records.with_env(
        # sudo: addon_sudo's environment: its context is superuser_context()'s
        # (the caller's language and time zone), nothing else of the caller's.
        records.env(su=True, context=superuser_context(records.env.context))
    )
