# shellcheck shell=bash
# Sourced by both entrypoints (installed as /usr/local/lib/rawrepo-initdb-scripts.sh).
# run_initdb_scripts CLIENT...: the files of /docker-entrypoint-initdb.d in name order, as the
# official images run them: *.sh executed (or sourced if not executable), *.sql and *.sql.gz
# fed to CLIENT on its standard input.
run_initdb_scripts() {
  local f
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    # shellcheck disable=SC1090  # the image user's own scripts
    case "$f" in
      *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) "$@" <"$f" ;;
      *.sql.gz) gunzip -c "$f" | "$@" ;;
      *) echo "ignoring $f" ;;
    esac
  done
  shopt -u nullglob
}
