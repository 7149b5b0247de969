#!/usr/bin/env bash
# make run: set-up if needed, install/update the addon with demo data in the dev database,
# then Odoo in the foreground on http://localhost:8069 (Ctrl-C or `make stop` ends it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
CONF=.run/dev.conf
DB=$(conf_get "$CONF" db_name)
PORT=$(conf_get "$CONF" http_port)
PIDFILE=.run/odoo.pid
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "Odoo is already running (PID $(cat "$PIDFILE")); 'make stop' ends it." >&2
  exit 1
fi
# A demo database made by another checkout, or before a `make clean`, outlives the
# encryption key of its mailbox passwords (kept under .run/data) and its filestore:
# its mailboxes could never sign in again. It is demo data: rebuild it.
if db_outlived_its_key "$CONF" "$DB"; then
  say "the demo database $DB was made with an encryption key this checkout does not have"
  say "(.run/ was removed, or another checkout made it): rebuilding it with fresh demo data"
  dropdb "$DB"
fi
install_or_update "$CONF" "$DB" .run/dev-install.log

# The demo mail server (real Dovecot + SMTP on loopback) for Sally's mailbox.
STATE=.run/demo-mail.json
rm -f "$STATE"
"$PY" scripts/demo_mail.py serve "$STATE" > .run/demo-mail.log 2>&1 &
DEMO_PID=$!
LISTENER_PID=
trap 'kill $LISTENER_PID "$DEMO_PID" 2>/dev/null; wait $LISTENER_PID "$DEMO_PID" 2>/dev/null' EXIT
for _ in $(seq 1 100); do [ -f "$STATE" ] && break; sleep 0.1; done
[ -f "$STATE" ] || { cat .run/demo-mail.log >&2; echo "the demo mail server did not start" >&2; exit 1; }
# Connecting the demo mailboxes: a failure says why on the terminal too.
if ! "$PY" scripts/demo_mail.py connect "$CONF" "$DB" "$STATE" 2> >(tee -a .run/demo-mail.log >&2); then
  echo "connecting the demo mailboxes failed (above; full log: .run/demo-mail.log)" >&2
  exit 1
fi

# The listener: an email arriving in a demo mailbox is on its lead seconds later.
"$PY" "$ODOO_BIN" --addons-path="$(conf_get "$CONF" addons_path)" mail_sync_listener \
  -c "$CONF" -d "$DB" --logfile="$ROOT/.run/listener.log" &
LISTENER_PID=$!

cat <<MSG

  Odoo 18 with mail_sync_crm: http://localhost:$PORT/web/login   (database $DB)
    administrator: admin / admin
    salespeople:   sally / sally   (most demo leads and opportunities are hers;
                                    open "Acme Corp" to see its synced emails)
                   sam / sam       (his: "Wayne Logistics"; as sally, "Umbrella"
                                    names him as First Contact By)
                   Both mailboxes are connected to a local demo mail server.
  A new email from Alice, on "Acme Corp"'s open chatter seconds later, no reload
  (the listener):  make demo-email   (.venv/bin/python scripts/demo_mail.py append $STATE)
  Log: $ROOT/.run/dev.log  (listener: .run/listener.log)  Stop: Ctrl-C or 'make stop'

MSG
"$PY" "$ODOO_BIN" -c "$CONF" -d "$DB" --pidfile="$PIDFILE"
