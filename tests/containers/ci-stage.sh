#!/usr/bin/env bash
# The container stage of .ci/run: the PostgreSQL and MySQL tests on servers that
# testcontainers starts (rawrepo.testing's Docker path), with no RAWREPO_TEST_*_URL and no
# container registry.
#
# - installs Docker and debootstrap from Debian if the machine lacks them;
# - uses the Docker daemon that answers, or starts dockerd and stops exactly that one (by pid)
#   at the end, also on failure;
# - builds the two images from Debian packages (build.sh; reused while its files are
#   unchanged) and passes them to the plugin in RAWREPO_TEST_POSTGRESQL_IMAGE / _MYSQL_IMAGE;
# - runs the core, domain, SQL-check and plugin tests on postgresql, mysql and mysql+asyncmy
#   with both backends required, plus the tests marked rawrepo_docker;
# - removes any container the run left (found by the label the plugin gives them) and fails
#   if there was one: the plugin must remove its containers itself.
#
# Run from the project root after the virtual environment is installed: bash tests/containers/ci-stage.sh
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
here=tests/containers
stage_started=$SECONDS

need=()
command -v dockerd >/dev/null || need+=(docker.io containerd runc iptables)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi

work=$(mktemp -d /tmp/rawrepo-ci-containers.XXXXXX)
run_id="rawrepo-ci-$$-$RANDOM"
dockerd_pid=""
# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  local status=$?
  local left
  left=$(docker ps -aq --filter "label=rawrepo.testing.run=$run_id" 2>/dev/null || true)
  if [ -n "$left" ]; then
    echo "removing containers this stage's tests left: $(echo "$left" | tr '\n' ' ')"
    # shellcheck disable=SC2086  # one argument per container id
    docker rm -f $left >/dev/null || true
  fi
  if [ -n "$dockerd_pid" ]; then
    echo "stopping the Docker daemon this stage started (pid $dockerd_pid)"
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

if docker info >/dev/null 2>&1; then
  echo "using the Docker daemon that already answers"
else
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
  done
  if ! kill -0 "$dockerd_pid" 2>/dev/null; then
    dockerd_pid=""  # it exited: another daemon may have started meanwhile; use that one
  fi
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log"; echo "dockerd did not start"; exit 1; }
  [ -n "$dockerd_pid" ] && echo "started dockerd (pid $dockerd_pid)"
fi

images=$("$here/build.sh")
read -r pg_image my_image <<<"$images"
echo "images: $pg_image, $my_image (built in $((SECONDS - stage_started)) s since the stage began)"

# Core, domain, SQL check and the plugin's own tests, in the order of the main run (a few
# tests share the session's migrated database). The CLI, migration-CLI, example and
# reliability tests (the last on throwaway servers of their own) run in the main stage only:
# they would double this stage's time.
selection=(
  tests/containers
  tests/test_asyncmy.py tests/test_database.py tests/test_errors.py tests/test_health.py
  tests/test_mysql_bulk.py tests/test_params.py tests/test_pool.py tests/test_queries.py
  tests/test_repository.py tests/test_services.py tests/test_sqlcheck.py tests/test_stream.py
  tests/test_task_repository.py tests/test_task_stream.py tests/test_testing_plugin.py
  tests/test_user_repository.py
)
tests_started=$SECONDS
status=0
env -u RAWREPO_TEST_POSTGRESQL_URL -u RAWREPO_TEST_MYSQL_URL \
  RAWREPO_TEST_POSTGRESQL_IMAGE="$pg_image" RAWREPO_TEST_MYSQL_IMAGE="$my_image" \
  RAWREPO_TEST_BACKENDS=postgresql,mysql,mysql+asyncmy RAWREPO_TEST_REQUIRE=postgresql,mysql \
  RAWREPO_TEST_DOCKER=1 RAWREPO_TEST_RUN_ID="$run_id" \
  TC_HOST=127.0.0.1 TESTCONTAINERS_RYUK_DISABLED=true \
  .venv/bin/pytest -p no:cacheprovider "${selection[@]}" || status=$?
echo "container tests took $((SECONDS - tests_started)) s"

left=$(docker ps -aq --filter "label=rawrepo.testing.run=$run_id")
if [ -n "$left" ]; then
  echo "FAIL: the test session left containers running: $left"
  status=1
fi
echo "container stage: $((SECONDS - stage_started)) s"
exit "$status"
