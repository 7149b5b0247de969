#!/usr/bin/env python3
"""A picture of the addons' structure, generated from the code so it stays true.

Usage (from the repository root; ``make structure`` writes the "after" page)::

    python3 scripts/structure.py [--rev REV] [--output docs/structure.md]

Reads the files of ``mail_sync_crm`` and ``mail_sync_crm_queue_job``, from the
working tree (tracked and untracked files, not the ignored ones) or, with
``--rev``, from a git revision (``git archive``), and writes a Markdown page:

* the packages (a directory of Python files; ``lib/`` counts one level deeper, so
  each of its sub-packages is a package of its own) with their files and lines;
* the imports between those packages, as a Mermaid graph (GitHub draws it) and as
  a table, two-way pairs marked; imports are read with ``ast``, relative ones
  resolved against the importing file, absolute ones (``odoo.addons.<addon>...``,
  ``<addon>...``, or ``lib...`` as the lib tests import it) against the tree;
* each Odoo model (``_name``, or ``_inherit`` without a new ``_name``) and the
  files that declare or extend it;
* every Python file with its line count and the models it holds, and the other
  folders (views, data, static, ...) as counts.

``docs/structure-before.md`` was made once with ``--rev 04f7f1d`` (the code before
the redesign of issue #17); ``docs/structure.md`` is the working tree, and
``mail_sync_crm/lib/tests/test_structure.py`` fails when it differs from what this
prints now. Standard library and git only, Python 3.10+.
"""

import argparse
import ast
import io
import pathlib
import posixpath
import subprocess
import sys
import tarfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parents[1]
ADDONS = ("mail_sync_crm", "mail_sync_crm_queue_job")
DOC = "docs/structure.md"
BEFORE_DOC = "docs/structure-before.md"
# Where a package is one level deeper than its top folder.
DEEP = ("lib",)


# ----------------------------------------------------------------------
# Reading a tree: {path relative to the repository root: bytes}
# ----------------------------------------------------------------------
def _wanted(path):
    parts = path.split("/")
    return (
        parts[0] in ADDONS
        and "__pycache__" not in parts
        and not path.endswith((".pyc", ".pyo"))
    )


def read_worktree(root=ROOT):
    """The addons' files as they are on disk: git's tracked and untracked files
    (not the ignored ones); a plain walk when ``root`` is no git tree."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others"]
            + ["--exclude-standard", "--", *ADDONS],
            check=True,
            capture_output=True,
        ).stdout.decode()
        paths = sorted({p for p in listed.split("\0") if p})
    except (OSError, subprocess.CalledProcessError):
        paths = sorted(
            p.relative_to(root).as_posix()
            for addon in ADDONS
            for p in (root / addon).rglob("*")
            if p.is_file()
        )
    files = {}
    for path in paths:
        full = root / path
        if _wanted(path) and full.is_file():
            files[path] = full.read_bytes()
    return files


def read_revision(rev, root=ROOT):
    """The addons' files at a git revision."""
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", rev, "--", *ADDONS],
        check=True,
        capture_output=True,
    ).stdout
    files = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and _wanted(member.name):
                files[member.name] = tar.extractfile(member).read()
    return files


# ----------------------------------------------------------------------
# Packages, imports, models
# ----------------------------------------------------------------------
def package_of(path):
    """The package a file counts in: its addon's top folder (``models``), one
    level deeper under ``lib`` (``lib/sync``, or ``lib`` for its own modules),
    the addon itself for the files at its root."""
    parts = path.split("/")[:-1]
    if len(parts) >= 2 and parts[1] in DEEP:
        return "/".join(parts[:3])
    return "/".join(parts[:2])


def lines_of(data):
    """Line count of a text file; None for a binary one."""
    if b"\0" in data:
        return None
    try:
        return len(data.decode("utf-8").splitlines())
    except UnicodeDecodeError:
        return None


def _module_file(files, dotted):
    """The file of a dotted module path (``mail_sync_crm.lib.tls``), if it is
    in the tree: a module or a package's ``__init__.py``."""
    base = dotted.replace(".", "/")
    for candidate in (base + ".py", base + "/__init__.py"):
        if candidate in files:
            return candidate
    return None


