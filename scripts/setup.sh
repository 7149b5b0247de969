#!/usr/bin/env bash
# One idempotent set-up path: system packages, PostgreSQL and its role, .venv with Odoo's
# requirements (read from $ODOO_SRC) plus the project's own (requirements.txt: the addon's
# runtime ranges; requirements-dev.txt: exact pins for the tests and tools;
# requirements-oca.txt: OCA addons from PyPI, without their dependencies), and
# `import odoo` inside it.
# A second run checks stamps and takes seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ODOO_SRC=${ODOO_SRC:-}
say() { printf '[setup] %s\n' "$*"; }
# Run pip, hiding its warnings about local index folders this machine may lack;
# pip's own exit status is kept (pipefail).
pip_quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }; }

if [ -z "$ODOO_SRC" ] || [ ! -f "$ODOO_SRC/odoo/release.py" ] || [ ! -f "$ODOO_SRC/requirements.txt" ] \
   || ! grep -qE "^version_info = \(18, 0" "$ODOO_SRC/odoo/release.py"; then
  echo "ODOO_SRC must name an Odoo 18.0 source tree (a 'git clone -b 18.0' of upstream Odoo, holding odoo/release.py and requirements.txt); it is '${ODOO_SRC:-unset}'." >&2
  exit 2
fi
ODOO_SRC=$(cd "$ODOO_SRC" && pwd)

# 1. System packages (Debian), only when missing.
PKGS="postgresql libpq-dev libldap2-dev libsasl2-dev dovecot-imapd openssl chromium"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing system packages:$missing"
  if [ "$(id -u)" != 0 ]; then echo "run as root to install:$missing" >&2; exit 2; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian's package may start a system-wide Dovecot; the tests run their own instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
  systemctl stop dovecot || true
fi

# 2. PostgreSQL running, with a superuser role for whoever runs Odoo.
if ! pg_isready -q 2>/dev/null; then
  cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
  if [ -z "$cluster" ]; then echo "no PostgreSQL cluster found (pg_lsclusters is empty)" >&2; exit 2; fi
  say "starting PostgreSQL $cluster"
  # shellcheck disable=SC2086
  pg_ctlcluster $cluster start
  for _ in $(seq 1 50); do pg_isready -q && break; sleep 0.2; done
fi
ME=$(id -un)
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$ME'\"" | grep -q 1; then
  say "creating PostgreSQL role $ME"
  su postgres -c "createuser -s $ME"
fi

# 3. The virtualenv, rebuilt only when a requirements file changed.
STAMP=.venv/.mail_sync_crm-stamp
want=$( (cat "$ODOO_SRC/requirements.txt" requirements.txt requirements-dev.txt requirements-oca.txt \
  scripts/build-constraints.txt; echo "$ODOO_SRC") | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  say "building .venv (Odoo requirements + requirements.txt + requirements-dev.txt + requirements-oca.txt)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  pip_quiet .venv/bin/python -m pip install -q --disable-pip-version-check -U 'pip>=25'
  pip_quiet .venv/bin/python -m pip install -q --disable-pip-version-check \
    --build-constraint scripts/build-constraints.txt \
    -r "$ODOO_SRC/requirements.txt" -r requirements.txt -r requirements-dev.txt
  # OCA wheels require odoo==18.0.*, which is not on PyPI: Odoo is $ODOO_SRC. They land
  # in site-packages/odoo/addons/, where Odoo finds them (pkgutil namespace).
  pip_quiet .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    -r requirements-oca.txt
  echo "$want" > "$STAMP"
fi
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$ODOO_SRC" > "$SITE/odoo-src.pth"
.venv/bin/python -c 'import odoo, imapclient, pytest_odoo, aiosmtpd, aioimaplib' \
  || { echo "the .venv cannot import odoo and the project's requirements" >&2; exit 1; }
[ -f "$SITE/odoo/addons/queue_job/__manifest__.py" ] \
  || { echo "the .venv has no OCA queue_job addon (requirements-oca.txt)" >&2; exit 1; }

# 4. Odoo configuration files for the dev server and the tests (not committed).
mkdir -p .run
write_conf() { # name http_port db
  cat > ".run/$1.conf" <<CONF
[options]
addons_path = $ODOO_SRC/odoo/addons,$ROOT
data_dir = $ROOT/.run/data
db_name = $3
dbfilter = ^$3\$
http_port = $2
http_interface = 127.0.0.1
list_db = False
admin_passwd = $(openssl rand -hex 12)
logfile = $ROOT/.run/$1.log
log_level = info
CONF
}
[ -f .run/dev.conf ] || write_conf dev "${HTTP_PORT:-8069}" "${DEV_DB:-mail_sync_demo}"
[ -f .run/test.conf ] || write_conf test "${TEST_HTTP_PORT:-8169}" "${TEST_DB:-mail_sync_test}"
say "ready (ODOO_SRC=$ODOO_SRC)"
