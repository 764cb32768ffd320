/*
 * state.c: aggregate states of variable size as SQL values (see state.h).
 *
 * Why expanded objects: the executor keeps a pass-by-reference transition
 * value where it is as long as the transition function returns the same
 * pointer, and takes over without a copy a read-write expanded object whose
 * memory context is a child of the aggregate's context.  So a state of any
 * shape (arrays that grow, sorted rows) is changed in place, as an internal
 * state is, and is flattened only when it leaves the process.  Each state
 * has its own memory context: these kinds of state are made once per group
 * of few groups (a fit, a curve, breakpoints), never once per customer.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "cs_util.h"
#include "libpq/pqformat.h"
#include "state.h"
#include "utils/memutils.h"

struct CsExpandedState
{
	ExpandedObjectHeader hdr;
	const CsStateKind *kind;
	void	   *state;
};

#define STATE_HEADER (VARHDRSZ + sizeof(uint32))

static Size
state_flat_size(ExpandedObjectHeader *eohptr)
{
	CsExpandedState *e = (CsExpandedState *) eohptr;
	Size		size = STATE_HEADER + e->kind->size(e->state);

	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s state of %zu bytes is too large to leave the aggregate", e->kind->name, size),
				 errhint("Aggregate fewer rows per group, or run the query without parallel workers.")));
	return size;
}

static void
state_flatten(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	CsExpandedState *e = (CsExpandedState *) eohptr;
	char	   *p = (char *) result;

	SET_VARSIZE(p, allocated_size);
	memcpy(p + VARHDRSZ, &e->kind->mark, sizeof(uint32));
	e->kind->flatten(e->state, p + STATE_HEADER);
}

static const ExpandedObjectMethods state_methods = {state_flat_size, state_flatten};

/* Our expanded object of this kind behind d, or NULL. */
static CsExpandedState *
state_object(Datum d, const CsStateKind *kind)
{
	ExpandedObjectHeader *eoh;

	if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
		return NULL;
	eoh = DatumGetEOHP(d);
	if (eoh->eoh_methods != &state_methods || ((CsExpandedState *) eoh)->kind != kind)
		return NULL;
	return (CsExpandedState *) eoh;
}

/* The state of a flat value, allocated in ctx; errors name what is wrong. */
static void *
state_from_flat(Datum d, const CsStateKind *kind, MemoryContext ctx)
{
	struct varlena *v = PG_DETOAST_DATUM(d);
	const char *p = VARDATA_ANY(v);
	Size		len = VARSIZE_ANY_EXHDR(v);
	uint32		mark;
	void	   *state = NULL;

	if (len >= sizeof(uint32))
	{
		memcpy(&mark, p, sizeof(uint32));
		if (mark == kind->mark)
			state = kind->expand(p + sizeof(uint32), len - sizeof(uint32), ctx);
	}
	if (state == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed %s state", kind->name),
				 errdetail("The value was not made by this version of customer_segment's %s.", kind->name)));
	return state;
}

bool
cs_state_is_internal(FunctionCallInfo fcinfo, int argno)
{
	return cs_arg_type(fcinfo, argno) == INTERNALOID;
}

void
cs_state_start(FunctionCallInfo fcinfo, CsStateRef *ref, const CsStateKind *kind)
{
	MemoryContext aggctx = cs_agg_context(fcinfo, kind->name);

	ref->state = NULL;
	ref->eoh = NULL;
	if (cs_state_is_internal(fcinfo, 0))
	{
		ref->ctx = aggctx;
		return;
	}
	ref->ctx = AllocSetContextCreate(aggctx, "customer_segment aggregate state", ALLOCSET_DEFAULT_SIZES);
	ref->eoh = MemoryContextAlloc(ref->ctx, sizeof(CsExpandedState));
	EOH_init_header(&ref->eoh->hdr, &state_methods, ref->ctx);
	ref->eoh->kind = kind;
	ref->eoh->state = NULL;
}

