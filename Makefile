# The two commands a new user needs: `make up` (the platform, embedded) and `make test` (the whole suite).
.PHONY: setup up test lint typecheck console-test unit bench

setup:
	@scripts/setup.sh

up: setup
	.venv/bin/flowtape up --data-dir .flowtape --port 8080

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: setup
	.venv/bin/mypy libs/common/src services/engine/src/flowtape/engine/domain

# The console's component tests (Vitest); its type check runs in its build (scripts/setup.sh).
console-test: setup
	cd console && npm test --silent

# deploy/check.sh validates every deployment file (Dockerfile, compose, kustomize, Helm, Prometheus) offline.
test: setup
	@scripts/services.sh
	$(MAKE) --no-print-directory lint typecheck console-test
	deploy/check.sh
	@# two workers, a test file each at a time (every file's platforms, databases and vhosts are its own); then,
	@# alone on the machine, the tests timed against load or the clock and those that restart shared servers
	@status=0; \
	.venv/bin/pytest -n 2 --dist loadfile -m "not serial and not disruptive" || status=$$?; \
	.venv/bin/pytest -m "serial or disruptive" || status=$$?; \
	exit $$status

bench: setup
	@scripts/services.sh
	.venv/bin/python -m benchmarks
