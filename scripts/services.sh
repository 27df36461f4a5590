#!/usr/bin/env bash
# The real services the tests use, set up on a fresh Debian machine and left running:
#   - Debian's Chromium (/usr/bin/chromium), driven by Playwright in the UI tests;
#   - a private PostgreSQL cluster on 127.0.0.1:$ALCHEMY_PG_PORT (default 54329), trust auth
#     for the role "alchemy", data in $ALCHEMY_SERVICES_DIR (default /tmp/alchemy-services).
# Idempotent: a cluster that is already up is reused. Prints the admin URL the tests read
# from ALCHEMY_TEST_POSTGRES. Installing packages needs root (apt-get); without root, the
# script names what to install.
set -euo pipefail

PORT=${ALCHEMY_PG_PORT:-54329}
DIR=${ALCHEMY_SERVICES_DIR:-/tmp/alchemy-services}
DATA=$DIR/pg-$PORT
LOG=$DIR/pg-$PORT.log

missing=()
command -v chromium >/dev/null || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "services: missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "services: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
# PostgreSQL refuses to run as root: as root, run it as the "postgres" user of the package.
as_pg=()
if [[ $(id -u) -eq 0 ]]; then as_pg=(runuser -u postgres --); fi

mkdir -p "$DIR"
if [[ ! -f $DATA/PG_VERSION ]]; then
    mkdir -p "$DATA"
    if ((${#as_pg[@]})); then chown postgres: "$DIR" "$DATA"; fi
    "${as_pg[@]}" "$PGBIN/initdb" -D "$DATA" -U alchemy --auth=trust -E UTF8 >/dev/null
fi
if ! "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DATA -c max_connections=200" >/dev/null \
        || { echo "services: PostgreSQL did not start; its log:" >&2; tail -n 20 "$LOG" >&2; exit 1; }
fi
echo "postgresql://alchemy@127.0.0.1:$PORT/postgres"
