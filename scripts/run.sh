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
install_or_update "$CONF" "$DB" .run/dev-install.log
cat <<MSG

  Odoo 18 with mail_sync_crm: http://localhost:$PORT/web/login   (database $DB)
    administrator: admin / admin
    salesperson:   sally / sally   (demo leads and opportunities are hers)
  Log: $ROOT/.run/dev.log      Stop: Ctrl-C or 'make stop'

MSG
exec "$PY" "$ODOO_BIN" -c "$CONF" -d "$DB" --pidfile="$PIDFILE"