def _resolve(files, importer, module, names, level):
    """The files of the tree an import statement reaches (a list)."""
    if level:
        package = posixpath.dirname(importer).split("/")
        if level > 1:
            package = package[: -(level - 1)]
        bases = [".".join(package + ([module] if module else []))]
    else:
        module = module.removeprefix("odoo.addons.")
        # As the repository root sees it, then as the importing addon does
        # (the lib tests put the addon's folder on sys.path: ``lib.tls``).
        addon = importer.split("/")[0]
        bases = [module, f"{addon}.{module}"]
    for base in bases:
        base_file = _module_file(files, base)
        members = [_module_file(files, f"{base}.{name}") for name in names]
        if base_file is None and not any(members):
            continue
        if not names:
            return [base_file]
        # ``from pkg import module`` reaches the module, else pkg itself.
        return [member or base_file for member in members if member or base_file]
    return []


def imports_of(files, path, tree):
    """The files of the tree ``path`` imports (with repeats, one per name)."""
    reached = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                reached += _resolve(files, path, alias.name, [], 0)
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names if alias.name != "*"]
            reached += _resolve(files, path, node.module or "", names, node.level)
    return reached


def _strings(value):
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [value.value]
    if isinstance(value, (ast.List, ast.Tuple)):
        return [v.value for v in value.elts if isinstance(v, ast.Constant)]
    return []


def models_of(tree):
    """[(model, how)] of each class of a module: how is "new" for a ``_name``
    of its own, "extends" for an ``_inherit`` of one model without a new name."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        attrs = {}
        for statement in node.body:
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        attrs[target.id] = _strings(statement.value)
        name = attrs.get("_name") or []
        inherit = attrs.get("_inherit") or []
        if name and name[0] not in inherit:
            found.append((name[0], "new"))
        elif name:
            found.append((name[0], "extends"))
        elif inherit:
            found += [(model, "extends") for model in inherit]
    return found


@dataclass
class Structure:
    files: dict = field(default_factory=dict)  # path -> lines (None: binary)
    packages: dict = field(default_factory=dict)  # package -> [python paths]
    edges: Counter = field(default_factory=Counter)  # (from, to) -> imports
    module_edges: set = field(default_factory=set)  # (file, file imported)
    models: dict = field(default_factory=lambda: defaultdict(list))
    file_models: dict = field(default_factory=lambda: defaultdict(list))


def _registers(importer, target):
    """An ``__init__.py`` importing what lies below its own folder only
    registers its package's parts (Odoo loads ``models`` so): no dependency."""
    folder = posixpath.dirname(importer)
    return importer.endswith("__init__.py") and target.startswith(folder + "/")


def two_way(module_edges):
    """The pairs of modules that import each other, each pair once, sorted."""
    return sorted((a, b) for a, b in module_edges if a < b and (b, a) in module_edges)


def analyse(files):
    """The structure of a tree given as {path: bytes}."""
    result = Structure()
    for path in sorted(files):
        result.files[path] = lines_of(files[path])
    for path in sorted(files):
        if not path.endswith(".py"):
            continue
        package = package_of(path)
        result.packages.setdefault(package, []).append(path)
        try:
            tree = ast.parse(files[path].decode("utf-8"), filename=path)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for target in imports_of(files, path, tree):
            if _registers(path, target):
                continue
            if target != path:
                result.module_edges.add((path, target))
            other = package_of(target)
            if other != package:
                result.edges[(package, other)] += 1
        for model, how in models_of(tree):
            result.models[model].append((path, how))
            result.file_models[path].append((model, how))
    return result


# ----------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------
def _node_id(package):
    return "p_" + package.replace("/", "__").replace(".", "_")


def _short(package):
    addon, _sep, rest = package.partition("/")
    if addon == ADDONS[0]:
        return rest or "(addon root)"
    return f"{addon}/{rest}" if rest else f"{addon} (root)"


def _count(n):
    return f"{n:,}"


