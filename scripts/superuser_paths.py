#!/usr/bin/env python3
"""The inventory of the addons' superuser paths, and why each is safe.

Usage (from the repository root; ``make superuser-paths`` writes the docs page)::

    python3 scripts/superuser_paths.py [--output docs/superuser-paths.rst]

Finds, in the production code of ``mail_sync_crm`` and ``mail_sync_crm_queue_job``
(not their ``tests/``, not ``mail_sync_crm/lib/``, which has no Odoo), every place
that runs as superuser: a ``.sudo(...)`` call, an ``env.su`` check or use, an
environment made with ``su=...``, ``SUPERUSER_ID``, and a call or definition of a
helper whose name says ``sudo`` (``_do_sudo``). Each must carry a ``# sudo:``
comment saying why no value a client chooses (an RPC argument, a request parameter,
a context value, a synced email's content) reaches it unchecked.

Where the comment goes: on the site's line; on a line of the site's statement before
it (a chained call over several lines); in the block of comment lines right above
that statement (no blank line between); or, for the first statement of the body of
an ``if``, ``for``, ``with``, ``try``... (not of a function or class), right above
that compound statement's header. A comment covers its own statement only.

Prints the inventory as a reStructuredText table (or writes it to ``--output``);
exits with 1, naming ``file:line``, when a site has no ``# sudo:`` comment.
``mail_sync_crm/lib/tests/test_superuser_paths.py`` runs the same check and
compares the committed ``docs/superuser-paths.rst`` with what this prints now.
Standard library only, Python 3.10+.
"""

import argparse
import ast
import io
import pathlib
import re
import sys
import tokenize
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = ("mail_sync_crm", "mail_sync_crm_queue_job")
SKIPPED = ("mail_sync_crm/lib",)  # no Odoo there: nothing runs as superuser
MARK = "# sudo:"
DOC = "docs/superuser-paths.rst"
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# The code column shows at most this many characters of the statement.
CODE_WIDTH = 100


@dataclass(frozen=True)
class Site:
    """One superuser path: its line (1-based), what it is, its code and the
    reason its ``# sudo:`` comment gives (None when it has none)."""

    line: int
    kind: str
    code: str
    reason: str | None


