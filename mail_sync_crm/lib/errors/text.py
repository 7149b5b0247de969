"""What an error says: the technical detail of an exception with every secret
redacted, and the user's message and hint rendered from the catalogue.

:func:`redact` and :func:`exception_detail` never let a password or token
through; :func:`describe` renders an error's catalogue entry
(:mod:`.catalogue`) through the Odoo layer's translation function.
"""

import ast
import smtplib
from collections.abc import Callable, Iterable

from .catalogue import (
    CATALOGUE,
    MAIL_LABEL,
    PROVIDER,
    SERVER,
    SERVER_AT,
    SIDE_LABELS,
)

__all__ = ["MAX_DETAIL", "describe", "redact"]

MAX_DETAIL = 500


def _secret_forms(secret: str | bytes) -> set[str]:
    """A secret as it may show up in an error text: plain, escaped, repr'd."""
    if isinstance(secret, bytes):
        forms = {secret.decode("utf-8", "replace"), repr(secret)[2:-1]}
    else:
        forms = {secret, repr(secret)[1:-1]}
        forms.add(repr(secret.encode("utf-8", "replace"))[2:-1])
    return {form for form in forms if form}


def as_tuple(secrets: object) -> tuple:
    """``secrets`` as a tuple; a lone string or bytes is one secret."""
    if not secrets:
        return ()
    if isinstance(secrets, str | bytes):
        return (secrets,)
    return tuple(secrets)


def redact(text: str, secrets: Iterable[str | bytes | None] = ()) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``.

    Escaped forms of a secret (as in a ``repr`` of bytes) are replaced too.
    """
    if not text:
        return text or ""
    forms: set[str] = set()
    for secret in as_tuple(secrets):
        if secret:
            forms |= _secret_forms(secret)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def to_text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _smtp_reply(code: int, message: object) -> str:
    return f"{code} {to_text(message)}".strip()


def exception_text(exc: BaseException) -> str:
    """Readable text of an exception (server replies decoded from bytes)."""
    try:
        return _raw_exc_text(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the error
        return ""


def _raw_exc_text(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt}: {_smtp_reply(*reply)}"
            for rcpt, reply in (exc.recipients or {}).items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = _smtp_reply(exc.smtp_code, exc.smtp_error)
        sender = getattr(exc, "sender", None)
        return f"{text} (sender {to_text(sender)})" if sender else text
    if exc.args and any(isinstance(arg, bytes) for arg in exc.args):
        return " ".join(to_text(arg) for arg in exc.args)
    return _unwrap_bytes_repr(str(exc))


def _unwrap_bytes_repr(text: str) -> str:
    """``"b'server reply'"`` (a bytes repr, as imapclient's LoginError carries
    it) becomes ``"server reply"``; any other text is returned unchanged."""
    if len(text) < 3 or text[0] != "b" or text[1] not in "'\"" or text[-1] != text[1]:
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return to_text(value) if isinstance(value, bytes) else text


def detail_of(exc: BaseException, secrets: Iterable[str | bytes | None]) -> str:
    text = exception_text(exc)
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return redact(detail, secrets)[:MAX_DETAIL]


# ---------------------------------------------------------------------------
# Rendering


class _Values(dict):
    """Format mapping that renders unknown placeholders as empty text."""

    def __missing__(self, key: str) -> str:
        return ""


def _identity(text: str) -> str:
    return text


def _safe_translate(translate: Callable[[str], str], text: str) -> str:
    try:
        return translate(text) or text
    except Exception:  # noqa: BLE001 - a broken translation must not hide errors
        return text


def _values(err: Exception, translate: Callable[[str], str]) -> _Values:
    side = SIDE_LABELS.get(err.side or "") or _safe_translate(translate, MAIL_LABEL)
    address = err.host or ""
    if address and err.port:
        address = f"{address}:{err.port}"
    phrase = _safe_translate(translate, SERVER_AT if address else SERVER)
    values = _Values(
        side=side,
        host=err.host or "",
        port="" if err.port is None else str(err.port),
        address=address,
    )
    values["server"] = _render(phrase, values)
    values["provider"] = _safe_translate(translate, PROVIDER)
    values.update(err.params or {})
    return values


def _render(template: str, values: _Values) -> str:
    try:
        return template % values
    except (TypeError, ValueError, KeyError):
        return template


def describe(
    err: Exception, translate: Callable[[str], str] = _identity
) -> tuple[str, str]:
    """Return the (message, hint) of ``err``, translated then rendered.

    ``translate`` receives the English catalogue strings (the Odoo layer
    passes its translation function). Unknown codes render as "unknown". An
    error of a session that signed in with OAuth (``params["auth"]``) reads
    the entry ``"<code>/oauth"`` when the catalogue has one.
    """
    variant = f"{err.code}/{(err.params or {}).get('auth')}"
    message, hint = (
        CATALOGUE.get(variant) or CATALOGUE.get(err.code) or CATALOGUE["unknown"]
    )
    values = _values(err, translate)
    return (
        _render(_safe_translate(translate, message), values),
        _render(_safe_translate(translate, hint), values),
    )
