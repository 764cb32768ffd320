/*
 * rfm_scored.c: the RFM analysis of per-customer summaries in one C pass.
 *
 * rfm_scored(per_customer text, as_of date, granularity text, unit text, bins integer, rule_set text)
 *   -> TABLE (customer_id, the summary's RFM columns, r/f/m scores, cell, FM and RFM scores, segment, action)
 * rfm_analyze(source, customer_column, time_column, amount_column, as_of, bins, rule_set, granularity, unit,
 *             zone) -> the same, over the summaries of an orders table
 *
 * per_customer is a query giving (customer_id text, s customer_summary) with $1 as_of, $2 granularity and
 * $3 unit (rfm_summaries_query, rfm_state_summaries_query).  Its rows go to a tuplestore (spilling past
 * work_mem); a first pass over them collects the scored values, exact breakpoints come from score_math.c,
 * and a second pass writes the result rows with scores, cell and segment computed here: what
 * rfm_analyze did before in SQL, a materialized CTE and numeric arithmetic per customer, at a fraction of
 * the cost.  Definitions are those of score_breakpoints, score, rfm_cell, fm_score, rfm_weighted_score
 * (weights 1) and rfm_segment_map: a summary that is NULL or NULL in every field is left out; customers
 * with no purchase (refunds only) are listed without scores; breakpoints are taken over the customers
 * with a purchase.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "cs_util.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "rfm.h"
#include "score_math.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

/* Result columns: customer_id, then SUMMARY_COLUMNS fields of the summary, then the scores. */
#define SUMMARY_COLUMNS 15
#define COL_R_SCORE (1 + SUMMARY_COLUMNS)
#define RESULT_COLUMNS (COL_R_SCORE + 8)
#define RULE_CELLS 125			/* the rules' 5 x 5 x 5 cells */

/* The summary fields scored, as positions among the result columns. */
#define COL_ORDERS 3
#define COL_RECENCY_DAYS 6
#define COL_MONETARY_TOTAL 10

/* The scored columns, in R, F, M order. */
static const int scored_cols[3] = {COL_RECENCY_DAYS, COL_ORDERS, COL_MONETARY_TOTAL};

/* Where the per-customer rows go: a tuplestore, their row type checked and kept. */
typedef struct SummaryReceiver
{
	DestReceiver pub;
	Tuplestorestate *store;
	MemoryContext ctx;
	TupleDesc	desc;
} SummaryReceiver;

static void
summary_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	SummaryReceiver *r = (SummaryReceiver *) self;
	MemoryContext old;

	if (typeinfo->natts != 2 || TupleDescAttr(typeinfo, 0)->atttypid != TEXTOID ||
		!type_is_rowtype(TupleDescAttr(typeinfo, 1)->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("rfm_scored: per_customer must give (customer_id text, s customer_summary)")));
	old = MemoryContextSwitchTo(r->ctx);
	r->desc = CreateTupleDescCopy(typeinfo);
	MemoryContextSwitchTo(old);
}

static bool
summary_receive(TupleTableSlot *slot, DestReceiver *self)
{
	tuplestore_puttupleslot(((SummaryReceiver *) self)->store, slot);
	return true;
}

static void
summary_shutdown(DestReceiver *self)
{
}

static void
summary_destroy(DestReceiver *self)
{
}

/* The positions in the summary's row type of the result's summary columns, their names and types checked. */
static void
map_summary_fields(TupleDesc summary, TupleDesc result, int *field)
{
	for (int c = 1; c <= SUMMARY_COLUMNS; c++)
	{
		Form_pg_attribute want = TupleDescAttr(result, c);

		field[c] = -1;
		for (int i = 0; i < summary->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(summary, i);

			if (!a->attisdropped && strcmp(NameStr(a->attname), NameStr(want->attname)) == 0 &&
				a->atttypid == want->atttypid)
				field[c] = i;
		}
		if (field[c] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("rfm_scored: the summary has no field %s of type %s", NameStr(want->attname),
							format_type_be(want->atttypid))));
	}
}

/*
 * The next per-customer row: its id and summary fields in values/nulls at the result's positions; false at
 * the end.  A NULL summary, or one NULL in every field, is skipped.
 */
