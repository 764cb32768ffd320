/*
 * cs_util.c: helpers shared by the SQL-facing wrappers: module set-up, aggregate memory, argument types,
 * float8 arrays.  Amounts are read in cs_amount.c, order days in a zone in cs_days.c.
 */
#include "postgres.h"

#include "utils/lsyscache.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "nodes/pg_list.h"
#include "cs_util.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static void
cs_check_for_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/* The fmgr-free math stops for statement_timeout and cancellation like the rest of the server. */
void
_PG_init(void)
{
	cs_interrupt_hook = cs_check_for_interrupts;
}

MemoryContext
cs_agg_context(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext ctx;

	if (!AggCheckCallContext(fcinfo, &ctx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called in non-aggregate context", fname)));
	return ctx;
}

static void *
cs_palloc(void *ctx, size_t size)
{
	return MemoryContextAllocHuge((MemoryContext) ctx, size);
}

static void
cs_pfree(void *ctx, void *ptr)
{
	pfree(ptr);
}

CsAllocator
cs_allocator(MemoryContext ctx)
{
	CsAllocator a = {cs_palloc, cs_pfree, ctx};

	return a;
}

/*
 * The transition function's own expression holds placeholders, not the
 * aggregate's arguments, so get_fn_expr_arg_stable cannot tell: look at the
 * Aggref instead.
 */
bool
cs_arg_varies(FunctionCallInfo fcinfo, int argno)
{
	Aggref	   *aggref;
	Node	   *arg;

	if (PG_NARGS() <= argno)
		return false;
	aggref = AggGetAggref(fcinfo);
	if (aggref == NULL || argno - 1 >= list_length(aggref->args))
		return true;
	arg = (Node *) ((TargetEntry *) list_nth(aggref->args, argno - 1))->expr;
	return !(IsA(arg, Const) || (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN));
}

/*
 * The type of an argument: from the call's expression, or, when the caller
 * built the call without one (Citus's worker_partial_agg calls transition
 * functions so), from the function's declaration.
 */
Oid
cs_arg_type(FunctionCallInfo fcinfo, int argno)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, argno);
	Oid		   *types;
	int			nargs;

	if (OidIsValid(type) || !OidIsValid(fcinfo->flinfo->fn_oid))
		return type;
	get_func_signature(fcinfo->flinfo->fn_oid, &types, &nargs);
	type = argno < nargs ? types[argno] : InvalidOid;
	pfree(types);
	return type;
}

ArrayType *
cs_float8_array(const double *v, int n)
{
	return cs_float8_array_nulls(v, NULL, n);
}

ArrayType *
cs_float8_array_nulls(const double *v, const bool *nulls, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			dims[1] = {n},
				lbs[1] = {1};

	if (n == 0)
		return construct_empty_array(FLOAT8OID);
	for (int i = 0; i < n; i++)
		d[i] = Float8GetDatum(nulls != NULL && nulls[i] ? 0 : v[i]);
	return construct_md_array(d, (bool *) nulls, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}
