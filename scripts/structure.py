#!/usr/bin/env python3
"""A picture of the code's structure, generated from the code so it stays true.

Usage (from the repository root; ``make structure`` writes the "after" page)::

    python3 scripts/structure.py [--rev REV] [--output docs/structure.md]

Reads the code (every top folder holding Python: ``mail_sync_crm``,
``mail_sync_crm_queue_job``, ``scripts``, and any other), from the working tree
(tracked and untracked files, not the ignored ones) or, with
``--rev``, from a git revision (``git archive``), and writes a Markdown page:

* the packages (a directory of Python files; ``lib/`` counts one level deeper, so
  each of its sub-packages is a package of its own) with their files and lines;
* the imports between those packages, as a Mermaid graph (GitHub draws it) and as
  a table, two-way pairs marked; the modules that import each other; the private
  names a module takes from another; imports are read with ``ast``, relative ones
  resolved against the importing file, absolute ones (``odoo.addons.<addon>...``,
  ``<addon>...``, or ``lib...`` as the lib tests import it) against the tree;
* each Odoo model (``_name``, or ``_inherit`` without a new ``_name``) and the
  files that declare or extend it;
* every Python file with its line count and the models it holds, and the other
  folders (views, data, static, ...) as counts.

``docs/structure-before.md`` was made once, with ``--rev 04f7f1d --output
docs/structure-before.md`` (the code before the redesign of issue #17);
``docs/structure.md`` is the working tree, and
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
ADDON = "mail_sync_crm"
# Top folders that are no code: never read (this page is written there).
NOT_CODE = ("docs",)
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
        len(parts) > 1
        and not parts[0].startswith(".")
        and parts[0] not in NOT_CODE
        and "__pycache__" not in parts
        and not path.endswith((".pyc", ".pyo"))
    )


def _code_only(files):
    """The files of the top folders that hold Python: the addons, the scripts,
    and wherever a package may move (a test harness of its own, say)."""
    tops = {path.split("/")[0] for path in files if path.endswith(".py")}
    return {path: data for path, data in files.items() if path.split("/")[0] in tops}


def read_worktree(root=ROOT):
    """The code's files as they are on disk: git's tracked and untracked files
    (not the ignored ones); a plain walk when ``root`` is no git tree."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others"]
            + ["--exclude-standard"],
            check=True,
            capture_output=True,
        ).stdout.decode()
        paths = sorted({p for p in listed.split("\0") if p})
    except (OSError, subprocess.CalledProcessError):
        paths = sorted(
            p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
        )
    files = {}
    for path in paths:
        full = root / path
        if _wanted(path) and full.is_file():
            files[path] = full.read_bytes()
    return _code_only(files)


def read_revision(rev, root=ROOT):
    """The code's files at a git revision."""
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", rev],
        check=True,
        capture_output=True,
    ).stdout
    files = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and _wanted(member.name):
                files[member.name] = tar.extractfile(member).read()
    return _code_only(files)


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
    """The files of the tree an import statement reaches: one per name (None
    for a name not in the tree), or one for a plain ``import``; [] when the
    module is not in the tree."""
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
        # ``from pkg import module`` reaches the module, else pkg itself (None
        # where neither is in the tree).
        return [member or base_file for member in members]
    return []


def imported_names(files, path, tree):
    """[(file reached, name or None)] of each import of ``path`` into the tree:
    one per name of a ``from ... import``, None for a plain ``import``."""
    reached = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                reached += [(t, None) for t in _resolve(files, path, alias.name, [], 0)]
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names if alias.name != "*"]
            targets = _resolve(files, path, node.module or "", names, node.level)
            if names and targets:
                reached += list(zip(targets, names, strict=True))
            else:
                reached += [(t, None) for t in targets]
    return [(target, name) for target, name in reached if target]


def imports_of(files, path, tree):
    """The files of the tree ``path`` imports (with repeats, one per name)."""
    return [target for target, _name in imported_names(files, path, tree)]


def _is_test(path):
    parts = path.split("/")
    return "tests" in parts or parts[-1].startswith(("test_", "conftest"))


def _is_private(name, target, path):
    """A private name (``_x``, not ``__x__``) that ``path`` takes from another
    module: from a sibling, not from a package's own ``__init__``."""
    return (
        bool(name)
        and name.startswith("_")
        and not name.startswith("__")
        and target != path
        # ``from . import _module`` takes a module, not a name from one.
        and posixpath.basename(target) != f"{name}.py"
        and not target.endswith(f"/{name}/__init__.py")
    )


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
    private: list = field(default_factory=list)  # (file, file, private name)
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
        for target, name in imported_names(files, path, tree):
            if _is_private(name, target, path) and not _is_test(path):
                result.private.append((path, target, name))
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
    if addon == ADDON:
        return rest or "(addon root)"
    return f"{addon}/{rest}"


def _count(n):
    return f"{n:,}"


def render(structure, source):
    """The Markdown page of a structure read from ``source`` (words)."""
    files = structure.files
    py_lines = {p: files[p] or 0 for pkg in structure.packages.values() for p in pkg}
    out = [
        "# The structure of the code",
        "",
        (
            f"Generated by `scripts/structure.py` from {source}: do not edit. "
            "`make structure` writes `docs/structure.md` from the working tree;"
            " `docs/structure-before.md` is the code before the redesign of issue #17"
            " (`--rev 04f7f1d`). A package is a folder of Python files; `lib/`"
            " counts one level deeper. Packages named without their top folder are"
            " in `mail_sync_crm/`."
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
        "Private names (`_x`) a module outside the tests takes from another:"
        + ("" if structure.private else " none."),
        "",
    ]
    taken = defaultdict(list)
    for path, target, name in structure.private:
        taken[(path, target)].append(name)
    out += [
        f"- `{path}` from `{target}`: " + ", ".join(f"`{n}`" for n in sorted(names))
        for (path, target), names in sorted(taken.items())
    ]
    out += [""] if taken else []

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
