"""Test harness for mail_sync_crm: real IMAP/SMTP servers and messages.

Plain Python, no Odoo import: usable from pytest and from Odoo tests
(``mail_sync_testing``, a package of its own at the repository root, outside
the addon: Odoo never loads it, and it takes lib's classes from the lib the
process loaded, see ``_lib.py``).
"""

from ._common import LOOPBACK, LOOPBACK_POLICY
from .balancer import RoundRobinBalancer
from .dovecot import DovecotError, DovecotServer
from .faults import damage_message, repair_message
from .factory import (
    CorpusMessage,
    make_corpus,
    make_message,
    malformed_messages,
    parse_address,
)
from .listeners import SSH_BANNER, BannerPort, SilentPort, TlsNamePort
from .oauth_server import OAuthServer, RecordedRequest
from .proxy import LatencyProxy
from .smtp_server import STAGES, ReceivedMessage, SmtpServer

__all__ = [
    "LOOPBACK",
    "LOOPBACK_POLICY",
    "SSH_BANNER",
    "STAGES",
    "BannerPort",
    "CorpusMessage",
    "DovecotError",
    "DovecotServer",
    "LatencyProxy",
    "OAuthServer",
    "ReceivedMessage",
    "RecordedRequest",
    "RoundRobinBalancer",
    "SilentPort",
    "SmtpServer",
    "TlsNamePort",
    "damage_message",
    "make_corpus",
    "make_message",
    "malformed_messages",
    "parse_address",
    "repair_message",
]
