#!/usr/bin/env bash
# Makes sure the local RabbitMQ and PostgreSQL the tests use are up (starting them when they are not),
# then waits until both accept connections; also MariaDB, Redis and Mosquitto, which the integration
# nodes are tested against. CI calls this before the test suite.
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
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! answers 3306 && [ -x /usr/sbin/mariadbd ]; then
  echo "starting MariaDB ..."
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
if ! answers 6379 && command -v redis-server >/dev/null; then
  echo "starting Redis ..."
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis \
    --logfile /var/log/redis/ci.log || true
fi
if ! answers 1883 && command -v mosquitto >/dev/null; then
  echo "starting Mosquitto ..."
  mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
fi
for _ in $(seq 1 60); do
  if answers 3306 && answers 6379 && answers 1883; then
    break
  fi
  sleep 1
done
# The suite runs several platforms at once (the session's, a replicated one with three engines, a chaos one with
# two of every service), each service with its own pools: PostgreSQL's default of 100 connections is not enough
# and a test then meets "too many clients". Raise it once (ALTER SYSTEM, then a restart of the cluster).
raise_pg_connections() {
  local wanted=400 current
  current=$(psql -h "$PGHOST" -U postgres -Atc "SHOW max_connections" 2>/dev/null || echo "$wanted")
  if [ "$current" -lt "$wanted" ]; then
    echo "raising PostgreSQL's max_connections from $current to $wanted for the test platforms ..."
    psql -h "$PGHOST" -U postgres -qc "ALTER SYSTEM SET max_connections = $wanted" >/dev/null
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main restart || true
    for _ in $(seq 1 60); do pg_isready -q -h "$PGHOST" -p 5432 && break; sleep 1; done
  fi
}
for _ in $(seq 1 60); do pg_isready -q -h "$PGHOST" -p 5432 && break; sleep 1; done
raise_pg_connections
for _ in $(seq 1 60); do
  if pg_isready -q -h "$PGHOST" -p 5432 && (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    # RabbitMQ's own Prometheus endpoint (port 15692), which the dashboards' test scrapes as production does
    if ! answers 15692; then
      echo "enabling rabbitmq_prometheus ..."
      rabbitmq-plugins enable --quiet rabbitmq_prometheus >/dev/null
      for _ in $(seq 1 30); do answers 15692 && break; sleep 1; done
    fi
    exit 0
  fi
  sleep 1
done
echo "RabbitMQ or PostgreSQL did not come up within 60 s: check 'pg_lsclusters' and 'rabbitmqctl status'" >&2
exit 1
