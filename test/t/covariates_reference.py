"""Independent reference for the BTYD models with time-invariant covariates (numpy and scipy only).

  covariates_reference.py truth MODEL             -> the true parameters the simulation uses, one line
  covariates_reference.py simulate MODEL N SEED   -> id,x,tx,T,zp1,zp2,zd1 rows (gg: id,x,m,z1,z2), customers
                                                     drawn from the model with those parameters and covariates
  covariates_reference.py fit MODEL               stdin: the rows without id -> three lines: the maximum-likelihood
                                                     parameters (base, then coefficients) by scipy.optimize from the
                                                     truth, the summed log-likelihood, and the standard errors from
                                                     the numerical Hessian (central second differences)
  covariates_reference.py loglik MODEL p1 p2 ...  stdin: the rows -> the summed log-likelihood at those parameters
  covariates_reference.py predict MODEL t p1 ...  stdin: the rows -> per row p_alive,expected purchases in t
                                                     (gg: expected spend), from each customer's own parameters

MODEL is bgnbd, pnbd or gg.  A customer's parameters (pymc-marketing's and CLVTools' parameterisation):
  bgnbd  alpha_i = alpha exp(-zp . gp), a_i = a exp(zd . ga), b_i = b exp(zd . gb)
  pnbd   alpha_i = alpha exp(-zp . gp), beta_i = beta exp(-zd . gd)
  gg     gamma_i = gamma exp(z . g)
Likelihoods as Fader, Hardie & Lee (2005) and Fader & Hardie's Pareto/NBD note write them (BG/NBD and
Gamma-Gamma from btyd_reference.py, which broadcast over per-customer parameters; Pareto/NBD here, with its
2F1 branch chosen per customer).
"""
import os
import sys

import numpy as np
from scipy import optimize, special

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from btyd_reference import bgnbd_ll, gg_ll  # noqa: E402  (vectorised over the parameters too)

TRUTH = {
    # base parameters, then purchase coefficients (2), then dropout coefficients (1 per linked parameter)
    "bgnbd": [0.8, 4.0, 0.8, 2.5, 0.5, -0.3, 0.7, -0.4],
    "pnbd": [0.6, 5.0, 0.5, 10.0, 0.5, -0.3, 0.8],
    "gg": [6.0, 4.0, 15.0, 0.4, -0.2],
}
N_BASE = {"bgnbd": 4, "pnbd": 4, "gg": 3}


def individual(model, params, z):
    """Each row's own base parameters from the covariate columns z (zp1, zp2, zd1; gg: z1, z2)."""
    p = np.asarray(params, dtype=float)
    if model == "bgnbd":
        r, alpha, a, b, gp1, gp2, ga, gb = p
        return (r, alpha * np.exp(-(z[0] * gp1 + z[1] * gp2)), a * np.exp(z[2] * ga), b * np.exp(z[2] * gb))
    if model == "pnbd":
        r, alpha, s, beta, gp1, gp2, gd = p
        return (r, alpha * np.exp(-(z[0] * gp1 + z[1] * gp2)), s, beta * np.exp(-z[2] * gd))
    pp, q, g, g1, g2 = p
    return (pp, q, g * np.exp(z[0] * g1 + z[1] * g2))


def pnbd_log_a0(r, alpha, s, beta, x, tx, T):
    hi = np.where(alpha >= beta, alpha, beta)
    k = np.where(alpha >= beta, s + 1, r + x)
    diff = np.abs(alpha - beta)
    rsx = r + s + x
    q1, q2 = hi + tx, hi + T
    p1 = special.hyp2f1(rsx, k, rsx + 1, diff / q1)
    p2 = special.hyp2f1(rsx, k, rsx + 1, diff / q2)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.log(p1) + rsx * np.log(q2)
        v = np.log(p2) + rsx * np.log(q1)
        return np.where(u > v, u + np.log1p(-np.exp(v - u)), -np.inf) - rsx * np.log(q1 * q2)


def pnbd_ll(r, alpha, s, beta, x, tx, T):
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return A1 + np.logaddexp(-(r + x) * np.log(alpha + T) - s * np.log(beta + T),
                             np.log(s) + pnbd_log_a0(r, alpha, s, beta, x, tx, T) - np.log(r + s + x))


def loglik(model, params, data):
    if model == "gg":
        x, m, z = data[0], data[1], data[2:]
        return float(np.sum(gg_ll(individual(model, params, z), x, m)))
    x, tx, T, z = data[0], data[1], data[2], data[3:]
    if model == "bgnbd":
        return float(np.sum(bgnbd_ll(individual(model, params, z), x, tx, T)))
    return float(np.sum(pnbd_ll(*individual(model, params, z), x, tx, T)))


def to_theta(model, params):
    n = N_BASE[model]
    return np.concatenate([np.log(params[:n]), params[n:]])


