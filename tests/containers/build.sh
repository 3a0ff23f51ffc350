#!/usr/bin/env bash
# Build the PostgreSQL and MariaDB images of rawrepo's container test stage without a
# container registry: a Debian bookworm root filesystem (debootstrap) with Debian's
# postgresql-15 and mariadb-server, imported once (docker import) and given, in two tiny
# builds on top, an entrypoint each that keeps the official postgres / mariadb image's contract
# (see the two entrypoint scripts).
#
# Prints "POSTGRESQL_IMAGE MYSQL_IMAGE" on stdout (progress goes to stderr). The tags carry a
# hash of this script and the scripts it installs: images built from the same files are
# reused (about 1 s); otherwise they are built (about 75 s on an idle 2-core machine) and
# older rawrepo-test images are removed.
# Needs root, a Docker daemon that answers, debootstrap and the network path to a Debian mirror
# (the machine's own, from /etc/apt/sources.list.d/debian.sources, else deb.debian.org).
#
#   tests/containers/build.sh            build if needed, print the names
#   tests/containers/build.sh --names    only print the names
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/build.sh" "$here/postgres-entrypoint.sh" "$here/mariadb-entrypoint.sh" \
  "$here/initdb-scripts.sh" | sha256sum | cut -c1-12)
pg_image="rawrepo-test/postgres:15-$key"
my_image="rawrepo-test/mariadb:10.11-$key"
base_image="rawrepo-test/base:bookworm-$key"  # the root filesystem both are built on
if [ "${1:-}" = --names ]; then
  echo "$pg_image $my_image"
  exit 0
fi

log() { printf '%s\n' "$*" >&2; }
have_images() { docker image inspect "$pg_image" "$my_image" >/dev/null 2>&1; }

# one build at a time on this machine; a second caller waits and then reuses the images
exec 9>/tmp/rawrepo-test-images.lock
flock 9
if have_images; then
  log "images $pg_image and $my_image are already built"
  echo "$pg_image $my_image"
  exit 0
fi

started=$SECONDS
work=$(mktemp -d /tmp/rawrepo-test-images.XXXXXX)
root=$work/rootfs
# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  if mountpoint -q "$root/proc" 2>/dev/null; then umount "$root/proc"; fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

sources=/etc/apt/sources.list.d/debian.sources
mirror=$(awk '/^URIs:/ { print $2; exit }' "$sources" 2>/dev/null || true)
log "debootstrap bookworm from ${mirror:-http://deb.debian.org/debian}"
debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}" \
  >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
if [ -f "$sources" ]; then  # the same mirror with bookworm-updates and -security
  cp "$sources" "$root/etc/apt/sources.list.d/" && rm -f "$root/etc/apt/sources.list"
fi
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"  # no service starts in the chroot
chmod +x "$root/usr/sbin/policy-rc.d"
mount --bind /proc "$root/proc"
log "installing postgresql-15 and mariadb-server in the root filesystem ($((SECONDS - started)) s)"
chroot "$root" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  --no-install-recommends postgresql-15 mariadb-server && apt-get clean' >"$work/apt.log" 2>&1 \
  || { tail -20 "$work/apt.log" >&2; exit 1; }
umount "$root/proc"
# the packages' own clusters and docs go; each container initialises its data on first start
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
  "$root"/var/lib/postgresql/15 "$root"/etc/postgresql/15 "$root"/var/lib/mysql/* \
  "$root/usr/sbin/policy-rc.d"
printf '[mariadbd]\nbind-address = 0.0.0.0\nskip-name-resolve\n' \
  >"$root/etc/mysql/mariadb.conf.d/99-container.cnf"
install -m 755 "$here/postgres-entrypoint.sh" "$here/mariadb-entrypoint.sh" "$root/usr/local/bin/"
install -m 644 "$here/initdb-scripts.sh" "$root/usr/local/lib/rawrepo-initdb-scripts.sh"
mkdir -p "$root/docker-entrypoint-initdb.d"

log "importing the root filesystem as $base_image ($((SECONDS - started)) s)"
tar -C "$root" -c . | docker import - "$base_image" >/dev/null
build() {  # build IMAGE: a Dockerfile on stdin, FROM the base image (local: no registry needed)
  DOCKER_BUILDKIT=0 docker build -q -t "$1" - >/dev/null 2>"$work/build.log" \
    || { cat "$work/build.log" >&2; exit 1; }
}
build "$pg_image" <<EOF
FROM $base_image
ENV LANG=C.UTF-8 PGDATA=/var/lib/postgresql/data \\
    PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL rawrepo.test-image=$key
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
EOF
build "$my_image" <<EOF
FROM $base_image
ENV LANG=C.UTF-8
LABEL rawrepo.test-image=$key
EXPOSE 3306
ENTRYPOINT ["/usr/local/bin/mariadb-entrypoint.sh"]
CMD ["mariadbd"]
EOF

# images of earlier versions of these files are ours and of no further use
stale=$(docker images --format '{{.Repository}}:{{.Tag}}' \
  | grep -E '^rawrepo-test/(base|postgres|mariadb):' | grep -v -- "-$key\$" || true)
if [ -n "$stale" ]; then
  log "removing older images: $(echo "$stale" | tr '\n' ' ')"
  # shellcheck disable=SC2086  # one argument per image name
  docker rmi $stale >/dev/null || true
fi
log "built $pg_image and $my_image in $((SECONDS - started)) s"
echo "$pg_image $my_image"
