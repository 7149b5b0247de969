# mail_sync_crm — the project's commands. ODOO_SRC must name an Odoo 18 source tree.
SHELL := /bin/bash
export ODOO_SRC ?= /opt/odoo18

.PHONY: setup run stop demo-email test lint bench bench-fleet bench-past-mail bench-latency pot screenshots superuser-paths structure clean

setup:            ## system packages, PostgreSQL, .venv (idempotent)
	scripts/setup.sh

run:              ## Odoo on http://localhost:8069 with demo data (Ctrl-C / make stop)
	scripts/run.sh

stop:             ## stop the Odoo started by `make run`, by its own PID
	@if [ -f .run/odoo.pid ] && kill -0 $$(cat .run/odoo.pid) 2>/dev/null; then \
	  kill $$(cat .run/odoo.pid) && echo "stopped Odoo (PID $$(cat .run/odoo.pid))"; \
	  rm -f .run/odoo.pid; else echo "Odoo is not running"; fi

demo-email:       ## append a new email from Alice to Sally's demo mailbox (SUBJECT="..." to choose)
	.venv/bin/python scripts/demo_mail.py append .run/demo-mail.json $(if $(SUBJECT),"$(SUBJECT)")

test:             ## lint + lib tests + Odoo tests against real PostgreSQL, Dovecot, SMTP
	scripts/test.sh

lint:             ## ruff, pylint-odoo and vermin (code runs on Python 3.10) only
	scripts/setup.sh >/dev/null
	.venv/bin/ruff check mail_sync_crm mail_sync_crm_queue_job mail_sync_testing scripts
	.venv/bin/ruff format --check mail_sync_crm mail_sync_crm_queue_job mail_sync_testing scripts
	.venv/bin/pylint --rcfile=.pylintrc mail_sync_crm mail_sync_crm_queue_job mail_sync_testing scripts
	.venv/bin/vermin --target=3.10- --violations --quiet --no-tips --eval-annotations \
	  --no-make-paths-absolute mail_sync_crm mail_sync_crm_queue_job mail_sync_testing scripts

bench:            ## benchmarks (figures in docs/benchmarks.rst)
	scripts/setup.sh >/dev/null
	.venv/bin/python scripts/bench.py

MAILBOXES ?= 1000
bench-fleet:      ## the scheduled sync over MAILBOXES=1000 small mailboxes (~7 min at 1,000 and ~45 at 10,000 with CONNECT_SAMPLE=50: the others created in bulk; BENCH_ARGS="--dovecot-performance --pool-size 32": any other option; docs/benchmarks.rst)
	scripts/setup.sh >/dev/null
	.venv/bin/python scripts/bench_fleet.py --mailboxes $(MAILBOXES) $(if $(CONNECT_SAMPLE),--connect-sample $(CONNECT_SAMPLE)) $(BENCH_ARGS)

bench-past-mail:  ## a new lead's past emails across 10 mailboxes of 10,000 messages (~2 min; docs/benchmarks.rst)
	scripts/setup.sh >/dev/null
	.venv/bin/python scripts/bench_past_mail.py
bench-latency:    ## the listener: APPEND to chatter row over 1,000 mailboxes (docs/benchmarks.rst)
	scripts/setup.sh >/dev/null
	.venv/bin/python scripts/bench_latency.py

screenshots:      ## README screenshots (docs/screenshots/) from the running `make run` demo
	scripts/setup.sh >/dev/null
	.venv/bin/python scripts/screenshots.py

pot:              ## regenerate the translation templates from the test databases' code
	scripts/setup.sh >/dev/null
	@# each template is written beside and moved in place only when the export worked
	.venv/bin/python $(ODOO_SRC)/odoo-bin -c .run/test.conf \
	  -d "$$(awk -F' = ' '$$1 == "db_name" { print $$2 }' .run/test.conf)" \
	  --i18n-export=.run/mail_sync_crm.pot --modules=mail_sync_crm \
	  --stop-after-init --no-http --logfile=/dev/null
	mv .run/mail_sync_crm.pot mail_sync_crm/i18n/mail_sync_crm.pot
	.venv/bin/python $(ODOO_SRC)/odoo-bin -c .run/test.conf \
	  -d "$$(awk -F' = ' '$$1 == "db_name" { print $$2 }' .run/test.conf)_queue_job" \
	  --i18n-export=.run/mail_sync_crm_queue_job.pot \
	  --modules=mail_sync_crm_queue_job --stop-after-init --no-http --logfile=/dev/null
	mv .run/mail_sync_crm_queue_job.pot mail_sync_crm_queue_job/i18n/mail_sync_crm_queue_job.pot

superuser-paths:  ## docs/superuser-paths.rst: every superuser path and its # sudo: reason
	python3 scripts/superuser_paths.py --output docs/superuser-paths.rst

structure:        ## docs/structure.md: packages, files, imports and models, from the code
	python3 scripts/structure.py --output docs/structure.md

clean:            ## remove the venvs and run files (databases are kept)
	rm -rf .venv .venv-py3.* .run
