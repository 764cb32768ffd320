#!/usr/bin/env bash
# The demo: install what is missing, build, start a throwaway cluster, load the
# sample store and print a segmentation report.  Leaves no server running.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cs_ensure_packages $CS_BUILD_PACKAGES
cs_build_install
cs_start_cluster
psql -X -q -v ON_ERROR_STOP=1 -f "$CS_ROOT/test/demo.sql"
