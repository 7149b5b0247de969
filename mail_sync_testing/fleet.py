"""A fleet of mailboxes in the database without a server each, and the SQL of
one mailbox's work measured against it (issue #23).

:func:`clone_mailbox` copies, in SQL, the rows of one mailbox (a real one,
connected or synced by the addon itself) ``count`` times: its owner (user and
partner), the mailbox, its folders and checkpoints, its ledger with the leads
and chatter messages it points at, its skip counts, its log, its own chatter
and followers. Every copy has its own owner, leads and addresses (tagged
``f<n>.``), ids remapped, so the copies are what that many mailboxes would
have left; their secrets are the template's (encrypted with the real key).
Ten thousand take seconds.

:class:`QueryLog` records every SQL statement a block of code runs on this
thread (Odoo's ``query_hooks``): its shape, the rows it returned or changed
(``cursor.rowcount``) and its time; :meth:`QueryLog.explain` gives each
distinct statement's plan and the tables it reads whole (Seq Scan).

Plain Python, no Odoo import: it takes a DB-API cursor (Odoo's will do).
"""

import dataclasses
import json
import re
import threading
import time
from collections import defaultdict

# The tables a mailbox adds rows to: a statement of one mailbox's work that
# reads one of these whole costs more with every mailbox.
FLEET_TABLES = frozenset(
    {
        "crm_lead",
        "ir_attachment",
        "mail_followers",
        "mail_message",
        "mail_sync_account",
        "mail_sync_connect_attempt",
        "mail_sync_content",
        "mail_sync_failed_message",
        "mail_sync_folder",
        "mail_sync_listener_lease",
        "mail_sync_log",
        "mail_sync_message",
        "mail_sync_moved",
        "mail_sync_oauth_token",
        "mail_sync_send_event",
        "mail_sync_skip_count",
        "mail_tracking_value",
        "res_partner",
        "res_users",
    }
)

# What is copied, in order (a table's foreign keys to a table copied before it
# point at the copy): the template's rows, selected by mailbox id (%(t)s).
_COPIED = (
    (
        "res_partner",
        (
            "id = (SELECT u.partner_id FROM res_users u JOIN mail_sync_account a"
            " ON a.user_id = u.id WHERE a.id = %(t)s)"
        ),
    ),
    ("res_users", "id = (SELECT user_id FROM mail_sync_account WHERE id = %(t)s)"),
    (
        "crm_lead",
        "id IN (SELECT lead_id FROM mail_sync_message WHERE account_id = %(t)s)",
    ),
    ("mail_sync_account", "id = %(t)s"),
    ("mail_sync_folder", "account_id = %(t)s"),
    (
        "mail_message",
        (
            "id IN (SELECT mail_message_id FROM mail_sync_message"
            " WHERE account_id = %(t)s) OR (model = 'mail.sync.account'"
            " AND res_id = %(t)s)"
        ),
    ),
    ("mail_sync_message", "account_id = %(t)s"),
    ("mail_sync_skip_count", "account_id = %(t)s"),
    ("mail_sync_log", "account_id = %(t)s"),
    ("mail_followers", "res_model = 'mail.sync.account' AND res_id = %(t)s"),
)
# Values unique per mailbox, owner or lead: tagged with the copy's number.
_TAGGED = {
    "res_partner": ("email", "email_normalized", "name"),
    "res_users": ("login",),
    "crm_lead": ("email_from", "email_normalized", "name"),
    "mail_sync_account": ("email", "imap_login", "smtp_login"),
    "mail_message": ("message_id",),
    "mail_sync_message": ("message_id",),
}
# Ids that are not foreign keys: (table, column) -> the column naming the model.
_RES_IDS = {
    ("mail_message", "res_id"): "model",
    ("mail_followers", "res_id"): "res_model",
}
# Who wrote a row: kept (the copies were written by the same hand).
_AUTHORS = frozenset({"create_uid", "write_uid"})
_MODEL_TABLES = {"crm.lead": "crm_lead", "mail.sync.account": "mail_sync_account"}


def _columns(cr, table):
    cr.execute(
        """SELECT column_name FROM information_schema.columns
            WHERE table_name = %s AND table_schema = current_schema()
         ORDER BY ordinal_position""",
        [table],
    )
    return [row[0] for row in cr.fetchall()]


def _foreign_keys(cr, table):
    """{column: referenced table} of ``table``'s single-column foreign keys."""
    cr.execute(
        """SELECT a.attname, c.confrelid::regclass::text
             FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.conrelid = %s::regclass
              AND array_length(c.conkey, 1) = 1""",
        [table],
    )
    return dict(cr.fetchall())


def _remap(table, expression):
    return (
        f"COALESCE((SELECT x.new FROM fleet_map_{table} x WHERE x.n = m.n"
        f" AND x.old = {expression}), {expression})"
    )


