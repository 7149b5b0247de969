#!/usr/bin/env bash
# The plain lib/ tests (no Odoo) on every Python Odoo 18 runs on (3.10, 3.11, 3.12) that is
# present: the .venv's own, its output shown as it runs, and beside it each other one found
# (`python3.X` on PATH, else the newest 3.X that pyenv has), run at the same time (the
# tests mostly wait on their servers) with its output kept in .run/lib-tests-py3.X.log and
# printed in full when it fails. Each other Python gets a small venv .venv-py3.X with
# requirements-lib-tests.txt only, rebuilt when that file or the interpreter changes.
# Prints which Pythons ran and which are absent; fails when any run fails.
# Every run starts from the repository root with its pytest.ini, whose `pythonpath = .`
# makes the test harness (mail_sync_testing) importable.
# Usage: scripts/lib_tests.sh [pytest arguments...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
SUPPORTED="3.10 3.11 3.12"
REQS=requirements-lib-tests.txt
# pip, without its warnings about local index folders this machine may lack (as setup.sh).
pip_quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }; }
minor_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

pyenv_python() { # 3.X -> the newest pyenv 3.X.Y's interpreter, or nothing
  local pyenv version
  pyenv=$(command -v pyenv || echo "${PYENV_ROOT:-${HOME:-}/.pyenv}/bin/pyenv")
  [ -x "$pyenv" ] || return 0
  version=$("$pyenv" versions --bare 2>/dev/null | grep -E "^${1//./\\.}\.[0-9]+$" | sort -V | tail -n 1)
  [ -z "$version" ] || echo "$("$pyenv" prefix "$version" 2>/dev/null)/bin/python$1"
}

find_python() { # 3.X -> an interpreter that really is 3.X (a pyenv shim may not run), or nothing
  local candidate
  for candidate in "$(command -v "python$1" || true)" "$(pyenv_python "$1")"; do
    if [ -n "$candidate" ] && [ "$(minor_of "$candidate")" = "$1" ]; then
      echo "$candidate"
      return
    fi
  done
}

ensure_venv() { # 3.X interpreter -> .venv-py3.X holding $REQS, built when missing or stale
  local dir=".venv-py$1" stamp want
  stamp="$dir/.mail_sync_crm-stamp"
  want=$( (cat "$REQS"; echo "$2"; "$2" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  say "building $dir ($2, $REQS)"
  rm -rf "$dir"
  "$2" -m venv "$dir" || { echo "$2 cannot make a venv (on Debian/Ubuntu: apt-get install python$1-venv)" >&2; return 1; }
  pip_quiet "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
  "$dir/bin/python" -c 'import imapclient, aiosmtpd, authlib, cryptography, pytest, requests, werkzeug' \
    || { echo "$dir cannot import the lib tests' requirements" >&2; return 1; }
  echo "$want" > "$stamp"
}

join() { local IFS=,; echo "${*:-none}" | sed 's/,/, /g'; }

main_minor=$(minor_of "$PY")
found=() absent=()
for minor in $SUPPORTED; do
  [ "$minor" != "$main_minor" ] || continue
  exe=$(find_python "$minor")
  if [ -z "$exe" ]; then
    say "Python $minor: absent (no python$minor on PATH, none under pyenv); lib tests not run on it"
    absent+=("$minor")
    continue
  fi
  ensure_venv "$minor" "$exe"
  say "Python $minor: $exe (.venv-py$minor)"
  found+=("$minor")
done

mkdir -p .run
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM
for minor in "${found[@]}"; do
  ".venv-py$minor/bin/python" -m pytest -p no:odoo -p no:cacheprovider -q mail_sync_crm/lib/tests "$@" \
    > ".run/lib-tests-py$minor.log" 2>&1 &
  pids+=("$!")
done
main_version=$("$PY" -c 'import platform; print(platform.python_version())')
say "Python $main_version (.venv)${found[*]:+; Python $(join "${found[@]}") beside it}"
main_ok=true
"$PY" -m pytest -p no:odoo -p no:cacheprovider -q mail_sync_crm/lib/tests "$@" || main_ok=false

ran=() failed=()
if $main_ok; then ran+=("$main_version (.venv)"); else failed+=("$main_version (.venv)"); fi
for i in "${!found[@]}"; do
  minor=${found[$i]}
  log=".run/lib-tests-py$minor.log"
  version=$(".venv-py$minor/bin/python" -c 'import platform; print(platform.python_version())')
  if wait "${pids[$i]}"; then
    say "Python $version: $(grep -v "^$" "$log" | tail -n 1)"
    ran+=("$version")
  else
    cat "$log" >&2
    say "Python $version: lib tests FAILED (output above, kept in $log)" >&2
    failed+=("$version")
  fi
done
say "lib tests ran on Python $(join "${ran[@]}"); absent: $(join "${absent[@]}")${failed[*]:+; FAILED on: $(join "${failed[@]}")}"
[ ${#failed[@]} -eq 0 ]
