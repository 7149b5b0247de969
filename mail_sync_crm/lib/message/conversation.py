"""A lead's emails as conversations: threads by References / In-Reply-To,
falling back to the normalised subject (no Odoo import).

* :func:`thread_emails` groups emails into :class:`Thread` s: two emails are in
  one thread when one names the other (or a common ancestor) in its
  In-Reply-To or References; an email naming none (a client that drops those
  headers, or a first message) joins the thread of the same normalised
  subject. Threads come newest first (by their latest email), the emails of
  a thread oldest first.
* :func:`normalise_subject` is the subject a thread is known by ("Re: Fwd:
  Robots?" -> "robots?"); :func:`reply_subject` the subject of a reply ("Re:
  Robots?"); :func:`reply_references` the References of a reply, as RFC 5322
  section 3.6.4 writes them.
* :func:`mark_text_quotes` marks the quoted lines ("> ...") of a plain-text
  body (as ``full_message.text_to_html`` wrote it) the way Odoo's HTML
  sanitiser marks an HTML body's quotes (``data-o-mail-quote``), so that the
  view folds both alike.
"""

import datetime
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = [
    "Email",
    "Thread",
    "mark_text_quotes",
    "normalise_subject",
    "reply_references",
    "reply_subject",
    "split_references",
    "thread_emails",
]

# Reply and forward prefixes of common mail clients, in several languages
# (Re, Fwd, Fw, AW / WG (German), SV (Nordic), TR (French), Antw (Dutch),
# RIF (Italian), RV (Spanish)), optionally numbered ("Re[2]:", "Re(2):"), and
# list tags ("[sales] ") before them.
_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)?"
    r"(?:re|fwd?|aw|wg|sv|tr|antw|rif|rv|vs)\s*(?:\[\d+\]|\(\d+\))?\s*[::]\s*",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
_MSGID = re.compile(r"<[^<>\s]+>")
# A reply's References keep the root and the latest ancestors when they grow
# past this (RFC 5322 allows trimming; header lines stay reasonable).
MAX_REFERENCES = 20
_EPOCH = datetime.datetime(1970, 1, 1)
# The line that introduces a quote ("On Mon, Alice wrote:"), in a few languages.
_ATTRIBUTION = re.compile(
    r"(wrote|schrieb|a écrit|escribió|ha scritto|schreef|skrev)\s*:\s*(<br>)?$",
    re.IGNORECASE,
)
_QUOTE_OPEN = '<span data-o-mail-quote="1">'


def strip_prefixes(subject):
    """``subject`` without its leading reply/forward prefixes and list tags,
    case kept ("Re: AW: Robots?" -> "Robots?")."""
    subject = _SPACES.sub(" ", subject or "").strip()
    while True:
        stripped = _PREFIX.sub("", subject, count=1)
        if stripped == subject:
            return subject
        subject = stripped.strip()


def normalise_subject(subject):
    """The key of a subject: prefixes and list tags gone, spaces collapsed,
    case folded ("" for an empty subject, which never joins a thread)."""
    return strip_prefixes(subject).casefold()


def reply_subject(subject):
    """The subject of a reply: "Re: " and the subject without its prefixes."""
    base = strip_prefixes(subject)
    return f"Re: {base}" if base else "Re:"


def split_references(value):
    """The Message-IDs of a References / In-Reply-To value (a string of
    ``<id>`` tokens, or a list of them), in order, de-duplicated."""
    if not value:
        return []
    if not isinstance(value, str):
        value = " ".join(value)
    return list(dict.fromkeys(_MSGID.findall(value)))


def reply_references(message_id, references=(), in_reply_to=None):
    """The References of a reply to the email ``message_id``: that email's own
    References (or, lacking them, its In-Reply-To) followed by its
    Message-ID, trimmed to the root and the latest ancestors."""
    chain = split_references(references) or split_references(in_reply_to)
    chain = [ref for ref in chain if ref != message_id] + [message_id]
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return chain


@dataclass
class Email:
    """One email as threading sees it; ``key`` is the caller's own handle
    (a record id), handed back in the threads."""

    key: object
    message_id: str
    subject: str = ""
    date: datetime.datetime | None = None
    in_reply_to: str | None = None
    references: list = field(default_factory=list)

    @property
    def links(self):
        """The Message-IDs this email names as its ancestors."""
        return split_references(self.references) + split_references(self.in_reply_to)


@dataclass
class Thread:
    """Emails of one conversation, oldest first."""

    emails: list

    @property
    def first(self):
        return self.emails[0]

    @property
    def last(self):
        return self.emails[-1]

    @property
    def subject(self):
        """The thread's subject: its first email's, without prefixes."""
        for email in self.emails:
            if strip_prefixes(email.subject):
                return strip_prefixes(email.subject)
        return ""


class _Union:
    def __init__(self):
        self.parent = {}

    def find(self, item):
        parent = self.parent.setdefault(item, item)
        while parent != item:
            grand = self.parent.setdefault(parent, parent)
            self.parent[item] = grand
            item, parent = parent, grand
        return item

    def join(self, first, second):
        first, second = self.find(first), self.find(second)
        if first != second:
            self.parent[second] = first


def _date(email):
    date = email.date or _EPOCH
    if date.tzinfo is not None:
        date = date.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return date