def clone_mailbox(cr, template, count, first=1, tag="f", keep=(), owners=None):
    """Copy mailbox ``template`` (an id) ``count`` times, numbered from
    ``first``; returns the new mailboxes' ids in number order. Rows are
    copied as they are (state, checkpoints, dates, secrets); what is unique
    per mailbox is tagged ``<tag><n>.``, but the columns ``keep`` (the
    mailboxes' ``imap_login``: all log in as the template). Temporary
    tables ``fleet_map_*`` (old id -> new id per copy) live until the
    transaction ends.

    ``owners``: the users (ids, one per copy, existing) who own the copies
    instead of copies of the template's owner; the mailbox's address and
    logins then have the template owner's login replaced by theirs."""
    # Table and column names come from _COPIED and the database's own catalogue,
    # the tag from the caller's code: no value from outside the test harness.
    # pylint: disable=sql-injection
    params = {"t": template, "first": first, "last": first + count - 1}
    if owners is not None:
        assert len(owners) == count, "one owner per copy"
        params["owners"] = list(owners)
    for table, where in _COPIED:  # every map first: a row may point at any
        if owners is not None and table in ("res_users", "res_partner"):
            cr.execute(
                f"""CREATE TEMPORARY TABLE IF NOT EXISTS fleet_map_{table}
                        (n int, old int, new int) ON COMMIT DROP"""
            )
            cr.execute(f"TRUNCATE fleet_map_{table}")
            column = "u.id" if table == "res_users" else "u.partner_id"
            old = "t.user_id" if table == "res_users" else "tu.partner_id"
            cr.execute(
                f"""INSERT INTO fleet_map_{table} (n, old, new)
                    SELECT %(first)s + o.i - 1, {old}, {column}
                      FROM unnest(%(owners)s::int[]) WITH ORDINALITY AS o(id, i)
                      JOIN res_users u ON u.id = o.id,
                           mail_sync_account t
                      JOIN res_users tu ON tu.id = t.user_id
                     WHERE t.id = %(t)s""",
                params,
            )
            cr.execute(f"CREATE INDEX ON fleet_map_{table} (n, old)")
            continue
        cr.execute(
            f"""CREATE TEMPORARY TABLE IF NOT EXISTS fleet_map_{table}
                    (n int, old int, new int) ON COMMIT DROP"""
        )
        cr.execute(f"TRUNCATE fleet_map_{table}")
        cr.execute(
            f"""INSERT INTO fleet_map_{table} (n, old, new)
                SELECT g, t.id, nextval('{table}_id_seq')
                  FROM generate_series(%(first)s, %(last)s) g,
                       (SELECT id FROM {table} WHERE {where}) t
              ORDER BY g, t.id""",
            params,
        )
        cr.execute(f"CREATE INDEX ON fleet_map_{table} (n, old)")
        cr.execute(f"ANALYZE fleet_map_{table}")
    copied = dict(_COPIED)
    for table, _where in _COPIED:
        if owners is not None and table in ("res_users", "res_partner"):
            continue
        keys = _foreign_keys(cr, table)
        values = []
        columns = _columns(cr, table)
        for column in columns:
            quoted = f't."{column}"'
            if column == "id":
                values.append("m.new")
            elif column in _TAGGED.get(table, ()) and column not in keep:
                if owners is not None and table == "mail_sync_account":
                    values.append(
                        f"replace({quoted}, (SELECT login FROM res_users"
                        f" WHERE id = t.user_id), (SELECT login FROM res_users"
                        f" WHERE id = {_remap('res_users', 't.user_id')}))"
                    )
                elif column == "message_id":
                    values.append(
                        f"regexp_replace({quoted}, '^<?', '<{tag}' || m.n || '.')"
                    )
                else:
                    values.append(f"'{tag}' || m.n || '.' || {quoted}")
            elif (table, column) in _RES_IDS:
                model = f't."{_RES_IDS[(table, column)]}"'
                cases = " ".join(
                    f"WHEN '{name}' THEN {_remap(mapped, quoted)}"
                    for name, mapped in _MODEL_TABLES.items()
                )
                values.append(f"CASE {model} {cases} ELSE {quoted} END")
            elif keys.get(column) in copied and column not in _AUTHORS:
                values.append(_remap(keys[column], quoted))
            else:
                values.append(quoted)
        names = ", ".join(f'"{c}"' for c in columns)
        cr.execute(
            f"""INSERT INTO {table} ({names})
                SELECT {", ".join(values)}
                  FROM fleet_map_{table} m JOIN {table} t ON t.id = m.old
              ORDER BY m.n, m.old"""
        )
    cr.execute("SELECT new FROM fleet_map_mail_sync_account ORDER BY n")
    new_ids = [row[0] for row in cr.fetchall()]
    for table, _where in _COPIED:
        cr.execute(f"ANALYZE {table}")
    return new_ids


@dataclasses.dataclass
class Statement:
    shape: str  # the query with its literal values taken out
    query: str | bytes
    params: object
    rows: int  # cursor.rowcount: rows returned, or changed
    seconds: float


