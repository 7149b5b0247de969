# Shared helpers for the project's scripts (sourced, not run).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY="$ROOT/.venv/bin/python"
ODOO_BIN="${ODOO_SRC:-}/odoo-bin"
say() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*"; }
conf_get() { # conf key
  awk -F' = ' -v k="$2" '$1 == k { print $2 }' "$1"
}
# module_state DB -> state of mail_sync_crm in DB, empty when DB or module is absent
module_state() {
  psql -XtAq -d "$1" -c "SELECT state FROM ir_module_module WHERE name = 'mail_sync_crm'" 2>/dev/null || true
}
# install_or_update CONF DB LOG [extra odoo args...]: install the addon in DB (created when
# absent) or update it, logging to LOG; fails listing any ERROR/WARNING line of the log.
install_or_update() {
  local conf=$1 db=$2 log=$3; shift 3
  local action="-u"
  [ "$(module_state "$db")" = "installed" ] || action="-i"
  say "$( [ "$action" = -i ] && echo installing || echo updating ) mail_sync_crm in database $db"
  : > "$log"
  "$PY" "$ODOO_BIN" -c "$conf" -d "$db" "$action" mail_sync_crm --stop-after-init --no-http \
    --logfile="$log" "$@" || { tail -n 40 "$log" >&2; return 1; }
  if grep -nE '^[0-9-]+ [0-9:,]+ [0-9]+ (WARNING|ERROR|CRITICAL) ' "$log" >&2; then
    echo "Odoo logged the WARNING/ERROR lines above while loading mail_sync_crm ($log)" >&2
    return 1
  fi
}
