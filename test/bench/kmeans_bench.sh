#!/usr/bin/env bash
# k-means benchmark: kmeans_fit with k = 8 on 4 features of N customers (default 1M), serial, against
# scikit-learn's KMeans (k-means++, n_init = 10, lloyd, its default threads) on the same rows in the same
# run; then the effect of the priority sample: 2N rows fitted from a sample of 1M points, the inertia of
# that model over all 2N rows against scikit-learn's fit of all of them.
# Usage: bash test/bench/kmeans_bench.sh [customers]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

CUSTOMERS=${1:-1000000}
cs_ensure_packages $CS_BUILD_PACKAGES python3-sklearn
cs_build_install
cs_start_cluster
cs_restart_with "shared_buffers = '2GB'" "work_mem = '2GB'" "jit = off"

# Four RFM-like features per customer: log-normal recency, frequency, spend and tenure, in 8 overlapping groups.
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION customer_segment;
CREATE TABLE f AS
SELECT g, ARRAY[exp(3 + (g % 8) % 2 + customer_segment.sample_normal(g, 1)),
                exp(0.5 + (g % 8) / 2 % 2 + 0.7 * customer_segment.sample_normal(g, 2)),
                exp(4 + (g % 8) / 4 + customer_segment.sample_normal(g, 3)),
                exp(5 + 0.5 * customer_segment.sample_normal(g, 4))]::float8[] AS f
  FROM generate_series(1, 2 * $CUSTOMERS) g;
VACUUM ANALYZE f;
SQL
psql -X -q -c "COPY (SELECT array_to_string(f, ',') FROM f WHERE g <= $CUSTOMERS) TO '$CS_TMP/f1.csv'"
psql -X -q -c "COPY (SELECT array_to_string(f, ',') FROM f) TO '$CS_TMP/f2.csv'"

ours() {
    psql -X -q -At -c "SET max_parallel_workers_per_gather = 0" -c "\\timing on" -c "
        CREATE TABLE m$1 AS SELECT customer_segment.kmeans_fit(f, 8, 42, 'log1p+zscore') AS m FROM f WHERE g <= $2" \
        | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
cs_log "kmeans_fit, $CUSTOMERS rows, serial"
ms1=$(ours 1 "$CUSTOMERS")
in1=$(psql -X -At -c "SELECT (m).inertia, (m).iterations, (m).converged, (m).points FROM m1")
cs_log "kmeans_fit, $((2 * CUSTOMERS)) rows (a 1M-point sample), serial"
ms2=$(ours 2 "$((2 * CUSTOMERS))")
full2=$(psql -X -At -c "SELECT sum(customer_segment.kmeans_distance(m, f)^2) FROM f, m2")

sk() {
    /usr/bin/python3 - "$1" <<'PY'
import sys, time
import numpy as np
from sklearn.cluster import KMeans
x = np.log1p(np.loadtxt(sys.argv[1], delimiter=","))
x = (x - x.mean(axis=0)) / x.std(axis=0)
t = time.perf_counter()
km = KMeans(n_clusters=8, init="k-means++", n_init=10, algorithm="lloyd", random_state=0).fit(x)
print(f"{(time.perf_counter() - t) * 1000:.0f} {km.inertia_!r}")
PY
}
cs_log "scikit-learn on the same rows"
read -r sk1 skin1 <<<"$(sk "$CS_TMP/f1.csv")"
read -r sk2 skin2 <<<"$(sk "$CS_TMP/f2.csv")"

echo
echo "k-means, k = 8, 4 features, log1p + z-score, 10 k-means++ restarts"
printf '%-34s %12s %12s %8s\n' "" "ours (ms)" "sklearn (ms)" "ratio"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.5f", a / b }'; }
printf '%-34s %12.0f %12.0f %8.2f\n' "$CUSTOMERS rows, all points" "$ms1" "$sk1" "$(ratio "$ms1" "$sk1")"
printf '%-34s %12.0f %12.0f %8.2f\n' "$((2 * CUSTOMERS)) rows, 1M-point sample" "$ms2" "$sk2" "$(ratio "$ms2" "$sk2")"
echo "inertia, $CUSTOMERS rows: ours $(echo "$in1" | cut -d'|' -f1) (iterations, converged, points: $(echo "$in1" | cut -d'|' -f2-)), sklearn $skin1, ratio $(ratio "$(echo "$in1" | cut -d'|' -f1)" "$skin1")"
echo "inertia over all $((2 * CUSTOMERS)) rows: ours (fitted on the sample) $full2, sklearn (fitted on all) $skin2, ratio $(ratio "$full2" "$skin2")"
