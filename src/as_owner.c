/*
 * as_owner.c: run a query as the role that owns what it touches, inside a security-restricted operation.
 *
 * PostgreSQL's own maintenance commands run code a table's owner controls (index expressions, view bodies,
 * triggers) as that owner: ExecRefreshMatView, vacuum_rel and index builds call
 * SetUserIdAndSecContext(owner, SECURITY_RESTRICTED_OPERATION), make GUC changes local to the command and,
 * since 17, pin search_path.  A refresh, a report or a scheduled job of a registered source does the same
 * here, so whoever calls it (a superuser, a pg_cron job) never runs the source owner's code with its own
 * rights, and the owner's code never sees more than the owner may.
 *
 * run_as_owner only ever drops rights: the caller must already have the privileges of the role it switches
 * to (the source owner, a role it belongs to, or any role for a superuser).  registry_write is the
 * extension's one door the other way, to its own tables, with its statement fixed.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(run_as_owner);
PG_FUNCTION_INFO_V1(registry_write);

/*
 * The first column of the first row a query returns (NULL when none), the query run with its parameters as
 * role in a security-restricted operation with search_path = pg_catalog, pg_temp, every setting it changes
 * undone at its end.  An error is undone by the (sub)transaction's abort, as for PostgreSQL's own commands.
 */
static text *
first_value_as(Oid role, const char *query, int nargs, Oid *types, Datum *values, const char *nulls)
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	int			rc;
	text	   *result = NULL;
	MemoryContext caller_context = CurrentMemoryContext;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(role, save_sec_context | SECURITY_RESTRICTED_OPERATION |
						   SECURITY_LOCAL_USERID_CHANGE);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(query, nargs, types, values, nulls, false, 1);
	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0 && SPI_tuptable != NULL && SPI_tuptable->tupdesc->natts > 0)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
		{
			MemoryContext spi_context = MemoryContextSwitchTo(caller_context);

			result = cstring_to_text(value);
			MemoryContextSwitchTo(spi_context);
		}
	}
	SPI_finish();

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return result;
}

/*
 * run_as_owner(role regrole, query text) RETURNS text: first_value_as(role, query); the caller must have the
 * role's privileges.
 */
Datum
run_as_owner(PG_FUNCTION_ARGS)
{
	Oid			owner;
	text	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role and query of run_as_owner must not be NULL")));
	owner = PG_GETARG_OID(0);
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", owner)));
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to act as role \"%s\"", GetUserNameFromId(owner, false)),
				 errdetail("Only roles that have the privileges of the owner can run its work.")));

	result = first_value_as(owner, text_to_cstring(PG_GETARG_TEXT_PP(1)), 0, NULL, NULL, NULL);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

/*
 * registry_write(op text, source text, detail jsonb) RETURNS text: the one way users write the extension's
 * registry (sources, source_relations, source_increments, segment_history, refresh_log), on which they hold
 * no INSERT or DELETE.  It runs one fixed statement, customer_segment.registry_apply(caller, op, source,
 * detail), as the owner of this function (the extension's owner) in a security-restricted operation.  Unlike
 * SECURITY DEFINER, which forgets who called, it hands the writer the calling role (the current user, also
 * inside another security-restricted operation), and the writer checks that role's rights on the source.
 */
Datum
registry_write(PG_FUNCTION_ARGS)
{
	Oid			types[4] = {REGROLEOID, TEXTOID, TEXTOID, JSONBOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	HeapTuple	proc;
	Oid			writer;
	text	   *result;

	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(proc))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	writer = ((Form_pg_proc) GETSTRUCT(proc))->proowner;
	ReleaseSysCache(proc);

	values[0] = ObjectIdGetDatum(GetUserId());
	for (int i = 0; i < 3; i++)
	{
		values[i + 1] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	result = first_value_as(writer, "SELECT customer_segment.registry_apply($1, $2, $3, $4)",
							4, types, values, nulls);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}