def thread_emails(emails):
    """Group ``emails`` (:class:`Email`) into threads, newest thread first."""
    emails = list(emails)
    position = {id(email): index for index, email in enumerate(emails)}
    union = _Union()
    # One node per Message-ID: an email and every ancestor it names.
    for email in emails:
        union.find(email.message_id)
        for link in email.links:
            union.join(email.message_id, link)
    groups = {}
    for email in sorted(emails, key=lambda email: (_date(email), position[id(email)])):
        groups.setdefault(union.find(email.message_id), []).append(email)
    # An email that headers link to no other (a first message, or a client
    # that dropped In-Reply-To and References) falls back to its subject: it
    # joins the earlier thread of the same normalised subject.
    by_subject = {}
    for root, group in list(groups.items()):
        subject = normalise_subject(group[0].subject)
        if not subject:
            continue
        if subject not in by_subject:
            by_subject[subject] = root
        elif len(group) == 1:
            groups[by_subject[subject]].append(group[0])
            del groups[root]
    for group in groups.values():
        group.sort(key=lambda email: (_date(email), position[id(email)]))
    threads = [Thread(group) for group in groups.values()]
    threads.sort(key=lambda thread: _date(thread.last), reverse=True)
    return threads


# Elements without an end tag: they never open a level of nesting.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
    | {"source", "track", "wbr"}
)


class _Tokens(HTMLParser):
    """An HTML body as tokens: ``(kind, tag, raw)`` with kind "start", "end",
    "void" or "text" (entities kept as written). Tags, their attributes and
    comments are whole tokens: nothing is ever inserted inside one."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.tokens = []

    def handle_starttag(self, tag, attrs):
        kind = "void" if tag in _VOID else "start"
        self.tokens.append((kind, tag, self.get_starttag_text()))

    def handle_startendtag(self, tag, attrs):
        self.tokens.append(("void", tag, self.get_starttag_text()))

    def handle_endtag(self, tag):
        self.tokens.append(("void" if tag in _VOID else "end", tag, f"</{tag}>"))

    def handle_data(self, data):
        self.tokens.append(("text", None, data))

    def handle_entityref(self, name):
        self.tokens.append(("text", None, f"&{name};"))

    def handle_charref(self, name):
        self.tokens.append(("text", None, f"&#{name};"))

    def handle_comment(self, data):
        self.tokens.append(("void", None, f"<!--{data}-->"))

    def handle_decl(self, decl):
        self.tokens.append(("void", None, f"<!{decl}>"))

    def handle_pi(self, data):
        self.tokens.append(("void", None, f"<?{data}>"))

    def unknown_decl(self, data):
        self.tokens.append(("void", None, f"<![{data}]>"))


def _lines(body):
    """``body``'s tokens cut into lines at the line ends of its text (never
    inside a tag: an attribute value holding a line end stays whole)."""
    parser = _Tokens()
    parser.feed(body)
    parser.close()
    lines = [[]]
    for kind, tag, raw in parser.tokens:
        if kind != "text":
            lines[-1].append((kind, tag, raw))
            continue
        pieces = raw.split("\n")
        for number, piece in enumerate(pieces):
            if number:
                lines.append([])
            if piece:
                lines[-1].append((kind, tag, piece))
    return lines


def _raw(line):
    return "".join(raw for _kind, _tag, raw in line)


def _lead(line):
    """How many tokens open ``line`` before its text: the paragraph's ``<p>``."""
    return 1 if line and line[0][:2] == ("start", "p") else 0


def _quoted(line):
    rest = line[_lead(line) :]
    return bool(rest) and rest[0][0] == "text" and rest[0][2].startswith(("&gt;", ">"))


def _balanced(tokens):
    """Whether a span around ``tokens`` nests: every element opened in them is
    closed in them, and none opened before is closed."""
    depth = 0
    for kind, _tag, _raw in tokens:
        depth += {"start": 1, "end": -1}.get(kind, 0)
        if depth < 0:
            return False
    return depth == 0


def mark_text_quotes(body):
    """``body`` (``<p>`` text with ``<br>`` line ends) with each run of quoted
    lines, the attribution line and blank lines just before it, wrapped in a
    ``<span data-o-mail-quote="1">``. The body is read as HTML tokens, so a
    quote mark is only ever put between two of them."""
    lines = _lines(body)
    index = 0
    while index < len(lines):
        if not _quoted(lines[index]):
            index += 1
            continue
        start = index
        while index < len(lines) and _quoted(lines[index]):
            index += 1
        if start and _ATTRIBUTION.search(_raw(lines[start - 1])):
            start -= 1
        while start and _raw(lines[start - 1]) == "<br>":  # blank lines before it
            start -= 1
        first, last = lines[start], lines[index - 1]
        begin = _lead(first)
        closes = bool(last) and last[-1][:2] == ("end", "p")
        end = len(last) - closes  # the last line's tokens before its </p>
        if start == index - 1:
            inner = first[begin:end]
        else:
            inner = [
                *first[begin:],
                *[t for line in lines[start + 1 : index - 1] for t in line],
                *last[:end],
            ]
        if not _balanced(inner):
            continue
        opening = ("void", None, _QUOTE_OPEN)
        closing = ("void", None, "</span>")
        if start == index - 1:
            lines[start] = [*first[:begin], opening, *inner, closing, *first[end:]]
        else:
            lines[start] = [*first[:begin], opening, *first[begin:]]
            lines[index - 1] = [*last[:end], closing, *last[end:]]
    return "\n".join(_raw(line) for line in lines)