# ----------------------------------------------------------------------
# Finding the sites
# ----------------------------------------------------------------------
def _site_nodes(tree):
    """(line, kind) of each superuser path of ``tree``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "sudo":
                found.add((func.end_lineno, ".sudo()"))
            else:
                name = _called_name(func)
                if name and name != "sudo" and "sudo" in name.lower():
                    found.add((func.end_lineno, "sudo helper"))
        elif isinstance(node, ast.Attribute) and node.attr == "su":
            found.add((node.end_lineno, "env.su"))
        elif isinstance(node, ast.keyword) and node.arg == "su":
            found.add((node.lineno, "su="))
        elif isinstance(node, ast.Name | ast.Attribute) and (
            getattr(node, "id", None) == "SUPERUSER_ID"
            or getattr(node, "attr", None) == "SUPERUSER_ID"
        ):
            found.add((node.end_lineno, "SUPERUSER_ID"))
        elif (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name != "sudo"
            and "sudo" in node.name.lower()
        ):
            found.add((node.lineno, "sudo helper"))
    return sorted(found)


def _called_name(func):
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _statements(tree):
    """[(statement, parent)] of every statement of ``tree``: ``parent`` is the
    compound statement (``if``, ``for``, ``with``, ``try``, ``except``...) whose
    body this statement begins, else None."""
    found = []

    def visit(node, parent):
        for field in ("body", "orelse", "finalbody", "handlers"):
            children = getattr(node, field, None)
            if not isinstance(children, list):
                continue
            for index, child in enumerate(children):
                if isinstance(child, ast.excepthandler):
                    visit(child, child)
                    continue
                first = field == "body" and index == 0
                found.append((child, parent if first else None))
                # A function's or class's body is not covered from outside it.
                visit(child, None if isinstance(child, DEFINITIONS) else child)

    visit(tree, None)
    return found


class _Source:
    """One Python file: its lines, comments and statements."""

    def __init__(self, text):
        self.tree = ast.parse(text)
        self.lines = text.splitlines()
        self.comments = {}  # line -> comment text
        self.columns = {}  # line -> where its comment starts
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                self.comments[token.start[0]] = token.string
                self.columns[token.start[0]] = token.start[1]
        self.statements = _statements(self.tree)

    def is_comment_line(self, line):
        return line in self.comments and self.lines[line - 1].lstrip().startswith("#")

    def is_mark(self, line):
        return self.comments.get(line, "").startswith(MARK)

    def statement(self, line):
        """(the innermost statement whose lines hold ``line``, its parent)."""
        best = (None, None)
        for statement, parent in self.statements:
            if statement.lineno <= line <= statement.end_lineno and (
                best[0] is None or statement.lineno >= best[0].lineno
            ):
                best = (statement, parent)
        return best

    def reason_at(self, line):
        """The reason of the ``# sudo:`` comment on ``line``: its text and that
        of the comment lines right below it (up to code or another ``# sudo:``)."""
        parts = [self.comments[line][len(MARK) :].strip()]
        if self.is_comment_line(line):  # not a comment at the end of code
            following = line + 1
            while self.is_comment_line(following) and not self.is_mark(following):
                parts.append(self.comments[following].lstrip("#").strip())
                following += 1
        return " ".join(part for part in parts if part)

    def reason(self, line):
        """The reason given for the site on ``line``, or None."""
        statement, parent = self.statement(line)
        first = statement.lineno if statement else line
        # On the site's line, or a line of its statement before it.
        for candidate in range(line, first - 1, -1):
            if self.is_mark(candidate):
                return self.reason_at(candidate)
        while True:
            # The comment block right above the statement.
            above = first - 1
            block = []
            while above >= 1 and self.is_comment_line(above):
                block.append(above)
                above -= 1
            for candidate in reversed(block):
                if self.is_mark(candidate):
                    return self.reason_at(candidate)
            # Without a comment in between, the statement that begins the body
            # of a compound statement is covered from above that one's header.
            if block or parent is None or parent.body[0].lineno != first:
                return None
            header_end, first = first - 1, parent.lineno
            for candidate in range(header_end, first - 1, -1):
                if self.is_mark(candidate):
                    return self.reason_at(candidate)
            parent = self.statement(first)[1]

    def code(self, line):
        """The site's statement from its first line to the site's, on one line
        (comments left out)."""
        statement, _parent = self.statement(line)
        first = statement.lineno if statement else line
        code = ""
        for number in range(first, line + 1):
            text = self.lines[number - 1]
            if number in self.columns:
                text = text[: self.columns[number]]
            text = text.strip()
            if not text:
                continue
            if code and not (
                text.startswith((".", ")", "]", "}")) or code.endswith(("(", "[", "{"))
            ):
                code += " "
            code += text
        if len(code) > CODE_WIDTH:
            code = "..." + code[-(CODE_WIDTH - 3) :]
        return code


def find_sites(text):
    """The superuser paths of the Python source ``text``, as ``Site`` s, in
    the order of their lines."""
    source = _Source(text)
    return [
        Site(line, kind, source.code(line), source.reason(line))
        for line, kind in _site_nodes(source.tree)
    ]


# ----------------------------------------------------------------------
# The addons' inventory
# ----------------------------------------------------------------------
def production_files(root=ROOT):
    """The addons' production Python files, relative to ``root``, sorted."""
    files = []
    for module in MODULES:
        for path in sorted((root / module).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if "tests" in path.relative_to(root).parts:
                continue
            if any(relative.startswith(skipped + "/") for skipped in SKIPPED):
                continue
            files.append(relative)
    return files


def inventory(root=ROOT):
    """[(relative path, Site)] of every superuser path of the addons."""
    found = []
    for relative in production_files(root):
        text = (root / relative).read_text(encoding="utf-8")
        found.extend((relative, site) for site in find_sites(text))
    return found


def missing_reasons(found):
    """``file:line: code`` of each site without a ``# sudo:`` comment."""
    return [
        f"{path}:{site.line}: {site.code}" for path, site in found if not site.reason
    ]


# ----------------------------------------------------------------------
# The reStructuredText page
# ----------------------------------------------------------------------
_EMPHASIS = re.compile(r"([*|`\\])")
_TRAILING_UNDERSCORE = re.compile(r"(\w)_(?=\W|$)")


def _text(value):
    """Plain text for a table cell: inline literals (``x``) kept, the other
    characters reStructuredText would read as markup escaped."""
    parts = re.split(r"(``[^`]+``)", value)
    return "".join(
        part
        if part.startswith("``")
        else _TRAILING_UNDERSCORE.sub(r"\1\\_", _EMPHASIS.sub(r"\\\1", part))
        for part in parts
    )


def _literal(code):
    # An inline literal may not contain two backquotes in a row, nor start or
    # end with a space.
    return "``" + code.replace("``", "` `").strip() + "``"


HEADER = """\
..
   Generated by scripts/superuser_paths.py: do not edit by hand.
   Regenerate it with `make superuser-paths` after changing a superuser path
   or its ``# sudo:`` comment;
   mail_sync_crm/lib/tests/test_superuser_paths.py fails while it is stale.

=====================
Superuser paths
=====================

Every place where the production code of ``mail_sync_crm`` and
``mail_sync_crm_queue_job`` runs as superuser: each ``.sudo()`` call, each
``env.su`` check or use, each environment made with ``su=``, each
``SUPERUSER_ID`` and each ``sudo`` helper ({count} in all, in {files} files). Beside
each, from the ``# sudo:`` comment above it in the code, why no value a client
chooses (an RPC argument, a request parameter, a context value, a synced email's
content) reaches it unchecked.

A client chooses the whole context of its call (``call_kw``, the JSON routes'
``context``). Odoo's ``sudo()`` drops its ``default_<field>`` keys (which every
``create`` reads), not the others: the superuser work a client's call starts with
its context (Sync Now, the contact of "Send message") runs with a context of the
addon's own (``addon_sudo``, ``mail_sync_crm/superuser.py``). Not listed here: the
SQL the addon runs itself (the ledger ``INSERT``, the chatter bodies, the OAuth
token refresh), which no access right checks either; their values are the sync's.

"""


def render(found):
    """The inventory as the reStructuredText page ``docs/superuser-paths.rst``."""
    rows = [
        "   * - {where}\n     - {code}\n     - {reason}".format(
            # the file only: line numbers would make every edit above a site
            # stale the page (the order of the rows is the files' order)
            where=_text(path),
            code=_literal(site.code),
            reason=_text(site.reason or "(no # sudo: comment)"),
        )
        for path, site in found
    ]
    table = (
        ".. list-table::\n"
        "   :header-rows: 1\n"
        "   :widths: 20 35 45\n\n"
        "   * - Where\n"
        "     - Code\n"
        "     - Why no caller-chosen value passes\n" + "\n".join(rows) + "\n"
    )
    files = len({path for path, _site in found})
    return HEADER.format(count=len(found), files=files) + table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", help=f"write the page there (e.g. {DOC}) instead of printing it"
    )
    args = parser.parse_args(argv)
    found = inventory()
    missing = missing_reasons(found)
    if missing:
        sys.stderr.write(
            f"superuser paths without a '{MARK}' comment saying why no "
            "caller-chosen value passes:\n  " + "\n  ".join(missing) + "\n"
        )
        return 1
    page = render(found)
    if args.output:
        pathlib.Path(args.output).write_text(page, encoding="utf-8")
        sys.stdout.write(f"{args.output}: {len(found)} superuser paths\n")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
