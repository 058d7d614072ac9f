#!/usr/bin/env bash
# Make sure the database servers the tests use are up: PostgreSQL on 127.0.0.1:5432 and MariaDB on
# 127.0.0.1:3306 (see ../shared/test-infrastructure.md). Servers already running are reused; stopped ones
# are started; missing ones are installed from Debian's packages when we may (root and apt-get).
# It never fails the build by itself: the tests say what is missing (and fail under CI=true).
set -uo pipefail

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
mariadb_up() { mariadb-admin -h 127.0.0.1 -uroot --connect-timeout=3 ping >/dev/null 2>&1; }

install_if_missing() {  # $1: a command, $2...: the Debian packages that provide it
    local command=$1; shift
    command -v "$command" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "services: installing $* (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || apt-get update -qq >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
    fi
}

wait_for() {  # $1: a probe function, $2: a name
    for _ in $(seq 1 30); do "$1" && return 0; sleep 0.5; done
    echo "services: $2 did not come up" >&2
    return 1
}

if ! postgres_up; then
    install_if_missing pg_ctlcluster postgresql
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
        echo "services: starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1
        wait_for postgres_up PostgreSQL
    fi
fi

if ! mariadb_up; then
    install_if_missing mariadbd mariadb-server
    if [ -x /usr/sbin/mariadbd ]; then
        echo "services: starting MariaDB"
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null 2>&1
        wait_for mariadb_up MariaDB &&
            mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" \
                >/dev/null 2>&1
    fi
fi

postgres_up && echo "services: PostgreSQL up on 127.0.0.1:5432" || echo "services: PostgreSQL is not available" >&2
mariadb_up && echo "services: MariaDB up on 127.0.0.1:3306" || echo "services: MariaDB is not available" >&2
exit 0
