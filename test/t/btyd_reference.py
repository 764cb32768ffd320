"""Independent reference for the BTYD models, with scipy.special only.

  btyd_reference.py loglik r alpha a b          stdin: x,tx,T rows -> per-row BG/NBD log-likelihoods
  btyd_reference.py predict r alpha a b t       stdin: x,tx,T rows -> p_alive,expected(t) per row
  btyd_reference.py new r alpha a b t           -> expected_new(t) and P(X(t)=n) for n = 0..5
  btyd_reference.py fit                         stdin: x,tx,T rows -> r,alpha,a,b,loglik (scipy.optimize)
  btyd_reference.py pnbdloglik r alpha s beta   stdin: x,tx,T rows -> per-row Pareto/NBD log-likelihoods
  btyd_reference.py pnbdpredict r alpha s beta t stdin: x,tx,T rows -> p_alive,expected(t) per row
  btyd_reference.py pnbdfit                      stdin: x,tx,T rows -> r,alpha,s,beta,loglik
  btyd_reference.py pnbdpmf r alpha s beta t n   stdin: x,tx,T rows -> P(n purchases in t | history) per row,
                                                 by numerical integration over (lambda, mu), no closed form
  btyd_reference.py ggfit                       stdin: x,m rows (x > 0) -> p,q,gamma,loglik
  btyd_reference.py ggloglik p q gamma          stdin: x,m rows -> per-row log-likelihoods
  btyd_reference.py simulate n seed r alpha a b -> x,tx,T rows simulated from BG/NBD, T ~ U(20, 80)
  btyd_reference.py bgbbfit                     stdin: x,tx,n,weight rows -> alpha,beta,gamma,delta,loglik (BG/BB)
  btyd_reference.py bgbbpredict al be ga de m d stdin: x,tx,n rows -> loglik,p_alive,expected(m),dert(d) per row
                                                (Fader, Hardie & Shang 2010 eqs. 5, 11, 13, 14, as lifetimes writes them)
  btyd_reference.py bgbbnew al be ga de n       -> expected_new(n) (closed form) and P(X(n)=x) for x = 0..n
  btyd_reference.py bgbbcond al be ga de m      stdin: x,tx,n rows -> P(k in the next m | history), k = 0..m:
                                                the posterior over every path (when the customer dies, which
                                                opportunities it transacts in) enumerated
  btyd_reference.py mbgloglik r alpha a b       stdin: x,tx,T rows -> per-row MBG/NBD log-likelihoods
  btyd_reference.py mbgfit                      stdin: x,tx,T rows -> r,alpha,a,b,loglik of the MBG/NBD
  btyd_reference.py mbgpredict r alpha a b t n  stdin: x,tx,T rows -> p_alive,expected(t),P(n in t | history)
  btyd_reference.py mbgnew r alpha a b t        -> expected_new(t) and P(X(t)=n) for n = 0..5 (Batislam et al.
                                                 2007, as lifetimes' ModifiedBetaGeoFitter writes them)
  btyd_reference.py interval QUANTITY P G COV GCOV horizon months discount periods_per_month margin
                                                stdin: x,tx,T,m rows -> estimate,lower_95,upper_95 per row:
                                                QUANTITY bgnbd_expected, pareto_nbd_expected, bgnbd_clv or
                                                pareto_nbd_clv (Gamma-Gamma spend); P, G, COV, GCOV comma-separated
                                                parameters and row-major covariances; the delta method with a
                                                central-difference gradient (step 1e-5 relative)
  btyd_reference.py hessian MODEL p1 p2 ...     stdin: x,tx,T rows (x,m for gg) -> standard errors, then the
                                                covariance row by row: the inverse of minus the Hessian of the
                                                summed log-likelihood, by central second differences (relative
                                                steps 1.6e-3 and 8e-4, Richardson-extrapolated)

Formulas as in Fader, Hardie & Lee (2005) and the lifetimes library.
"""
import sys

import numpy as np
from scipy import optimize, special


def read_rows(ncols):
    data = np.loadtxt(sys.stdin, delimiter=",", ndmin=2)
    return [data[:, i] for i in range(ncols)]


def bgnbd_ll(params, x, tx, T):
    r, alpha, a, b = params
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    A2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    A3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        A4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx), -np.inf)
    return A1 + A2 + np.logaddexp(A3, A4)


