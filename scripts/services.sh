#!/usr/bin/env bash
# Makes sure the local RabbitMQ and PostgreSQL the tests use are up (starting them when they are not),
# then waits until both accept connections. CI calls this before the test suite.
set -euo pipefail
PGHOST=${FLOWTAPE_TEST_PGHOST:-127.0.0.1}

if ! pg_isready -q -h "$PGHOST" -p 5432 2>/dev/null; then
  echo "starting PostgreSQL ..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "starting RabbitMQ ..."
  rabbitmq-server -detached || true
fi
for _ in $(seq 1 60); do
  if pg_isready -q -h "$PGHOST" -p 5432 && (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    exit 0
  fi
  sleep 1
done
echo "RabbitMQ or PostgreSQL did not come up within 60 s: check 'pg_lsclusters' and 'rabbitmqctl status'" >&2
exit 1
