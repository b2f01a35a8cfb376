#!/usr/bin/env bash
# Make the local MariaDB ready for tests/test_mysql.py. Idempotent; run as root (CI does):
#   bash .ci/mariadb.sh
# 1. installs what mysqlclient builds against (libmariadb-dev, pkg-config) if absent;
# 2. starts mariadbd if it is not running and waits (bounded) until it answers;
# 3. creates the database `test` and the user test/test (@127.0.0.1, @localhost, @%) with ALL on
#    test.*. The tests use root (empty password, over the socket or 127.0.0.1) only for KILL and
#    for stopping/starting the server.
set -euo pipefail

WAIT_SECONDS="${MARIADB_WAIT_SECONDS:-60}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# -- 1. build dependencies of mysqlclient ------------------------------------------------------
missing=()
dpkg-query -W -f='${Status}' libmariadb-dev 2>/dev/null | grep -q "install ok installed" \
    || missing+=(libmariadb-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "mariadb.sh: installing ${missing[*]}"
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${missing[@]}"
fi

# -- 2. the server -------------------------------------------------------------------------------
client=$(command -v mariadb || command -v mysql || true)
if [ -z "$client" ]; then
    echo "mariadb.sh: no mariadb client found: is MariaDB installed?" >&2
    exit 1
fi
answers() { "$client" -uroot --connect-timeout=2 -e "SELECT 1" >/dev/null 2>&1; }

if ! answers; then
    if ! pgrep -x mariadbd >/dev/null 2>&1; then
        echo "mariadb.sh: starting mariadbd"
        as_root install -d -o mysql -g mysql /run/mysqld 2>/dev/null || as_root mkdir -p /run/mysqld
        as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    fi
    deadline=$((SECONDS + WAIT_SECONDS))
    until answers; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "mariadb.sh: MariaDB did not answer within ${WAIT_SECONDS}s" >&2
            exit 1
        fi
        sleep 0.5
    done
fi
echo "mariadb.sh: $("$client" -uroot -N -e 'SELECT VERSION()') is up"

# -- 3. database and user ----------------------------------------------------------------------
"$client" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS test;
CREATE USER IF NOT EXISTS 'test'@'127.0.0.1' IDENTIFIED BY 'test';
CREATE USER IF NOT EXISTS 'test'@'localhost' IDENTIFIED BY 'test';
CREATE USER IF NOT EXISTS 'test'@'%' IDENTIFIED BY 'test';
ALTER USER 'test'@'127.0.0.1' IDENTIFIED BY 'test';
ALTER USER 'test'@'localhost' IDENTIFIED BY 'test';
ALTER USER 'test'@'%' IDENTIFIED BY 'test';
GRANT ALL ON test.* TO 'test'@'127.0.0.1';
GRANT ALL ON test.* TO 'test'@'localhost';
GRANT ALL ON test.* TO 'test'@'%';
FLUSH PRIVILEGES;
SQL
echo "mariadb.sh: user test/test has ALL on test.*"
