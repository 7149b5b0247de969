# Shared helpers for the project's scripts (sourced, not run).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY="$ROOT/.venv/bin/python"
ODOO_BIN="${ODOO_SRC:-}/odoo-bin"
say() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*"; }
conf_get() { # conf key
  awk -F' = ' -v k="$2" '$1 == k { print $2 }' "$1"
}
# module_state DB [MODULE] -> state of MODULE (mail_sync_crm) in DB, empty when DB or
# module is absent
module_state() {
  psql -XtAq -d "$1" -c "SELECT state FROM ir_module_module WHERE name = '${2:-mail_sync_crm}'" 2>/dev/null || true
}
# install_or_update CONF DB LOG [extra odoo args...]: install the addon in DB (created when
# absent) or update it, logging to LOG; fails listing any ERROR/WARNING line of the log.
install_or_update() {
  install_or_update_module mail_sync_crm "$@"
}
# install_or_update_module MODULE CONF DB LOG [extra odoo args...]: the same for MODULE.
install_or_update_module() {
  local module=$1 conf=$2 db=$3 log=$4; shift 4
  local action="-u"
  [ "$(module_state "$db" "$module")" = "installed" ] || action="-i"
  say "$( [ "$action" = -i ] && echo installing || echo updating ) $module in database $db"
  : > "$log"
  "$PY" "$ODOO_BIN" -c "$conf" -d "$db" "$action" "$module" --stop-after-init --no-http \
    --logfile="$log" "$@" || { tail -n 40 "$log" >&2; return 1; }
  if grep -nE '^[0-9-]+ [0-9:,]+ [0-9]+ (WARNING|ERROR|CRITICAL) ' "$log" >&2; then
    echo "Odoo logged the WARNING/ERROR lines above while loading $module ($log)" >&2
    return 1
  fi
}
# db_outlived_its_key CONF DB: whether DB has mail_sync_crm installed and stored
# secrets (a key fingerprint) while neither the key file under CONF's data_dir
# nor MAIL_SYNC_CRM_KEY is there: its mailboxes could never sign in again.
db_outlived_its_key() {
  local data_dir
  data_dir=$(conf_get "$1" data_dir)
  [ "$(module_state "$2")" = "installed" ] && [ -z "${MAIL_SYNC_CRM_KEY:-}" ] \
    && [ ! -f "$data_dir/mail_sync_crm/$2.key" ] \
    && [ -n "$(psql -XtAq -d "$2" -c "SELECT value FROM ir_config_parameter WHERE key = 'mail_sync_crm.secret_key_fingerprint'" 2>/dev/null)" ]
}
