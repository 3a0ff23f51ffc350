#!/bin/bash
# Entrypoint of rawrepo's locally built MariaDB test image (tests/containers/build.sh).
# It keeps the contract of the official `mariadb` image's docker-entrypoint.sh (and the MYSQL_*
# names the official `mysql` image uses), so the same container settings work on both:
# MARIADB_ROOT_PASSWORD / MYSQL_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD /
# MYSQL_ALLOW_EMPTY_PASSWORD, MARIADB_RANDOM_ROOT_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD (one of
# the three is required), MARIADB_ROOT_HOST (default %), MARIADB_DATABASE / MYSQL_DATABASE,
# MARIADB_USER / MYSQL_USER with MARIADB_PASSWORD / MYSQL_PASSWORD, the *_FILE variants,
# /docker-entrypoint-initdb.d (*.sh, *.sql, *.sql.gz), and arguments starting with "-" passed
# to mariadbd. As there, the init phase runs a temporary server without networking: TCP
# connections succeed once the real server runs.
set -Eeuo pipefail

file_env() {  # file_env MARIADB_X [DEFAULT]: from MARIADB_X(_FILE), else MYSQL_X(_FILE), else DEFAULT
  local var=$1 def=${2:-} name val=
  local mysql_var=${var/#MARIADB_/MYSQL_}
  for name in "$var" "$mysql_var"; do
    local file_var="${name}_FILE"
    if [ -n "${!name:-}" ] && [ -n "${!file_var:-}" ]; then
      echo "error: both $name and $file_var are set (but are exclusive)" >&2
      exit 1
    fi
    if [ -n "${!name:-}" ]; then
      val=${!name}
    elif [ -n "${!file_var:-}" ]; then
      val=$(<"${!file_var}")
    fi
    [ -n "$val" ] && break
  done
  export "$var"="${val:-$def}"
  unset "${var}_FILE" "${mysql_var}_FILE"
}

sql_string() {  # a value as an SQL string literal body: \ and ' escaped
  local s=${1//\\/\\\\}
  printf '%s' "${s//\'/\\\'}"
}

if [ "${1:0:1}" = "-" ]; then
  set -- mariadbd "$@"
fi
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then
  exec "$@"
fi

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock
mkdir -p /run/mysqld "$datadir"
chown mysql:mysql /run/mysqld "$datadir"

if [ ! -d "$datadir/mysql" ]; then
  file_env MARIADB_ROOT_PASSWORD
  # the official mysql image's name for it has no ROOT in it
  file_env MARIADB_ALLOW_EMPTY_ROOT_PASSWORD "${MYSQL_ALLOW_EMPTY_PASSWORD:-}"
  file_env MARIADB_RANDOM_ROOT_PASSWORD
  file_env MARIADB_ROOT_HOST %
  file_env MARIADB_DATABASE
  file_env MARIADB_USER
  file_env MARIADB_PASSWORD
  if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] \
    && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
    cat >&2 <<'EOF'
error: Database is uninitialized and password option is not specified
	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH,
	MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD
EOF
    exit 1
  fi
  if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
    MARIADB_ROOT_PASSWORD=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)
    echo "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
  fi

  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
  temp_pid=$!
  for _ in $(seq 240); do
    mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1 && break
    kill -0 "$temp_pid" 2>/dev/null || { echo "error: the temporary server exited" >&2; exit 1; }
    sleep 0.25
  done

  root_pw=$(sql_string "$MARIADB_ROOT_PASSWORD")
  root_host=$(sql_string "$MARIADB_ROOT_HOST")
  {
    # only root@localhost stays of the accounts mariadb-install-db made
    cat <<'SQL'
SET @@SESSION.SQL_LOG_BIN=0;
DROP USER IF EXISTS root@'127.0.0.1', root@'::1', ''@'localhost';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname, '\'');
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS \'\'@\'', @@hostname, '\'');
SQL
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';"
    if [ "$MARIADB_ROOT_HOST" != localhost ]; then
      echo "CREATE USER 'root'@'$root_host' IDENTIFIED BY '$root_pw';"
      echo "GRANT ALL ON *.* TO 'root'@'$root_host' WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'%' TO 'root'@'$root_host' WITH GRANT OPTION;"
    fi
    if [ -n "$MARIADB_DATABASE" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE//\`/\`\`}\`;"
    fi
    if [ -n "$MARIADB_USER" ]; then
      user=$(sql_string "$MARIADB_USER")
      echo "CREATE USER '$user'@'%' IDENTIFIED BY '$(sql_string "$MARIADB_PASSWORD")';"
      if [ -n "$MARIADB_DATABASE" ]; then
        echo "GRANT ALL ON \`${MARIADB_DATABASE//\`/\`\`}\`.* TO '$user'@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$socket" -uroot --password=

  client=(mariadb --socket="$socket" -uroot "--password=$MARIADB_ROOT_PASSWORD")
  [ -z "$MARIADB_DATABASE" ] || client+=("$MARIADB_DATABASE")
  # shellcheck source=tests/containers/initdb-scripts.sh
  . /usr/local/lib/rawrepo-initdb-scripts.sh
  run_initdb_scripts "${client[@]}"
  mariadb-admin --socket="$socket" -uroot "--password=$MARIADB_ROOT_PASSWORD" shutdown
  wait "$temp_pid" || true
  echo "MariaDB init process done. Ready for start up."
fi

# /etc/mysql/mariadb.conf.d/99-container.cnf (written by build.sh) listens on every address
exec mariadbd --user=mysql --datadir="$datadir" --socket="$socket" "${@:2}"
