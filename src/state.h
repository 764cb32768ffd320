/*
 * state.h: aggregate states of variable size as SQL values (see state.c).
 *
 * A state type is a varlena: a four-byte mark naming the kind of state, then
 * the bytes the kind's flatten writes.  While an aggregate runs, the state is
 * an expanded object holding the kind's C struct, so the transition function
 * changes it in place; PostgreSQL flattens it when it must (parallel workers,
 * Citus between nodes, a table).  Releases before 1.5 declared these states
 * internal: the same C functions still serve those definitions.
 */
#ifndef CS_STATE_H
#define CS_STATE_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/expandeddatum.h"

typedef struct CsStateKind
{
	const char *name;			/* the aggregate family, for messages */
	uint32		mark;			/* the value's first four bytes */
	Size		(*size) (void *state);	/* bytes flatten writes (it may tidy the state first) */
	void		(*flatten) (void *state, char *buf);
	/* The state of bytes flatten wrote, allocated in ctx; NULL when they are malformed. */
	void	   *(*expand) (const char *buf, Size len, MemoryContext ctx);
} CsStateKind;

typedef struct CsExpandedState CsExpandedState;

/* The state a transition or combine function changes. */
typedef struct CsStateRef
{
	void	   *state;			/* NULL: no state yet */
	MemoryContext ctx;			/* where the state's memory lives */
	CsExpandedState *eoh;		/* its expanded object; NULL for an internal state */
} CsStateRef;

/* Argument 0 of a transition or combine function, writable; also checks the aggregate context. */
extern CsStateRef cs_state_arg0(FunctionCallInfo fcinfo, const CsStateKind *kind, const char *fname);

/* Sets ref->ctx for a new state, which the caller allocates there and stores in ref->state. */
extern void cs_state_start(FunctionCallInfo fcinfo, CsStateRef *ref, const CsStateKind *kind);

/* What the function returns for ref: SQL NULL when it holds no state. */
extern Datum cs_state_datum(FunctionCallInfo fcinfo, CsStateRef *ref);

/* Whether argument argno is an internal state (a definition of a release before 1.5). */
extern bool cs_state_is_internal(FunctionCallInfo fcinfo, int argno);

/* The state in argument argno, to read only (NULL for an SQL NULL). */
extern void *cs_state_read(FunctionCallInfo fcinfo, int argno, const CsStateKind *kind);

/*
 * A state of fixed size (one per customer, too many for a memory context
 * each) is never expanded: the transition function changes the flat value in
 * place.  Returns the state in argument 0 to change (*fresh: a new, zeroed
 * one) and sets *value to what the function returns.
 */
extern void *cs_flat_state_arg0(FunctionCallInfo fcinfo, const CsStateKind *kind, const char *fname, Size size,
								bool *fresh, Datum *value);

/*
 * The bytes of a state value from its text form (base64; 22P02 naming what
 * otherwise) or from a binary message, and back.  Shared by every state type.
 */
extern struct varlena *cs_state_from_text(const char *text, const char *what);
extern char *cs_state_to_text(struct varlena *v);
extern struct varlena *cs_state_from_message(StringInfo buf);
extern bytea *cs_state_to_message(struct varlena *v);

/* Input, output, receive and send of a state type. */
extern Datum cs_state_in(FunctionCallInfo fcinfo, const CsStateKind *kind);
extern Datum cs_state_out(FunctionCallInfo fcinfo, const CsStateKind *kind);
extern Datum cs_state_recv(FunctionCallInfo fcinfo, const CsStateKind *kind);
extern Datum cs_state_send(FunctionCallInfo fcinfo, const CsStateKind *kind);

/* The serial functions of the internal state of releases before 1.5. */
extern Datum cs_state_serialize(FunctionCallInfo fcinfo, const CsStateKind *kind);
extern Datum cs_state_deserialize(FunctionCallInfo fcinfo, const CsStateKind *kind);

/*
 * The SQL-callable functions of a state type, prefix_state_in, _out, _recv
 * and _send, and the serial functions of its internal state of releases
 * before 1.5, prefix_serialize and prefix_deserialize.
 */
#define CS_STATE_TYPE_FUNCTIONS(prefix, kind) \
	PG_FUNCTION_INFO_V1(prefix##_state_in); \
	Datum prefix##_state_in(PG_FUNCTION_ARGS) { return cs_state_in(fcinfo, &(kind)); } \
	PG_FUNCTION_INFO_V1(prefix##_state_out); \
	Datum prefix##_state_out(PG_FUNCTION_ARGS) { return cs_state_out(fcinfo, &(kind)); } \
	PG_FUNCTION_INFO_V1(prefix##_state_recv); \
	Datum prefix##_state_recv(PG_FUNCTION_ARGS) { return cs_state_recv(fcinfo, &(kind)); } \
	PG_FUNCTION_INFO_V1(prefix##_state_send); \
	Datum prefix##_state_send(PG_FUNCTION_ARGS) { return cs_state_send(fcinfo, &(kind)); } \
	PG_FUNCTION_INFO_V1(prefix##_serialize); \
	Datum prefix##_serialize(PG_FUNCTION_ARGS) { return cs_state_serialize(fcinfo, &(kind)); } \
	PG_FUNCTION_INFO_V1(prefix##_deserialize); \
	Datum prefix##_deserialize(PG_FUNCTION_ARGS) { return cs_state_deserialize(fcinfo, &(kind)); }

#endif