static bool
next_summary(Tuplestorestate *store, TupleTableSlot *slot, TupleDesc *summary_desc, MemoryContext keep,
			 TupleDesc result, int *field, Datum *fv, bool *fn, Datum *values, bool *nulls)
{
	for (;;)
	{
		HeapTupleHeader th;
		HeapTupleData tuple;
		bool		any = false;

		if (!tuplestore_gettupleslot(store, true, false, slot))
			return false;
		slot_getallattrs(slot);
		if (slot->tts_isnull[1])
			continue;
		th = DatumGetHeapTupleHeader(slot->tts_values[1]);
		if (*summary_desc == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(keep);

			*summary_desc = lookup_rowtype_tupdesc_copy(HeapTupleHeaderGetTypeId(th), HeapTupleHeaderGetTypMod(th));
			MemoryContextSwitchTo(old);
			map_summary_fields(*summary_desc, result, field);
		}
		tuple.t_len = HeapTupleHeaderGetDatumLength(th);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = th;
		heap_deform_tuple(&tuple, *summary_desc, fv, fn);
		for (int i = 0; i < (*summary_desc)->natts && !any; i++)
			any = !fn[i];
		if (!any)
			continue;
		values[0] = slot->tts_values[0];
		nulls[0] = slot->tts_isnull[0];
		for (int c = 1; c <= SUMMARY_COLUMNS; c++)
		{
			values[c] = fv[field[c]];
			nulls[c] = fn[field[c]];
		}
		return true;
	}
}

/* The value scored in column col (recency_days, orders or monetary_total) as float8. */
static double
scored_value(int col, Datum v)
{
	switch (col)
	{
		case COL_RECENCY_DAYS:
			return (double) DatumGetInt32(v);
		case COL_ORDERS:
			return (double) DatumGetInt64(v);
		default:
			return DatumGetFloat8(v);
	}
}

/* The rules' 125 cells of rule_set, segment and action, in r, f, m order, copied into ctx. */
static void
load_segment_map(text *rule_set, MemoryContext ctx, Datum *segments, bool *segment_null, Datum *actions,
				 bool *action_null)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(rule_set)};
	int			rc;

	rc = SPI_execute_with_args("SELECT segment, action FROM customer_segment.rfm_segment_map(5, $1) ORDER BY r, f, m",
							   1, types, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != RULE_CELLS)
		elog(ERROR, "rfm_scored: rfm_segment_map gave " UINT64_FORMAT " cells, not %d", SPI_processed, RULE_CELLS);
	for (int i = 0; i < RULE_CELLS; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		Datum		s = SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &segment_null[i]);
		Datum		a = SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &action_null[i]);
		MemoryContext old = MemoryContextSwitchTo(ctx);

		segments[i] = segment_null[i] ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(s));
		actions[i] = action_null[i] ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(a));
		MemoryContextSwitchTo(old);
	}
}

