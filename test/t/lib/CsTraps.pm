# A hostile key type for the security tests: in $schema (owned by $role), the composite type $schema.ct with
# a cast to text, an equality and an ordering operator, and default hash and btree operator classes whose
# functions call $schema.trap(), which records whose rights it ran with in $schema.ran and makes $role a
# superuser when they are a superuser's.  Operator classes need a superuser: they stand for any that another
# role wrote.  Also $schema.o (orders keyed by ct: 40 customers over 2025) and $schema.snap (ct, enum, value).
# Tables keyed by ct are made without autovacuum: its ANALYZE runs the owner's operators as the owner (as
# PostgreSQL means it to), which the tests would see as her code running during a superuser's call.
package CsTraps;
use strict;
use warnings;
use Exporter 'import';
use CsTest;

our @EXPORT = qw(arm_key_traps);

sub arm_key_traps {
    my ($db, $schema, $role, $rows) = @_;
    my $sql = q{
        SET client_min_messages = warning;
        CREATE SCHEMA S AUTHORIZATION R;
        SET ROLE R;
        CREATE TABLE S.ran (who name);
        CREATE FUNCTION S.trap() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO S.ran VALUES (current_user);
            IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
                EXECUTE 'ALTER ROLE R SUPERUSER';
            END IF;
        END$$;
        CREATE TYPE S.ct AS (v int);
        CREATE FUNCTION S.to_text(S.ct) RETURNS text LANGUAGE plpgsql AS $$BEGIN PERFORM S.trap(); RETURN ($1).v::text; END$$;
        CREATE CAST (S.ct AS text) WITH FUNCTION S.to_text(S.ct);
        CREATE FUNCTION S.eq(S.ct, S.ct) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM S.trap(); RETURN ($1).v = ($2).v; END$$;
        CREATE FUNCTION S.lt(S.ct, S.ct) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM S.trap(); RETURN ($1).v < ($2).v; END$$;
        CREATE FUNCTION S.cmp(S.ct, S.ct) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM S.trap(); RETURN sign(($1).v - ($2).v); END$$;
        CREATE FUNCTION S.hash(S.ct) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM S.trap(); RETURN ($1).v; END$$;
        CREATE OPERATOR S.= (LEFTARG = S.ct, RIGHTARG = S.ct, FUNCTION = S.eq, HASHES, MERGES);
        CREATE OPERATOR S.< (LEFTARG = S.ct, RIGHTARG = S.ct, FUNCTION = S.lt);
        CREATE TYPE S.tier AS ENUM ('bronze', 'gold');
        CREATE TABLE S.o (customer_id S.ct, d date, amount numeric) WITH (autovacuum_enabled = false);
        INSERT INTO S.o SELECT ROW(g % 40)::S.ct, DATE '2025-01-01' + (g * 7) % 360, 5 + g % 13 FROM generate_series(1, N) g;
        CREATE TABLE S.snap (customer_id S.ct, tier S.tier, value numeric) WITH (autovacuum_enabled = false);
        INSERT INTO S.snap SELECT ROW(g)::S.ct, CASE WHEN g % 3 = 0 THEN 'gold' ELSE 'bronze' END::S.tier, g FROM generate_series(1, 30) g;
        RESET ROLE;
        CREATE OPERATOR CLASS S.ct_hash DEFAULT FOR TYPE S.ct USING hash AS OPERATOR 1 S.=, FUNCTION 1 S.hash(S.ct);
        CREATE OPERATOR CLASS S.ct_btree DEFAULT FOR TYPE S.ct USING btree AS OPERATOR 1 S.<, OPERATOR 3 S.=, FUNCTION 1 S.cmp(S.ct, S.ct);
    };
    $sql =~ s/\bS\./$schema./g;
    $sql =~ s/SCHEMA S /SCHEMA $schema /;
    $sql =~ s/\bR\b/$role/g;
    $sql =~ s/\bN\b/$rows/;
    psql($db, $sql);
}

1;
