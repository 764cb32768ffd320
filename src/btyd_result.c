/*
 * btyd_result.c: a fit as SQL values: the model composite (parameters, log-likelihood, customers, distinct
 * rows, iterations, converged) and the btyd_uncertainty composite (estimates, standard errors, intervals);
 * shared by the plain fits (btyd.c), the covariate fits (btyd_covariates.c) and sBG (sbg.c).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "btyd_glue.h"
#include "btyd_math.h"
#include "cs_util.h"
#include "state.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

/* Model composite: the parameters, then log_likelihood, customers, distinct_rows, iterations, converged. */
Datum
btyd_model_datum(FunctionCallInfo fcinfo, const BtydFit *fit, int nparams, double customers, int64 distinct)
{
	TupleDesc	desc;
	Datum		values[9];
	bool		nulls[9] = {0};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != nparams + 5)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("unexpected result type of a BTYD fit")));
	desc = BlessTupleDesc(desc);
	for (i = 0; i < nparams; i++)
		values[i] = Float8GetDatum(fit->params[i]);
	values[i++] = Float8GetDatum(fit->loglik);
	values[i++] = Int64GetDatum((int64) customers);
	values[i++] = Int64GetDatum(distinct);
	values[i++] = Int32GetDatum(fit->iterations);
	values[i++] = BoolGetDatum(fit->converged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

Datum
btyd_uncertainty_datum(FunctionCallInfo fcinfo, const BtydUncertainty *u)
{
	int			n = u->n;
	const double *params = u->fit->params;
	bool		ok = u->has_cov;
	double		se[BTYD_MAX_PARAMS],
				lo[BTYD_MAX_PARAMS],
				hi[BTYD_MAX_PARAMS];
	bool		gone[BTYD_MAX_PARAMS];	/* no standard error for this parameter */
	bool		cov_null[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	Datum		name_d[BTYD_MAX_PARAMS],
				cov_d[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	int			dims[2] = {n, n},
				lbs[2] = {1, 1};
	TupleDesc	desc;
	Datum		values[9];
	bool		nulls[9] = {0};

	for (int i = 0; i < n * n && ok; i++)
		ok = isfinite(u->cov[i]);
	if (!ok)
		ereport(NOTICE,
				(errmsg("the observed information of this fit is not positive definite: no standard errors"),
				 errhint("The likelihood has no interior maximum here; see the fit's converged and the NOTICE it gave.")));
	for (int i = 0; i < n; i++)
	{
		double		sd = ok ? sqrt(u->cov[i * n + i]) : 0;

		gone[i] = !ok || (u->fixed != NULL && u->fixed[i]);
		se[i] = sd;
		if (i < u->n_log)
		{
			/* positive parameters: the interval on the log scale */
			lo[i] = params[i] * exp(-1.959963984540054 * sd / params[i]);
			hi[i] = params[i] * exp(1.959963984540054 * sd / params[i]);
		}
		else
		{
			lo[i] = params[i] - 1.959963984540054 * sd;
			hi[i] = params[i] + 1.959963984540054 * sd;
		}
		name_d[i] = CStringGetTextDatum(u->names[i]);
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
		{
			cov_null[i * n + j] = gone[i] || gone[j];
			cov_d[i * n + j] = Float8GetDatum(cov_null[i * n + j] ? 0 : u->cov[i * n + j]);
		}
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != 9)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("unexpected result type of a BTYD uncertainty")));
	desc = BlessTupleDesc(desc);
	values[0] = PointerGetDatum(construct_array(name_d, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(cs_float8_array(params, n));
	values[2] = PointerGetDatum(cs_float8_array_nulls(se, gone, n));
	values[3] = PointerGetDatum(cs_float8_array_nulls(lo, gone, n));
	values[4] = PointerGetDatum(cs_float8_array_nulls(hi, gone, n));
	values[5] = PointerGetDatum(construct_md_array(cov_d, cov_null, 2, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	nulls[2] = nulls[3] = nulls[4] = nulls[5] = !ok;
	values[6] = Float8GetDatum(u->fit->loglik);
	values[7] = Int64GetDatum((int64) u->customers);
	values[8] = BoolGetDatum(u->fit->converged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