/* Runs per_customer with $1 as_of, $2 granularity, $3 unit, its rows into store; returns their row type. */
static TupleDesc
run_per_customer(const char *query, const Datum *knobs, Tuplestorestate *store, MemoryContext ctx)
{
	SummaryReceiver receiver = {{summary_receive, summary_startup, summary_shutdown, summary_destroy, DestNone},
	store, ctx, NULL};
	ParamListInfo params = makeParamList(3);
	Oid			types[3] = {DATEOID, TEXTOID, TEXTOID};
	SPIExecuteOptions options;
	int			rc;

	for (int i = 0; i < 3; i++)
	{
		params->params[i].value = knobs[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	params->numParams = 3;
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = &receiver.pub;
	rc = SPI_execute_extended(query, &options);
	if (rc < 0)
		elog(ERROR, "rfm_scored: per_customer failed: %s", SPI_result_code_string(rc));
	if (receiver.desc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("rfm_scored: per_customer must be one query giving (customer_id text, s customer_summary)")));
	return receiver.desc;
}

/* Fills the score columns of one row, its summary columns in place. */
static void
score_row(Datum *values, bool *nulls, double breaks[3][SCORE_MAX_BINS], const int64 *counts, int bins,
		  const Datum *segments, const bool *segment_null, const Datum *actions, const bool *action_null)
{
	static const bool higher_is_better[3] = {false, true, true};
	int			scores[3];
	bool		all = true;

	for (int k = 0; k < 3; k++)
	{
		int			c = scored_cols[k];
		bool		scored = !nulls[COL_ORDERS] && DatumGetInt64(values[COL_ORDERS]) > 0 && !nulls[c] && counts[k] > 0;

		nulls[COL_R_SCORE + k] = !scored;
		if (scored)
		{
			/* finite: the first pass checked every value it collected */
			scores[k] = score_of(scored_value(c, values[c]), breaks[k], bins - 1, higher_is_better[k]);
			values[COL_R_SCORE + k] = Int32GetDatum(scores[k]);
		}
		all = all && scored;
	}
	for (int c = COL_R_SCORE + 3; c < RESULT_COLUMNS; c++)
		nulls[c] = !all;
	/* as the SQL functions, STRICT: the FM score needs F and M, the others all three */
	nulls[COL_R_SCORE + 4] = nulls[COL_R_SCORE + 1] || nulls[COL_R_SCORE + 2];
	if (!nulls[COL_R_SCORE + 4])
		values[COL_R_SCORE + 4] = Float8GetDatum((scores[1] + scores[2]) / 2.0);
	if (all)
	{
		char		cell[SCORE_CELL_LEN];
		int			len = score_cell_label(scores[0], scores[1], scores[2], cell);
		const double ones[3] = {1, 1, 1};
		int			i = (score_rescale5(scores[0], bins) - 1) * 25 + (score_rescale5(scores[1], bins) - 1) * 5
			+ score_rescale5(scores[2], bins) - 1;

		values[COL_R_SCORE + 3] = PointerGetDatum(cstring_to_text_with_len(cell, len));
		values[COL_R_SCORE + 5] = Float8GetDatum(score_weighted_mean(scores, ones));
		values[COL_R_SCORE + 6] = segments[i];
		nulls[COL_R_SCORE + 6] = segment_null[i];
		values[COL_R_SCORE + 7] = actions[i];
		nulls[COL_R_SCORE + 7] = action_null[i];
	}
}

/* Reads the per-customer rows back, one at a time, each in a fresh row context. */
typedef struct SummaryReader
{
	Tuplestorestate *store;
	TupleTableSlot *slot;
	MemoryContext row_ctx;		/* reset before each row */
	MemoryContext keep;			/* where the summary's row type is kept */
	TupleDesc	summary_desc;
	TupleDesc	result;
	int			field[1 + SUMMARY_COLUMNS];
	Datum	   *fv;
	bool	   *fn;
	int64		row;
} SummaryReader;

static bool
read_summary(SummaryReader *r, Datum *values, bool *nulls)
{
	MemoryContext old;
	bool		found;

	if ((r->row++ & 4095) == 0)
		CHECK_FOR_INTERRUPTS();
	/* a tuple read back from disk lies in row_ctx: the slot lets go of it first */
	ExecClearTuple(r->slot);
	MemoryContextReset(r->row_ctx);
	old = MemoryContextSwitchTo(r->row_ctx);
	found = next_summary(r->store, r->slot, &r->summary_desc, r->keep, r->result, r->field, r->fv, r->fn, values, nulls);
	MemoryContextSwitchTo(old);
	return found;
}

/*
 * The result rows of the per-customer query, scored: SPI is connected; knobs are as_of, granularity and unit
 * (not NULL), the query's $1..$3.
 */
static void
scored_rows(FunctionCallInfo fcinfo, const char *query, const Datum *knobs, int32 bins, text *rule_set)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext per_query;
	MemoryContext old;
	TupleDesc	result;
	TupleDesc	input_desc;
	Tuplestorestate *input;
	Tuplestorestate *output;
	SummaryReader reader;
	Datum		segments[RULE_CELLS],
				actions[RULE_CELLS];
	bool		segment_null[RULE_CELLS],
				action_null[RULE_CELLS];
	double	   *collected[3];
	double		breaks[3][SCORE_MAX_BINS];
	int64		counts[3] = {0, 0, 0};
	int64		cap = 1024;
	Datum		values[RESULT_COLUMNS];
	bool		nulls[RESULT_COLUMNS];

	score_check_bins(bins);
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the RFM analysis must be called in FROM, as a set of rows")));
	if (get_call_result_type(fcinfo, NULL, &result) != TYPEFUNC_COMPOSITE || result->natts != RESULT_COLUMNS)
		elog(ERROR, "the RFM analysis: the declared result is not %d columns", RESULT_COLUMNS);

	per_query = rsinfo->econtext->ecxt_per_query_memory;
	old = MemoryContextSwitchTo(per_query);
	input = tuplestore_begin_heap(false, false, work_mem);
	output = tuplestore_begin_heap(false, false, work_mem);
	result = CreateTupleDescCopy(result);
	MemoryContextSwitchTo(old);
	for (int k = 0; k < 3; k++)
		collected[k] = palloc(sizeof(double) * cap);

	load_segment_map(rule_set, per_query, segments, segment_null, actions, action_null);
	input_desc = run_per_customer(query, knobs, input, per_query);

	reader.store = input;
	reader.slot = MakeSingleTupleTableSlot(input_desc, &TTSOpsMinimalTuple);
	reader.row_ctx = AllocSetContextCreate(CurrentMemoryContext, "rfm_scored row", ALLOCSET_SMALL_SIZES);
	reader.keep = per_query;
	reader.summary_desc = NULL;
	reader.result = result;
	reader.fv = palloc(sizeof(Datum) * MaxTupleAttributeNumber);
	reader.fn = palloc(sizeof(bool) * MaxTupleAttributeNumber);
	reader.row = 0;

	/* First pass: the values the breakpoints are taken over, of the customers with a purchase. */
	while (read_summary(&reader, values, nulls))
	{
		if (nulls[COL_ORDERS] || DatumGetInt64(values[COL_ORDERS]) <= 0)
			continue;
		for (int k = 0; k < 3; k++)
		{
			double		v;

			if (nulls[scored_cols[k]])
				continue;
			v = scored_value(scored_cols[k], values[scored_cols[k]]);
			cs_check_finite(v, "score_breakpoints value");
			if (counts[k] == cap)
			{
				for (int j = 0; j < 3; j++)
					collected[j] = repalloc_huge(collected[j], sizeof(double) * cap * 2);
				cap *= 2;
			}
			collected[k][counts[k]++] = v;
		}
	}
	for (int k = 0; k < 3; k++)
		if (counts[k] > 0)
			score_breakpoints(collected[k], counts[k], bins, breaks[k]);

	/* Second pass: the result rows. */
	tuplestore_rescan(input);
	while (read_summary(&reader, values, nulls))
	{
		old = MemoryContextSwitchTo(reader.row_ctx);
		score_row(values, nulls, breaks, counts, bins, segments, segment_null, actions, action_null);
		tuplestore_putvalues(output, result, values, nulls);
		MemoryContextSwitchTo(old);
	}
	ExecDropSingleTupleTableSlot(reader.slot);
	tuplestore_end(input);
	MemoryContextDelete(reader.row_ctx);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = output;
	rsinfo->setDesc = result;
}

