"""Independent reference for the shifted-beta-geometric model (numpy and scipy only).

  sbg_reference.py fit           stdin: one cohort's alive counts (comma-separated, alive[0] the size)
                                 -> alpha,beta,log-likelihood by scipy.optimize (Nelder-Mead, then a polish)
  sbg_reference.py histories     stdin: lines renewals,cancelled (1/0) -> alpha,beta,log-likelihood of the
                                 contracts (a cancelled one: log P(T = k+1), an active one: log S(k))
  sbg_reference.py curve A B N   -> per t = 0..N: t,S(t),r(t),P(T=t) (r and P empty at t = 0), from betaln
  sbg_reference.py derl A B D K  -> the renewals still to come of an active customer who renewed K times,
                                    discounted: sum_{j>=0} S(K+1+j)/S(K) (1+D)^-j, summed term by term until
                                    the terms are below 1e-18 of the sum (D = 0: the undiscounted sum, up to
                                    10^7 terms), then the new customer's payments sum_{t>=0} S(t) (1+D)^-t

Fader & Hardie (2007), "How to project customer retention": P(T = t) = B(a+1, b+t-1)/B(a, b), S(t) =
B(a, b+t)/B(a, b); the log-likelihood of a cohort sums (alive[t-1] - alive[t]) log P(T = t) over the periods
and adds alive[n] log S(n).
"""
import sys

import numpy as np
from scipy import optimize, special


def log_p(a, b, t):
    return special.betaln(a + 1, b + t - 1) - special.betaln(a, b)


def log_s(a, b, t):
    return special.betaln(a, b + t) - special.betaln(a, b)


def loglik(a, b, alive):
    n = len(alive) - 1
    lost = alive[:-1] - alive[1:]
    t = np.arange(1, n + 1)
    return float(np.sum(lost * log_p(a, b, t)) + alive[-1] * log_s(a, b, n))


def fit(alive):
    def f(theta):
        return -loglik(np.exp(theta[0]), np.exp(theta[1]), alive)
    best = optimize.minimize(f, [0.0, 0.0], method='Nelder-Mead', options={'xatol': 1e-12, 'fatol': 1e-14, 'maxiter': 20000})
    best = optimize.minimize(f, best.x, method='BFGS', options={'gtol': 1e-10})
    a, b = np.exp(best.x)
    return a, b, loglik(a, b, alive)


def fit_histories(k, cancelled):
    def ll(a, b):
        return float(np.sum(np.where(cancelled, log_p(a, b, k + 1), log_s(a, b, k))))

    def f(theta):
        return -ll(np.exp(theta[0]), np.exp(theta[1]))
    best = optimize.minimize(f, [0.0, 0.0], method='Nelder-Mead', options={'xatol': 1e-12, 'fatol': 1e-14, 'maxiter': 20000})
    best = optimize.minimize(f, best.x, method='BFGS', options={'gtol': 1e-10})
    a, b = np.exp(best.x)
    return a, b, ll(a, b)


def survival_ratio_terms(a, b, k, d, max_terms):
    """S(k+1+j)/S(k) (1+d)^-j for j = 0, 1, ... by the ratio S(t)/S(t-1) = (b+t-1)/(a+b+t-1)."""
    term = (b + k) / (a + b + k)
    total = 0.0
    j = 0
    while j < max_terms:
        total += term
        j += 1
        t = k + 1 + j
        term *= (b + t - 1) / (a + b + t - 1) / (1 + d)
        if term < 1e-18 * total:
            break
    return total


def main():
    mode = sys.argv[1]
    if mode == 'fit':
        alive = np.array([float(v) for v in sys.stdin.read().strip().split(',')])
        print('%.17g,%.17g,%.17g' % fit(alive))
    elif mode == 'histories':
        rows = np.array([[float(v) for v in line.split(',')] for line in sys.stdin.read().split()])
        print('%.17g,%.17g,%.17g' % fit_histories(rows[:, 0], rows[:, 1] > 0))
    elif mode == 'curve':
        a, b, n = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
        for t in range(n + 1):
            s = np.exp(log_s(a, b, t))
            if t == 0:
                print('0,%.17g,,' % s)
            else:
                print('%d,%.17g,%.17g,%.17g' % (t, s, (b + t - 1) / (a + b + t - 1), np.exp(log_p(a, b, t))))
    elif mode == 'derl':
        a, b, d, k = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        derl = survival_ratio_terms(a, b, k, d, 10 ** 7)
        new = 1 + survival_ratio_terms(a, b, 0, d, 10 ** 7) / (1 + d)
        print('%.17g,%.17g' % (derl, new))
    else:
        sys.exit('unknown mode ' + mode)


if __name__ == '__main__':
    main()
