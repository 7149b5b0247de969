# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What a client's context may add to a record it creates.

Odoo fills every field a ``create`` leaves out from the context's
``default_<field>`` keys, and a client chooses the whole context of its call
(``call_kw``'s ``context``, the JSON routes' ``context``). An allow-list that
checks the values of a ``create`` checks nothing of those: a salesperson's new
mailbox came out Enabled, with a proven address, from
``{"default_state": "enabled", "default_email_proof": "round_trip"}``. So the
models that guard their fields create with the context's defaults of the
fields a client may write only.
"""

DEFAULT_PREFIX = "default_"


def client_defaults(context, allowed):
    """``context`` without the ``default_<field>`` keys of the fields for which
    ``allowed(field_name)`` is false."""
    return {
        key: value
        for key, value in context.items()
        if not key.startswith(DEFAULT_PREFIX) or allowed(key[len(DEFAULT_PREFIX) :])
    }
