"""Independent reference for k-means, with numpy and scikit-learn only.

  kmeans_reference.py fit K TRANSFORM SEED     stdin: feature rows (CSV, last column the weight)
      -> the best inertia of scikit-learn's KMeans (k-means++, n_init=10, lloyd) on the same transform
  kmeans_reference.py check TRANSFORM K       stdin: first line our centroids (flattened, k x d), then
      feature rows with our cluster (1..k) last -> mismatches of the nearest centroid, the silhouette of our
      labels (scikit-learn, exact), and the largest |shift/scale| difference of our transform
"""
import sys

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score


def transform(x, name, w=None):
    if name.startswith("log1p"):
        x = np.log1p(x)
    if name.endswith("zscore"):
        mean = np.average(x, axis=0, weights=w)
        sd = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
        sd[sd == 0] = 1
        return (x - mean) / sd
    if name.endswith("minmax"):
        lo, hi = x.min(axis=0), x.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1)
        return (x - lo) / span
    return x


def main():
    cmd = sys.argv[1]
    if cmd == "fit":
        k, name, seed = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
        data = np.loadtxt(sys.stdin, delimiter=",", ndmin=2)
        x, w = data[:, :-1], data[:, -1]
        x = transform(x, name, w)
        km = KMeans(n_clusters=k, init="k-means++", n_init=10, algorithm="lloyd", random_state=seed)
        km.fit(x, sample_weight=w)
        print(repr(float(km.inertia_)))
    elif cmd == "check":
        name, k = sys.argv[2], int(sys.argv[3])
        first = sys.stdin.readline()
        centroids = np.array([float(v) for v in first.split(",")]).reshape(k, -1)
        data = np.loadtxt(sys.stdin, delimiter=",", ndmin=2)
        x, ours = transform(data[:, :-1], name), data[:, -1].astype(int) - 1
        d2 = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
        best = d2.argmin(axis=1)
        # a point as near to two centroids (within rounding) may go to either
        sorted_d2 = np.sort(d2, axis=1)
        near_tie = (sorted_d2[:, 1] - sorted_d2[:, 0]) <= 1e-9 * (1 + sorted_d2[:, 0])
        mismatches = int(((best != ours) & ~near_tie).sum())
        sil = silhouette_score(x, ours) if len(set(ours)) > 1 else float("nan")
        print(f"{mismatches},{int(near_tie.sum())},{sil!r}")


main()