CsStateRef
cs_state_arg0(FunctionCallInfo fcinfo, const CsStateKind *kind, const char *fname)
{
	MemoryContext aggctx = cs_agg_context(fcinfo, fname);
	CsStateRef	ref = {NULL, aggctx, NULL};
	Datum		d;

	if (PG_ARGISNULL(0))
		return ref;
	d = PG_GETARG_DATUM(0);
	if (cs_state_is_internal(fcinfo, 0))
	{
		ref.state = DatumGetPointer(d);
		return ref;
	}
	ref.eoh = state_object(d, kind);
	if (ref.eoh != NULL && VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
	{
		ref.state = ref.eoh->state;
		ref.ctx = ref.eoh->hdr.eoh_context;
		return ref;
	}
	/* Not ours to change (a flat value, or read-only): work on a copy. */
	cs_state_start(fcinfo, &ref, kind);
	if (state_object(d, kind) != NULL)
		d = PointerGetDatum(PG_DETOAST_DATUM(d));	/* flattens it */
	ref.state = state_from_flat(d, kind, ref.ctx);
	return ref;
}

Datum
cs_state_datum(FunctionCallInfo fcinfo, CsStateRef *ref)
{
	if (ref->state == NULL)
		PG_RETURN_NULL();
	if (ref->eoh == NULL)
		return PointerGetDatum(ref->state);
	ref->eoh->state = ref->state;
	return EOHPGetRWDatum(&ref->eoh->hdr);
}

void *
cs_state_read(FunctionCallInfo fcinfo, int argno, const CsStateKind *kind)
{
	CsExpandedState *e;

	if (PG_ARGISNULL(argno))
		return NULL;
	if (cs_state_is_internal(fcinfo, argno))
		return PG_GETARG_POINTER(argno);
	e = state_object(PG_GETARG_DATUM(argno), kind);
	if (e != NULL)
		return e->state;
	return state_from_flat(PG_GETARG_DATUM(argno), kind, CurrentMemoryContext);
}

void *
cs_flat_state_arg0(FunctionCallInfo fcinfo, const CsStateKind *kind, const char *fname, Size size, bool *fresh,
				   Datum *value)
{
	MemoryContext aggctx = cs_agg_context(fcinfo, fname);
	bool		internal = cs_state_is_internal(fcinfo, 0);
	char	   *v;
	uint32		mark;

	*fresh = PG_ARGISNULL(0);
	if (*fresh)
	{
		/* The executor copies a new value of the state type into the aggregate's context itself. */
		v = internal ? MemoryContextAllocZero(aggctx, size) : palloc0(STATE_HEADER + size);
		*value = PointerGetDatum(v);
		if (internal)
			return v;
		SET_VARSIZE(v, STATE_HEADER + size);
		memcpy(v + VARHDRSZ, &kind->mark, sizeof(uint32));
		return v + STATE_HEADER;
	}
	*value = PG_GETARG_DATUM(0);
	v = DatumGetPointer(*value);
	if (internal)
		return v;
	/* Ours: made above and copied by the executor, so a plain aligned value */
	if (!VARATT_IS_4B_U(v) || VARSIZE(v) != STATE_HEADER + size
		|| (memcpy(&mark, v + VARHDRSZ, sizeof(uint32)), mark != kind->mark))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed %s state", kind->name)));
	return v + STATE_HEADER;
}

/* A flat value checked by expanding it (the expanded copy is dropped). */
static Datum
checked_flat(struct varlena *v, const CsStateKind *kind)
{
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "customer_segment state check", ALLOCSET_DEFAULT_SIZES);

	state_from_flat(PointerGetDatum(v), kind, tmp);
	MemoryContextDelete(tmp);
	PG_RETURN_POINTER(v);
}

struct varlena *
cs_state_from_text(const char *text, const char *what)
{
	int			len = (int) strlen(text);
	int			max = pg_b64_dec_len(len);
	struct varlena *v = palloc(VARHDRSZ + max);
	int			n = pg_b64_decode(text, len, (void *) VARDATA(v), max);	/* char * before 18, uint8 * since */

	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for %s", what),
				 errdetail("The text form of a state is base64.")));
	SET_VARSIZE(v, VARHDRSZ + n);
	return v;
}

char *
cs_state_to_text(struct varlena *v)
{
	int			len = (int) VARSIZE_ANY_EXHDR(v);
	int			max = pg_b64_enc_len(len) + 1;
	char	   *out = palloc(max);
	int			n = pg_b64_encode((const void *) VARDATA_ANY(v), len, out, max);

	if (n < 0)
		elog(ERROR, "could not encode an aggregate state");
	out[n] = '\0';
	return out;
}

struct varlena *
cs_state_from_message(StringInfo buf)
{
	int			len = buf->len - buf->cursor;
	struct varlena *v = palloc(VARHDRSZ + len);

	SET_VARSIZE(v, VARHDRSZ + len);
	pq_copymsgbytes(buf, VARDATA(v), len);
	return v;
}

bytea *
cs_state_to_message(struct varlena *v)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(v), (int) VARSIZE_ANY_EXHDR(v));
	return pq_endtypsend(&buf);
}

Datum
cs_state_in(FunctionCallInfo fcinfo, const CsStateKind *kind)
{
	return checked_flat(cs_state_from_text(PG_GETARG_CSTRING(0), psprintf("a %s state", kind->name)), kind);
}

Datum
cs_state_out(FunctionCallInfo fcinfo, const CsStateKind *kind)
{
	PG_RETURN_CSTRING(cs_state_to_text(PG_DETOAST_DATUM(PG_GETARG_DATUM(0))));
}

Datum
cs_state_recv(FunctionCallInfo fcinfo, const CsStateKind *kind)
{
	return checked_flat(cs_state_from_message((StringInfo) PG_GETARG_POINTER(0)), kind);
}

Datum
cs_state_send(FunctionCallInfo fcinfo, const CsStateKind *kind)
{
	PG_RETURN_BYTEA_P(cs_state_to_message(PG_DETOAST_DATUM(PG_GETARG_DATUM(0))));
}

Datum
cs_state_serialize(FunctionCallInfo fcinfo, const CsStateKind *kind)
{
	void	   *state;
	Size		size;
	bytea	   *out;

	cs_agg_context(fcinfo, kind->name);
	state = PG_GETARG_POINTER(0);
	size = STATE_HEADER + kind->size(state);
	out = (bytea *) palloc_extended(size, MCXT_ALLOC_HUGE);
	SET_VARSIZE(out, size);
	memcpy(VARDATA(out), &kind->mark, sizeof(uint32));
	kind->flatten(state, VARDATA(out) + sizeof(uint32));
	PG_RETURN_BYTEA_P(out);
}

Datum
cs_state_deserialize(FunctionCallInfo fcinfo, const CsStateKind *kind)
{
	MemoryContext aggctx = cs_agg_context(fcinfo, kind->name);

	PG_RETURN_POINTER(state_from_flat(PG_GETARG_DATUM(0), kind, aggctx));
}
