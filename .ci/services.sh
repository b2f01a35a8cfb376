#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis answer (the recipe tests use them). Idempotent, bounded.
set -euo pipefail

wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "services.sh: gave up waiting for: $*" >&2; return 1; }
        sleep 0.5
    done
}

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "services.sh: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    wait_for 60 pg_isready -h 127.0.0.1 -p 5432 -q
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    echo "services.sh: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for 30 sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
fi
echo "services.sh: PostgreSQL and Redis answer"