# a list of value tuples, "(?, ?), (?, ?)", once its literals are "?"
_TUPLE = r"\(\s*\?(?:\s*,\s*\?)*\s*\)"
_VALUES = rf"{_TUPLE}(?:\s*,\s*{_TUPLE})*"
_LITERALS = [
    (re.compile(r"'(?:[^']|'')*'"), "?"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "?"),
    (re.compile(_VALUES), "(?)"),
    (re.compile(r"\s+"), " "),
]
_EXPLAINABLE = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


def shape(query):
    """``query`` with its literals and value lists taken out, so that the
    same statement with other values has the same shape."""
    text = query.decode("utf-8", "replace") if isinstance(query, bytes) else query
    for pattern, replacement in _LITERALS:
        text = pattern.sub(replacement, text)
    return text.strip()


class QueryLog:
    """The SQL statements run on this thread while the block lasts."""

    def __init__(self):
        self.statements = []
        self._saved = None

    def __enter__(self):
        thread = threading.current_thread()
        self._saved = getattr(thread, "query_hooks", None)
        thread.query_hooks = (*(self._saved or ()), self._hook)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
        thread = threading.current_thread()
        if self._saved is None:
            del thread.query_hooks
        else:
            thread.query_hooks = self._saved

    def _hook(self, cr, query, params, start, delay):
        self.statements.append(
            Statement(shape(query), query, params, cr.rowcount, delay)
        )

    @property
    def count(self):
        return len(self.statements)

    @property
    def rows(self):
        return sum(max(s.rows, 0) for s in self.statements)

    def by_shape(self):
        """{shape: (statements, rows, seconds)}, in order of first run."""
        totals = defaultdict(lambda: [0, 0, 0.0])
        for statement in self.statements:
            entry = totals[statement.shape]
            entry[0] += 1
            entry[1] += max(statement.rows, 0)
            entry[2] += statement.seconds
        return {key: tuple(value) for key, value in totals.items()}

    def explain(self, cr, enable_seqscan=True):
        """{shape: (plan as JSON, tables read whole)} of each distinct
        statement, planned as first run (its first values). With
        ``enable_seqscan`` False the planner takes any index it can: a Seq Scan
        left is a table no index serves."""
        plans = {}
        if not enable_seqscan:
            cr.execute("SET enable_seqscan = off")
        try:
            for statement in self.statements:
                if statement.shape in plans or not _EXPLAINABLE.match(
                    shape(statement.query)
                ):
                    continue
                query = statement.query
                if isinstance(query, bytes):
                    query = query.decode("utf-8")
                    params = None
                else:
                    params = statement.params
                if params is None:
                    query = query.replace("%", "%%")
                cr.execute("SAVEPOINT fleet_explain")
                try:
                    cr.execute("EXPLAIN (FORMAT JSON) " + query, params)
                    plan = cr.fetchone()[0]
                except Exception as exc:  # noqa: BLE001  # a statement of a transaction gone by
                    cr.execute("ROLLBACK TO SAVEPOINT fleet_explain")
                    plans[statement.shape] = (str(exc), set())
                    continue
                cr.execute("RELEASE SAVEPOINT fleet_explain")
                if isinstance(plan, str):
                    plan = json.loads(plan)
                plans[statement.shape] = (plan, _seq_scans(plan))
        finally:
            if not enable_seqscan:
                cr.execute("SET enable_seqscan = on")
        return plans

    def report(self, title, cr=None, limit=40):
        """A text table of the statements by shape (and their plans' Seq
        Scans when ``cr`` is given)."""
        sql = sum(s.seconds for s in self.statements) * 1000
        lines = [
            (
                f"== {title}: {self.count} statements, {self.rows} rows, "
                f"{self.seconds * 1000:.1f} ms (SQL {sql:.1f} ms)"
            )
        ]
        plans = self.explain(cr) if cr is not None else {}
        for key, (count, rows, seconds) in sorted(
            self.by_shape().items(), key=lambda item: -item[1][2]
        )[:limit]:
            scans = plans.get(key, (None, set()))[1]
            whole = f"  SEQ SCAN {sorted(scans)}" if scans else ""
            lines.append(
                f"{count:>4} x {rows:>7} rows {seconds * 1000:>8.2f} ms  "
                f"{key[:150]}{whole}"
            )
        return "\n".join(lines)


def _seq_scans(plan):
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("Node Type") == "Seq Scan":
                found.add(node.get("Relation Name"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return found


def growing_scans(plans):
    """{shape: tables} of the statements in ``plans``
    (:meth:`QueryLog.explain`) that read a fleet-sized table whole."""
    return {
        key: sorted(tables & FLEET_TABLES)
        for key, (_plan, tables) in plans.items()
        if tables & FLEET_TABLES
    }


def compare(small, large):
    """The shapes whose statement count or rows differ between two
    ``QueryLog`` of the same work (fewer and more mailboxes): {shape:
    ((count, rows) small, (count, rows) large)}."""
    a, b = small.by_shape(), large.by_shape()
    out = {}
    for key in dict.fromkeys([*a, *b]):
        left = a.get(key, (0, 0, 0))[:2]
        right = b.get(key, (0, 0, 0))[:2]
        if left != right:
            out[key] = (left, right)
    return out