def render(structure, source):
    """The Markdown page of a structure read from ``source`` (words)."""
    files = structure.files
    py_lines = {p: files[p] or 0 for pkg in structure.packages.values() for p in pkg}
    out = [
        "# The structure of the addons",
        "",
        (
            f"Generated by `scripts/structure.py` from {source}: do not edit. "
            "`make structure` writes `docs/structure.md` from the working tree;"
            " `docs/structure-before.md` is the code before the redesign of issue #17"
            " (`--rev 04f7f1d`). A package is a folder of Python files; `lib/`"
            " counts one level deeper. Names without an addon are in `mail_sync_crm/`."
        ),
        "",
        (
            f"{_count(len(py_lines))} Python files, {_count(sum(py_lines.values()))}"
            f" lines, in {len(structure.packages)} packages."
        ),
        "",
        "## Imports between packages",
        "",
        (
            "An arrow goes from the importing package to the imported one; its label"
            " counts the names imported."
        ),
        "",
        "```mermaid",
        "graph LR",
    ]
    by_addon = defaultdict(list)
    for package in structure.packages:
        by_addon[package.split("/")[0]].append(package)
    for addon in sorted(by_addon):
        out.append(f'  subgraph addon_{addon}["{addon}"]')
        for package in sorted(by_addon[addon]):
            paths = structure.packages[package]
            lines = sum(py_lines[p] for p in paths)
            label = f"{_short(package)}<br/>{len(paths)} files, {_count(lines)} lines"
            out.append(f'    {_node_id(package)}["{label}"]')
        out.append("  end")
    for (source_pkg, target), count in sorted(structure.edges.items()):
        out.append(f"  {_node_id(source_pkg)} -->|{count}| {_node_id(target)}")
    out += ["```", ""]

    out += [
        "| Package | Imports from (names) | Two-way |",
        "|---|---|---|",
    ]
    for package in sorted(structure.packages):
        targets = sorted(
            (t, n) for (s, t), n in structure.edges.items() if s == package
        )
        both = [t for t, _n in targets if (t, package) in structure.edges]
        shown = ", ".join(f"{_short(t)} ({n})" for t, n in targets) or "—"
        loops = ", ".join(_short(t) for t in both) or ""
        out.append(f"| {_short(package)} | {shown} | {loops} |")
    out.append("")

    pairs = two_way(structure.module_edges)
    out += [
        "Modules that import each other (a two-way loop between two files):"
        + ("" if pairs else " none."),
        "",
    ]
    out += [f"- `{a}` and `{b}`" for a, b in pairs]
    out += [""] if pairs else []

    out += [
        "## Models and their files",
        "",
        (
            "Each Odoo model the addons declare (`_name`) or extend (`_inherit`), and"
            " the files that do it."
        ),
        "",
        "| Model | Files | Lines | Declared in | Extended in |",
        "|---|---|---|---|---|",
    ]
    for model in sorted(structure.models):
        entries = structure.models[model]
        paths = sorted({p for p, _how in entries})
        new = sorted({p for p, how in entries if how == "new"})
        extends = sorted({p for p, how in entries if how == "extends"})
        lines = sum(files[p] or 0 for p in paths)
        out.append(
            f"| `{model}` | {len(paths)} | {_count(lines)} | "
            + (", ".join(f"`{p}`" for p in new) or "—")
            + " | "
            + (", ".join(f"`{p}`" for p in extends) or "—")
            + " |"
        )
    out.append("")

    out += ["## Packages and files", ""]
    for package in sorted(structure.packages):
        paths = structure.packages[package]
        lines = sum(py_lines[p] for p in paths)
        out += [
            f"### {package}/ ({len(paths)} files, {_count(lines)} lines)",
            "",
            "| File | Lines | Models |",
            "|---|---|---|",
        ]
        for path in paths:
            models = ", ".join(
                f"`{m}`" + (" (extends)" if how == "extends" else "")
                for m, how in structure.file_models.get(path, [])
            )
            out.append(
                f"| `{path[len(package) + 1 :]}` | {_count(py_lines[path])} "
                f"| {models} |"
            )
        out.append("")

    others = defaultdict(lambda: [0, 0])
    for path, lines in files.items():
        if path.endswith(".py"):
            continue
        folder = "/".join(path.split("/")[:2]) if path.count("/") >= 1 else path
        if path.count("/") == 1:
            folder = path.split("/")[0] + " (root)"
        others[folder][0] += 1
        others[folder][1] += lines or 0
    out += [
        "## Other files",
        "",
        (
            "Views, data, translations, web assets and the like, by folder (binary"
            " files count no lines)."
        ),
        "",
        "| Folder | Files | Lines |",
        "|---|---|---|",
    ]
    for folder in sorted(others):
        count, lines = others[folder]
        out.append(f"| `{folder}` | {count} | {_count(lines)} |")
    out.append("")
    return "\n".join(out)


def generate(rev=None, root=ROOT):
    """The page of the working tree, or of a git revision."""
    if rev:
        return render(analyse(read_revision(rev, root)), f"git revision `{rev}`")
    return render(analyse(read_worktree(root)), "the working tree")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="a git revision instead of the working tree")
    parser.add_argument("--output", help="write the page here instead of stdout")
    args = parser.parse_args(argv)
    page = generate(args.rev)
    if args.output:
        pathlib.Path(args.output).write_text(page, encoding="utf-8")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