def from_theta(model, theta):
    n = N_BASE[model]
    return np.concatenate([np.exp(theta[:n]), theta[n:]])


def simulate(model, n, seed):
    rng = np.random.default_rng(seed)
    zp1 = (rng.random(n) < 0.4).astype(float)          # a channel dummy
    zp2 = np.round(rng.standard_normal(n), 3)          # a standardised score
    zd1 = (rng.random(n) < 0.5).astype(float)          # a region dummy
    if model == "gg":
        p, q, g = individual(model, TRUTH[model], (zp1, zp2))
        nu = rng.gamma(q, 1 / g)
        x = 1 + rng.poisson(2.0, n)
        m = np.array([rng.gamma(p, 1 / nu[i], x[i]).mean() for i in range(n)])
        for i in range(n):
            print(f"{i + 1},{x[i]},{m[i]!r},{zp1[i]!r},{zp2[i]!r}")
        return
    T = np.round(rng.uniform(20, 60, n), 4)
    params = individual(model, TRUTH[model], (zp1, zp2, zd1))
    r, alpha = params[0], params[1]
    lam = rng.gamma(r, 1 / alpha)
    for i in range(n):
        t, x, tx = 0.0, 0, 0.0
        if model == "bgnbd":
            drop = rng.beta(params[2][i], params[3][i])
            while True:
                t += rng.exponential(1 / lam[i])
                if t > T[i]:
                    break
                x, tx = x + 1, t
                if rng.random() < drop:
                    break
        else:
            life = rng.exponential(1 / rng.gamma(params[2], 1 / params[3][i]))
            end = min(life, T[i])
            while True:
                t += rng.exponential(1 / lam[i])
                if t > end:
                    break
                x, tx = x + 1, t
        print(f"{i + 1},{x},{round(tx, 4)!r},{T[i]!r},{zp1[i]!r},{zp2[i]!r},{zd1[i]!r}")


def read_rows():
    data = np.loadtxt(sys.stdin, delimiter=",", ndmin=2)
    return [data[:, i] for i in range(data.shape[1])]


def hessian(f, theta, h=1e-4):
    n = len(theta)
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            def at(di, dj):
                t = theta.copy()
                t[i] += di
                t[j] += dj
                return f(t)
            H[i, j] = H[j, i] = (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4 * h * h)
    return H


def fit(model, data):
    def objective(theta):
        v = -loglik(model, from_theta(model, theta), data) / len(data[0])
        return v if np.isfinite(v) else 1e300
    best = optimize.minimize(objective, to_theta(model, np.array(TRUTH[model])), method="BFGS",
                             options={"gtol": 1e-9, "maxiter": 5000})
    best = optimize.minimize(objective, best.x, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 40000, "maxfev": 80000})
    best = optimize.minimize(objective, best.x, method="BFGS", options={"gtol": 1e-10})
    params = from_theta(model, best.x)
    H = hessian(lambda t: loglik(model, from_theta(model, t), data), best.x)
    cov = np.linalg.inv(-H)
    jac = np.concatenate([params[:N_BASE[model]], np.ones(len(params) - N_BASE[model])])
    se = np.sqrt(np.diag(cov)) * jac
    print(",".join(repr(float(v)) for v in params))
    print(repr(loglik(model, params, data)))
    print(",".join(repr(float(v)) for v in se))


def predict(model, t, params, data):
    if model == "gg":
        x, m, z = data[0], data[1], data[2:]
        p, q, g = individual(model, params, z)
        for v in p * (g + x * m) / (p * x + q - 1):
            print(repr(float(v)))
        return
    x, tx, T, z = data[0], data[1], data[2], data[3:]
    if model == "bgnbd":
        r, alpha, a, b = individual(model, params, z)
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x), 0)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        expected = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp) / (1 + odds)
        alive = 1 / (1 + odds)
    else:
        r, alpha, s, beta = individual(model, params, z)
        alive = 1 / (1 + np.exp(np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T)
                                + s * np.log(beta + T) + pnbd_log_a0(r, alpha, s, beta, x, tx, T)))
        expected = (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) * alive
    for a_, e_ in zip(alive, expected):
        print(f"{float(a_)!r},{float(e_)!r}")


def main():
    mode, model = sys.argv[1], sys.argv[2]
    if mode == "truth":
        print(",".join(repr(v) for v in TRUTH[model]))
    elif mode == "simulate":
        simulate(model, int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "fit":
        fit(model, read_rows())
    elif mode == "loglik":
        print(repr(loglik(model, np.array([float(v) for v in sys.argv[3:]]), read_rows())))
    elif mode == "predict":
        predict(model, float(sys.argv[3]), np.array([float(v) for v in sys.argv[4:]]), read_rows())
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
