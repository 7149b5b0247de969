# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import http
from odoo.http import request

from odoo.addons.mail.controllers.thread import ThreadController


class MailSyncThreadController(ThreadController):
    @http.route()
    def mail_thread_messages(
        self,
        thread_model,
        thread_id,
        search_term=None,
        before=None,
        after=None,
        around=None,
        limit=30,
        mail_sync_new=False,
    ):
        """A lead's chatter pages its messages in date order (see
        ``mail.message._message_fetch``); ``mail_sync_new``: "after" names the
        last message the page knows (by id), for the messages written since
        (``static/src/chatter/mail_sync_thread_order.js``)."""
        if thread_model == "crm.lead":
            request.update_context(
                mail_sync_date_order="new" if mail_sync_new else True
            )
        return super().mail_thread_messages(
            thread_model,
            thread_id,
            search_term=search_term,
            before=before,
            after=after,
            around=around,
            limit=limit,
        )

    def _prepare_post_data(self, post_data, thread, **kwargs):
        """ "Send message" on a lead without a contact, by a salesperson who may
        not create contacts: Odoo drops the suggested address and posts to
        nobody. The lead's own suggested address becomes the recipient, a new
        contact made of the lead's own data: the request's
        ``partner_additional_values`` are ignored (they would reach a superuser
        ``create``)."""
        post_data = super()._prepare_post_data(post_data, thread, **kwargs)
        user = request.env.user
        if (
            thread._name == "crm.lead"
            and kwargs.get("partner_emails")
            and user._is_internal()
            and not user.has_group("base.group_partner_manager")
        ):
            partners = thread._mail_sync_recipient_partners(kwargs["partner_emails"])
            post_data["partner_ids"] = list(
                dict.fromkeys([*post_data.get("partner_ids", []), *partners.ids])
            )
        return post_data
