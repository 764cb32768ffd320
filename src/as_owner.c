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
 * Switching only ever drops rights: the caller must already have the privileges of the role it switches
 * to (the source owner, a role it belongs to, or any role for a superuser).
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(run_as_owner);

/*
 * run_as_owner(role regrole, query text) RETURNS text: the first column of the first row the query returns
 * (NULL when none), the query run as role in a security-restricted operation with
 * search_path = pg_catalog, pg_temp and every setting it changes undone at its end.
 */
Datum
run_as_owner(PG_FUNCTION_ARGS)
{
	Oid			owner;
	char	   *query;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	int			rc;
	text	   *result = NULL;
	MemoryContext caller_context = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role and query of run_as_owner must not be NULL")));
	owner = PG_GETARG_OID(0);
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", owner)));
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to act as role \"%s\"", GetUserNameFromId(owner, false)),
				 errdetail("Only roles that have the privileges of the owner can run its work.")));

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION |
						   SECURITY_LOCAL_USERID_CHANGE);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute(query, false, 1);
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
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

	/* An error above is undone by the (sub)transaction's abort, as for PostgreSQL's own commands. */
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}
