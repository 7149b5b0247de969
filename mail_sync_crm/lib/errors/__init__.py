"""Errors: every failure becomes a code of the catalogue, a message and a hint.

:mod:`.taxonomy` holds :class:`MailSyncError` and :func:`classify`,
:mod:`.catalogue` the English message and hint of each code, :mod:`.text` what
an error says (redacted detail, rendered message). The rest of lib and the
addon use this package's names (``from ..lib import errors``,
``errors.MailSyncError``).
"""

from .catalogue import CATALOGUE
from .taxonomy import (
    CertificateChanged,
    MailSyncError,
    QuotaExceeded,
    classify,
    is_quota_reply,
)
from .text import MAX_DETAIL, describe, redact

__all__ = [
    "CATALOGUE",
    "MAX_DETAIL",
    "CertificateChanged",
    "MailSyncError",
    "QuotaExceeded",
    "classify",
    "describe",
    "is_quota_reply",
    "redact",
]
