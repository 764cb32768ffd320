/*
 * quadrant.c: value/need quadrants and the value grid: a customer is High on
 * an axis when its value is on or above the axis's cut.
 */
#include "postgres.h"

#include "cs_util.h"
#include "utils/builtins.h"

static bool
is_high(double v, double cut, const char *what)
{
	cs_check_finite(v, what);
	return v >= cut;
}

/* quadrant(x, y, x_cut, y_cut, x_name, y_name): 'High value / Low need'; a value on the cut is High. */
PG_FUNCTION_INFO_V1(quadrant_sql);
Datum
quadrant_sql(PG_FUNCTION_ARGS)
{
	double		x_cut = PG_GETARG_FLOAT8(2);
	double		y_cut = PG_GETARG_FLOAT8(3);
	bool		x_high,
				y_high;

	cs_check_finite(x_cut, "x_cut");
	cs_check_finite(y_cut, "y_cut");
	x_high = is_high(PG_GETARG_FLOAT8(0), x_cut, "x");
	y_high = is_high(PG_GETARG_FLOAT8(1), y_cut, "y");
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s %s / %s %s",
											  x_high ? "High" : "Low", text_to_cstring(PG_GETARG_TEXT_PP(4)),
											  y_high ? "High" : "Low", text_to_cstring(PG_GETARG_TEXT_PP(5)))));
}

/* value_grid_cell(value, engagement, potential, cuts...): 'HLH' = High value, Low engagement, High potential. */
PG_FUNCTION_INFO_V1(value_grid_cell_sql);
Datum
value_grid_cell_sql(PG_FUNCTION_ARGS)
{
	const char *what[3] = {"value", "engagement", "potential"};
	char		cell[4];

	for (int i = 0; i < 3; i++)
	{
		double		cut = PG_GETARG_FLOAT8(i + 3);

		cs_check_finite(cut, "cut");
		cell[i] = is_high(PG_GETARG_FLOAT8(i), cut, what[i]) ? 'H' : 'L';
	}
	cell[3] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(cell));
}