def pnbd_log_a0(params, x, tx, T):
    r, alpha, s, beta = params
    hi, k = (alpha, s + 1) if alpha >= beta else (beta, r + x)
    diff = abs(alpha - beta)
    rsx = r + s + x
    q1, q2 = hi + tx, hi + T
    p1 = special.hyp2f1(rsx, k, rsx + 1, diff / q1)
    p2 = special.hyp2f1(rsx, k, rsx + 1, diff / q2)
    with np.errstate(divide="ignore"):
        u = np.log(p1) + rsx * np.log(q2)
        v = np.log(p2) + rsx * np.log(q1)
        return np.where(u > v, u + np.log1p(-np.exp(v - u)), -np.inf) - rsx * np.log(q1 * q2)


def pnbd_ll(params, x, tx, T):
    r, alpha, s, beta = params
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return A1 + np.logaddexp(-(r + x) * np.log(alpha + T) - s * np.log(beta + T),
                             np.log(s) + pnbd_log_a0(params, x, tx, T) - np.log(r + s + x))


def pnbd_pmf_by_integration(params, t, n, x, tx, T):
    """The definition averaged over the prior: purchases are Poisson(lambda) while
    alive, the lifetime is Exponential(mu).  The trapezoid rule on a fine grid in
    (log lambda, log mu) converges geometrically for these smooth, fast-decaying
    integrands; 1e-10 is reached long before h = 0.02."""
    r, alpha, s, beta = params
    grid = np.arange(-60, 5, 0.02)
    u, v = np.meshgrid(grid, grid, indexing="ij")
    lam, mu = np.exp(u), np.exp(v)
    log_prior = (r * u + r * np.log(alpha) - alpha * lam - special.gammaln(r)
                 + s * v + s * np.log(beta) - beta * mu - special.gammaln(s))
    weight = np.exp(log_prior + x * u - (lam + mu) * T)               # prior x alive part of the likelihood
    dead = np.exp(log_prior + x * u + np.log(mu / (lam + mu)) - (lam + mu) * tx) * -np.expm1(-(lam + mu) * (T - tx))
    survive = np.exp(-(lam + mu) * t + n * np.log(lam * t) - special.gammaln(n + 1))
    die = np.exp(np.log(mu) + n * u - (n + 1) * np.log(lam + mu)) * special.gammainc(n + 1, (lam + mu) * t)
    alive_mass, dead_mass = weight.sum(), dead.sum()
    future = (weight * (survive + die)).sum()
    return ((dead_mass if n == 0 else 0) + future) / (alive_mass + dead_mass)


def mbgnbd_ll(params, x, tx, T):
    r, alpha, a, b = params
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    A2 = special.gammaln(a + b) + special.gammaln(b + x + 1) - special.gammaln(b) - special.gammaln(a + b + x + 1)
    A3 = -(r + x) * np.log(alpha + T)
    A4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    return A1 + A2 + A3 + np.logaddexp(A4, 0)


def mbgnbd_new_pmf(params, t, n):
    r, alpha, a, b = params
    q, u = alpha / (alpha + t), t / (alpha + t)
    lbeta = special.betaln(a, b)
    nb = lambda j: np.exp(special.gammaln(r + j) - special.gammaln(r) - special.gammaln(j + 1) + r * np.log(q) + j * np.log(u))
    first = np.exp(special.betaln(a, b + n + 1) - lbeta) * nb(n)
    second = np.exp(special.betaln(a + 1, b + n) - lbeta) * (1 - sum(nb(j) for j in range(n)))
    return first + second


def bgbb_ll(params, x, tx, n):
    alpha, beta, gamma, delta = params
    out = []
    for xi, ti, ni in zip(np.atleast_1d(x), np.atleast_1d(tx), np.atleast_1d(n)):
        terms = [special.betaln(alpha + xi, beta + ni - xi) - special.betaln(alpha, beta)
                 + special.betaln(gamma, delta + ni) - special.betaln(gamma, delta)]
        for i in range(int(ni - ti)):
            terms.append(special.betaln(alpha + xi, beta + ti - xi + i) - special.betaln(alpha, beta)
                         + special.betaln(gamma + 1, delta + ti + i) - special.betaln(gamma, delta))
        out.append(special.logsumexp(terms))
    return np.array(out)


def gg_ll(params, x, m):
    p, q, g = params
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(g)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))


def fit(ll, data, n):
    def objective(log_params):
        return -np.mean(ll(np.exp(log_params), *data))
    best = optimize.minimize(objective, np.zeros(n), method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000})
    best = optimize.minimize(objective, best.x, method="BFGS", options={"gtol": 1e-10})
    params = np.exp(best.x)
    return params, float(np.sum(ll(params, *data)))


def bgnbd_expected(params, t, x, tx, T):
    r, alpha, a, b = params
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    den = 1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x), 0)
    return num / den