/* rfm_scored(per_customer, as_of, granularity, unit, bins, rule_set) */
PG_FUNCTION_INFO_V1(rfm_scored);
Datum
rfm_scored(PG_FUNCTION_ARGS)
{
	Datum		knobs[3];

	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("rfm_scored arguments must not be NULL")));
	for (int i = 0; i < 3; i++)
		knobs[i] = PG_GETARG_DATUM(i + 1);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "rfm_scored: SPI_connect failed");
	scored_rows(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)), knobs, PG_GETARG_INT32(4), PG_GETARG_TEXT_PP(5));
	SPI_finish();
	PG_RETURN_NULL();
}

/*
 * rfm_analyze(source, customer_column, time_column, amount_column, as_of, bins, rule_set, granularity, unit,
 * zone): the arguments checked and the per-customer query built in SQL (check_rfm_arguments,
 * rfm_summaries_query), the rows scored here; being C, the result is materialised once, not again by a
 * PL/pgSQL RETURN QUERY.
 */
PG_FUNCTION_INFO_V1(rfm_analyze);
Datum
rfm_analyze(PG_FUNCTION_ARGS)
{
	Oid			types[10] = {REGCLASSOID, NAMEOID, NAMEOID, NAMEOID, DATEOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[10];
	char		nulls[10];
	Datum		knobs[3];
	bool		isnull;
	int			rc;
	char	   *query;

	for (int i = 0; i < 10; i++)
	{
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "rfm_analyze: SPI_connect failed");
	rc = SPI_execute_with_args("SELECT customer_segment.rfm_summaries_query($1, $2, $3, $4, $10) "
							   "FROM customer_segment.check_rfm_arguments($5, $6, $7, $8, $9)",
							   10, types, args, nulls, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "rfm_analyze: building the query failed: %s", SPI_result_code_string(rc));
	args[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "rfm_analyze: rfm_summaries_query gave no query");
	query = TextDatumGetCString(args[0]);
	knobs[0] = args[4];
	knobs[1] = args[7];
	knobs[2] = args[8];
	scored_rows(fcinfo, query, knobs, DatumGetInt32(args[5]), DatumGetTextPP(args[6]));
	SPI_finish();
	PG_RETURN_NULL();
}
