#!/usr/bin/env bash
# make test: set-up if needed, lint, install/update the addon in a dedicated test database,
# plain pytest over lib/ tests (on the .venv's Python and, at the same time, on every other
# one of 3.10-3.12 present: scripts/lib_tests.sh; they run while the databases are
# installed and the web assets compiled, and their output is printed after), then
# pytest-odoo over the addon's tests,
# then over the queue_job glue module's tests in a database of their own, where OCA
# queue_job is installed (the main one keeps testing the addon without it). Each pytest
# run ends with its summary line; a failure of either fails make test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
CONF=.run/test.conf
DB=$(conf_get "$CONF" db_name)
QUEUE_JOB_DB="${DB}_queue_job"

say "lint: ruff"
.venv/bin/ruff check mail_sync_crm mail_sync_crm_queue_job mail_sync_testing scripts
.venv/bin/ruff format --check mail_sync_crm mail_sync_crm_queue_job mail_sync_testing scripts
say "lint: pylint-odoo"
.venv/bin/pylint --rcfile=.pylintrc mail_sync_crm mail_sync_crm_queue_job mail_sync_testing scripts
say "lint: vermin (nothing newer than Python 3.10 needed)"
.venv/bin/vermin --target=3.10- --violations --quiet --no-tips --eval-annotations \
  --no-make-paths-absolute mail_sync_crm mail_sync_crm_queue_job mail_sync_testing scripts

# The lib tests need no database: they run beside the installs below (which mostly
# wait on PostgreSQL and one Odoo process), their output kept and printed after.
say "plain pytest: mail_sync_crm/lib/tests, on each Python among 3.10-3.12 present (in the background)"
scripts/lib_tests.sh ${PYTEST_ARGS:-} > .run/lib-tests.log 2>&1 &
lib_tests_pid=$!
trap 'kill "$lib_tests_pid" 2>/dev/null || true' EXIT

# The test databases outlive a clone (and its .run/data): one whose stored test
# secrets were made with a key this clone does not have is rebuilt (as make run
# does with the demo database), or every test storing a password would fail.
for db in "$DB" "$QUEUE_JOB_DB"; do
  if db_outlived_its_key "$CONF" "$db"; then
    say "the test database $db was made with an encryption key this clone does not have: rebuilding it"
    dropdb "$db"
  fi
done
install_or_update "$CONF" "$DB" .run/test-install.log --without-demo=all

# Compile the web client's bundles once, committed: a tour's first page load then
# needs no compilation (Odoo waits only 60 s for a tour to be ready, and each
# HttpCase class would otherwise compile them again in its rolled-back transaction).
# Old bundles go first: the database outlives a clone and its filestore (.run/data),
# and a bundle whose files did not change keeps its URL, so Odoo would serve the
# old record's missing file (an HTTP 500 instead of the web client's CSS).
say "warming the web assets of database $DB"
"$PY" "$ODOO_BIN" shell -c "$CONF" -d "$DB" --no-http --log-level=warn >/dev/null 2>&1 <<'PYCODE' \
  || say "asset warm-up failed; the tours compile the assets themselves"
env["ir.attachment"].regenerate_assets_bundles()
for name in ("web.assets_web", "web.assets_tests"):
    bundle = env["ir.qweb"]._get_asset_bundle(name)
    bundle.js()
    bundle.css()
env.cr.commit()
PYCODE

say "plain pytest: mail_sync_crm/lib/tests (output of the background run)"
lib_status=0
wait "$lib_tests_pid" || lib_status=$?
trap - EXIT
cat .run/lib-tests.log
if [ "$lib_status" -ne 0 ]; then
  say "lib tests FAILED (output above, kept in .run/lib-tests.log)" >&2
  exit "$lib_status"
fi

# The glue's database is needed only by the last pass: it is installed in the
# background during the first one (which leaves most of the 2 cores idle, waiting on
# its servers and processes), its output kept and printed before that pass.
# Odoo's -u updates a module and those depending on it, not its dependencies: the
# glue's database updates mail_sync_crm first (its new models get their tables).
say "installing or updating the database $QUEUE_JOB_DB (in the background)"
(
  install_or_update "$CONF" "$QUEUE_JOB_DB" .run/test-install-queue-job.log --without-demo=all
  install_or_update_module mail_sync_crm_queue_job "$CONF" "$QUEUE_JOB_DB" \
    .run/test-install-queue-job.log --without-demo=all
) > .run/queue-job-db.log 2>&1 &
queue_job_db_pid=$!
trap 'kill "$queue_job_db_pid" 2>/dev/null || true' EXIT

status=0
say "pytest-odoo: mail_sync_crm/tests (database $DB)"
# Odoo logs its warnings and errors to $LOG (pytest-odoo would silence all but
# CRITICAL). A failing pass prints the server side too (an HTTP 500 behind a tour's
# error): the ERROR/CRITICAL lines of that pass's Odoo log, then its summary again.
LOG=$(conf_get "$CONF" logfile)
run_odoo_tests() { # DB PATH [pytest args...]
  local db=$1 path=$2 rc; shift 2
  : > "$LOG"
  set +e
  .venv/bin/python -m pytest -p no:cacheprovider -q --durations=15 --odoo-log-level=warn "$@" \
    --odoo-config="$CONF" --odoo-database="$db" "$path" ${PYTEST_ARGS:-} | tee .run/pytest-odoo.out
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    say "the Odoo log's errors during this pass ($LOG), last 60 lines of them with context:"
    grep -nE -A12 '^[0-9-]+ [0-9:,]+ [0-9]+ (ERROR|CRITICAL) ' "$LOG" | tail -n 60 || true
    tail -n 1 .run/pytest-odoo.out
  fi
  return "$rc"
}
run_odoo_tests "$DB" mail_sync_crm/tests --odoo-http || status=$?

queue_job_db_status=0
wait "$queue_job_db_pid" || queue_job_db_status=$?
trap - EXIT
cat .run/queue-job-db.log
if [ "$queue_job_db_status" -ne 0 ]; then
  say "the database $QUEUE_JOB_DB could not be installed (output above)" >&2
  exit "$queue_job_db_status"
fi
say "pytest-odoo: mail_sync_crm_queue_job/tests (database $QUEUE_JOB_DB, with OCA queue_job)"
run_odoo_tests "$QUEUE_JOB_DB" mail_sync_crm_queue_job/tests || status=$?
exit $status