def pnbd_expected(params, t, x, tx, T):
    r, alpha, s, beta = params
    p_alive = 1 / (1 + np.exp(np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T)
                              + s * np.log(beta + T) + pnbd_log_a0(params, x, tx, T)))
    return (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) * p_alive


def quantity(name, p, g, horizon, months, discount, ppm, margin, x, tx, T, m):
    expected = bgnbd_expected if name.startswith("bgnbd") else pnbd_expected
    if name.endswith("expected"):
        return expected(p, horizon, x, tx, T)
    gp, gq, gg = g
    spend = gp * (gg + x * m) / (gp * x + gq - 1)
    clv, before = 0.0, 0.0
    for i in range(1, int(months) + 1):
        now = expected(p, i * ppm, x, tx, T)
        clv = clv + (now - before) * spend * margin / (1 + discount) ** i
        before = now
    return clv


def main():
    cmd = sys.argv[1]
    args = [float(v) for v in sys.argv[2:]] if cmd not in ("hessian", "interval") else []
    if cmd == "interval":
        name = sys.argv[2]
        vec = lambda v: np.array([float(u) for u in v.split(",")]) if v != "-" else None
        p, g, cov, gcov = (vec(v) for v in sys.argv[3:7])
        horizon, months, discount, ppm, margin = (float(v) for v in sys.argv[7:12])
        x, tx, T, m = read_rows(4)
        f = lambda pp, gg: quantity(name, pp, gg, horizon, months, discount, ppm, margin, x, tx, T, m)
        est = f(p, g)
        var = np.zeros_like(est)
        for params, c, is_p in ((p, cov, True), (g, gcov, False)):
            if params is None:
                continue
            n = len(params)
            c = c.reshape(n, n)
            grads = []
            for i in range(n):
                h = 1e-5 * params[i]
                up, down = params.copy(), params.copy()
                up[i] += h
                down[i] -= h
                grads.append((f(up, g) - f(down, g)) / (2 * h) if is_p else (f(p, up) - f(p, down)) / (2 * h))
            for i in range(n):
                for j in range(n):
                    var = var + grads[i] * c[i, j] * grads[j]
        sd = np.sqrt(np.maximum(var, 0))
        for e, lo, hi in zip(est, np.maximum(est - 1.959963984540054 * sd, 0), est + 1.959963984540054 * sd):
            print(f"{float(e)!r},{float(lo)!r},{float(hi)!r}")
        return
    if cmd == "loglik":
        x, tx, T = read_rows(3)
        for v in bgnbd_ll(args[:4], x, tx, T):
            print(repr(float(v)))
    elif cmd == "predict":
        r, alpha, a, b, t = args
        x, tx, T = read_rows(3)
        p_alive = np.where(x > 0, 1 / (1 + a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x)), 1.0)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
        den = 1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x), 0)
        for pa, e in zip(p_alive, num / den):
            print(f"{float(pa)!r},{float(e)!r}")
    elif cmd == "new":
        r, alpha, a, b, t = args
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        print(repr(float((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp))))
        q, u = alpha / (alpha + t), t / (alpha + t)
        lbeta = special.betaln(a, b)
        for n in range(6):
            first = np.exp(special.betaln(a, b + n) - lbeta + special.gammaln(r + n) - special.gammaln(r)
                           - special.gammaln(n + 1) + r * np.log(q) + n * np.log(u))
            if n > 0:
                j = np.arange(n)
                partial = np.sum(np.exp(special.gammaln(r + j) - special.gammaln(r) - special.gammaln(j + 1)
                                        + r * np.log(q) + j * np.log(u)))
                first += np.exp(special.betaln(a + 1, b + n - 1) - lbeta) * (1 - partial)
            print(repr(float(first)))
    elif cmd == "fit":
        params, ll = fit(bgnbd_ll, read_rows(3), 4)
        print(",".join(repr(float(v)) for v in list(params) + [ll]))
    elif cmd == "pnbdloglik":
        x, tx, T = read_rows(3)
        for v in pnbd_ll(args[:4], x, tx, T):
            print(repr(float(v)))
    elif cmd == "pnbdpredict":
        r, alpha, s, beta, t = args
        x, tx, T = read_rows(3)
        p_alive = 1 / (1 + np.exp(np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T)
                                  + s * np.log(beta + T) + pnbd_log_a0((r, alpha, s, beta), x, tx, T)))
        e = (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) * p_alive
        for pa, v in zip(p_alive, e):
            print(f"{float(pa)!r},{float(v)!r}")
    elif cmd == "pnbdfit":
        params, ll = fit(pnbd_ll, read_rows(3), 4)
        print(",".join(repr(float(v)) for v in list(params) + [ll]))
    elif cmd == "pnbdpmf":
        params, t, n = args[:4], args[4], int(args[5])
        for x, tx, T in zip(*read_rows(3)):
            print(repr(pnbd_pmf_by_integration(params, t, n, x, tx, T)))
    elif cmd == "bgbbfit":
        x, tx, n, w = read_rows(4)
        def objective(log_params):
            return -float(np.sum(w * bgbb_ll(np.exp(log_params), x, tx, n))) / np.sum(w)
        best = min((optimize.minimize(objective, np.log(start), method="Nelder-Mead",
                                      options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000, "maxfev": 40000})
                    for start in ([1, 1, 1, 1], [1.2, 0.8, 0.7, 2.5])), key=lambda r: r.fun)
        best = optimize.minimize(objective, best.x, method="BFGS", options={"gtol": 1e-10})
        params = np.exp(best.x)
        print(",".join(repr(float(v)) for v in list(params) + [float(np.sum(w * bgbb_ll(params, x, tx, n)))]))
    elif cmd == "bgbbpredict":
        alpha, beta, gamma, delta, m, d = args
        x, tx, n = read_rows(3)
        ll = bgbb_ll((alpha, beta, gamma, delta), x, tx, n)
        p_alive = np.exp(special.betaln(alpha + x, beta + n - x) - special.betaln(alpha, beta)
                         + special.betaln(gamma, delta + n + 1) - special.betaln(gamma, delta) - ll)
        p2 = np.exp(special.betaln(alpha + x + 1, beta + n - x) - special.betaln(alpha, beta))
        p3 = delta / (gamma - 1) * np.exp(special.gammaln(gamma + delta) - special.gammaln(1 + delta))
        p4 = np.exp(special.gammaln(1 + delta + n) - special.gammaln(gamma + delta + n))
        p5 = np.exp(special.gammaln(1 + delta + n + m) - special.gammaln(gamma + delta + n + m))
        expected = np.exp(-ll) * p2 * p3 * (p4 - p5)
        dert = (np.exp(special.betaln(alpha + x + 1, beta + n - x) - special.betaln(alpha, beta)
                       + special.betaln(gamma, delta + n + 1) - special.betaln(gamma, delta) - ll) / (1 + d)
                * special.hyp2f1(1, delta + n + 1, gamma + delta + n + 1, 1 / (1 + d)))
        for row in zip(ll, p_alive, expected, dert):
            print(",".join(repr(float(v)) for v in row))
    elif cmd == "bgbbcond":
        alpha, beta, gamma, delta, m = args
        m = int(m)
        lb = lambda a, b: special.betaln(a, b)
        for x, tx, n in zip(*read_rows(3)):
            L = np.exp(bgbb_ll((alpha, beta, gamma, delta), x, tx, n))[0]
            probs = np.zeros(m + 1)
            # death at the start of opportunity j (tx < j <= n + m, j = n + m + 1: never), transactions only
            # before j; the past fixes x of the first n; each future pattern of k among the alive future ones
            for j in range(int(tx) + 1, n_end := int(n) + m + 2):
                alive_past = min(j - 1, int(n))
                alive_future = max(j - 1 - int(n), 0)
                for k in range(alive_future + 1):
                    w = (special.comb(alive_future, k) * np.exp(lb(alpha + x + k, beta + alive_past - x + alive_future - k) - lb(alpha, beta)
                         + (lb(gamma + 1, delta + j - 1) if j <= int(n) + m else lb(gamma, delta + int(n) + m)) - lb(gamma, delta)))
                    probs[k] += w / L
            print(",".join(repr(float(v)) for v in probs))
    elif cmd == "bgbbnew":
        alpha, beta, gamma, delta, n = args
        print(repr(float(alpha / (alpha + beta) * delta / (gamma - 1)
                         * (1 - np.exp(special.gammaln(gamma + delta) - special.gammaln(gamma + delta + n)
                                       + special.gammaln(1 + delta + n) - special.gammaln(1 + delta))))))
        for x in range(int(n) + 1):
            prob = np.exp(special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
                          + special.betaln(alpha + x, beta + n - x) - special.betaln(alpha, beta)
                          + special.betaln(gamma, delta + n) - special.betaln(gamma, delta))
            for i in range(x, int(n)):
                prob += np.exp(special.gammaln(i + 1) - special.gammaln(x + 1) - special.gammaln(i - x + 1)
                               + special.betaln(alpha + x, beta + i - x) - special.betaln(alpha, beta)
                               + special.betaln(gamma + 1, delta + i) - special.betaln(gamma, delta))
            print(repr(float(prob)))
    elif cmd == "mbgloglik":
        x, tx, T = read_rows(3)
        for v in mbgnbd_ll(args[:4], x, tx, T):
            print(repr(float(v)))
    elif cmd == "mbgfit":
        params, ll = fit(mbgnbd_ll, read_rows(3), 4)
        print(",".join(repr(float(v)) for v in list(params) + [ll]))
    elif cmd == "mbgpredict":
        r, alpha, a, b, t, n = args
        x, tx, T = read_rows(3)
        odds = a / (b + x) * ((alpha + T) / (alpha + tx)) ** (r + x)
        p_alive = 1 / (1 + odds)
        hyp = special.hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t))
        e = (a + b + x) / (a - 1) * (1 - hyp * ((alpha + T) / (alpha + t + T)) ** (r + x)) / (1 + odds)
        # alive at T, the future is a BG/NBD process with the posterior (r + x, alpha + T, a, b + x + 1)
        for i in range(len(x)):
            rp, ap, bp = r + x[i], alpha + T[i], b + x[i] + 1
            q, u = ap / (ap + t), t / (ap + t)
            lbeta = special.betaln(a, bp)
            nb = lambda j: np.exp(special.gammaln(rp + j) - special.gammaln(rp) - special.gammaln(j + 1) + rp * np.log(q) + j * np.log(u))
            pn = np.exp(special.betaln(a, bp + n) - lbeta) * nb(n)
            if n > 0:
                pn += np.exp(special.betaln(a + 1, bp + n - 1) - lbeta) * (1 - sum(nb(j) for j in range(int(n))))
            prob = p_alive[i] * pn + (1 - p_alive[i] if n == 0 else 0)
            print(f"{float(p_alive[i])!r},{float(e[i])!r},{float(prob)!r}")
    elif cmd == "mbgnew":
        r, alpha, a, b, t = args
        hyp = special.hyp2f1(r, b + 1, a + b, t / (alpha + t))
        print(repr(float(b / (a - 1) * (1 - hyp * (alpha / (alpha + t)) ** r))))
        for n in range(6):
            print(repr(float(mbgnbd_new_pmf((r, alpha, a, b), t, n))))
    elif cmd == "ggfit":
        params, ll = fit(gg_ll, read_rows(2), 3)
        print(",".join(repr(float(v)) for v in list(params) + [ll]))
    elif cmd == "ggloglik":
        x, m = read_rows(2)
        for v in gg_ll(args[:3], x, m):
            print(repr(float(v)))
    elif cmd == "hessian":
        model = sys.argv[2]
        p = np.array([float(v) for v in sys.argv[3:]])
        ll = {"bgnbd": bgnbd_ll, "mbgnbd": mbgnbd_ll, "pareto_nbd": pnbd_ll, "gamma_gamma": gg_ll}[model]
        cols = read_rows(2 if model == "gamma_gamma" else 3)
        total = lambda q: float(np.sum(ll(q, *cols)))
        n = len(p)

        def second_differences(rel):
            h = rel * p
            hess = np.zeros((n, n))
            for i in range(n):
                for j in range(n):
                    e_i, e_j = np.eye(n)[i] * h[i], np.eye(n)[j] * h[j]
                    hess[i, j] = (total(p + e_i + e_j) - total(p + e_i - e_j) - total(p - e_i + e_j)
                                  + total(p - e_i - e_j)) / (4 * h[i] * h[j])
            return hess
        # Richardson: the O(h^2) error of the two steps cancels.  A small step alone is not better: the
        # rounding of the summed log-likelihood over h^2, amplified by the inverse of a Hessian whose
        # condition number reaches 3e4 (BG/NBD's a and b), left 1e-4 errors at a relative step of 1e-4.
        hess = (4 * second_differences(8e-4) - second_differences(1.6e-3)) / 3
        cov = np.linalg.inv(-hess)
        print(",".join(repr(float(v)) for v in np.sqrt(np.diag(cov))))
        for row in cov:
            print(",".join(repr(float(v)) for v in row))
    elif cmd == "simulate":
        n, seed = int(args[0]), int(args[1])
        r, alpha, a, b = args[2:6]
        rng = np.random.default_rng(seed)
        lam = rng.gamma(r, 1 / alpha, n)
        p = rng.beta(a, b, n)
        T = rng.uniform(20, 80, n)
        for i in range(n):
            t, x, tx = 0.0, 0, 0.0
            while True:
                t += rng.exponential(1 / lam[i]) if lam[i] > 0 else np.inf
                if t > T[i]:
                    break
                x, tx = x + 1, t
                if rng.random() < p[i]:
                    break
            print(f"{x},{tx!r},{T[i]!r}")


if __name__ == "__main__":
    main()
