# src/sql holds every statement of the install script literally: each aggregate, type and function of a
# fresh install is found by grep as "CREATE AGGREGATE customer_segment.<name>(<arguments>" (and CREATE TYPE,
# CREATE [OR REPLACE] FUNCTION / PROCEDURE with the name), none made by a loop or a helper at install time;
# and the sources stay in small files.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "cannot read $f: $!"; local $/; return <$fh>; }
my $root = project_root();
my $src = join '', map { slurp($_) } sort glob("$root/src/sql/*.sql");
my $db = new_database('cs_sql_source');

# Per aggregate name: as many CREATE AGGREGATE statements as signatures installed.
my @aggs = psql_rows($db, q{SELECT p.proname, count(*) FROM pg_proc p
    WHERE p.pronamespace = 'customer_segment'::regnamespace AND p.prokind = 'a' GROUP BY 1 ORDER BY 1;});
my @missing = grep { my $n = () = $src =~ /^CREATE AGGREGATE customer_segment\.\Q$_->[0]\E\(/mg; $n != $_->[1] } @aggs;
my $signatures = 0;
$signatures += $_->[1] for @aggs;
cmp_ok($signatures, '>', 70, "$signatures aggregate signatures installed");
is_deeply([map { $_->[0] } @missing], [], '... each with its own CREATE AGGREGATE statement in src/sql');

my @types = map { $_->[0] } psql_rows($db, q{SELECT t.typname FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
    WHERE t.typnamespace = 'customer_segment'::regnamespace
      AND ((t.typtype = 'b' AND t.typcategory <> 'A') OR (t.typtype = 'c' AND c.relkind = 'c') OR t.typtype IN ('d', 'e'))
    ORDER BY 1;});
is_deeply([grep { $src !~ /CREATE TYPE customer_segment\.\Q$_\E\b/ } @types], [], scalar(@types) . ' types, each with its CREATE TYPE');

my @funcs = map { $_->[0] } psql_rows($db, q{SELECT DISTINCT p.proname FROM pg_proc p
    WHERE p.pronamespace = 'customer_segment'::regnamespace AND p.prokind IN ('f', 'p') ORDER BY 1;});
is_deeply([grep { $src !~ /CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE) customer_segment\.\Q$_\E\(/ } @funcs], [],
          scalar(@funcs) . ' function names, each with its CREATE FUNCTION');
unlike($src, qr/EXECUTE\s+(?:pg_catalog\.)?format\('CREATE (?:AGGREGATE|TYPE|FUNCTION) customer_segment/,
       'no install-time loop creates extension objects');

# Small files by concern: no C or SQL source over 600 lines (the released scripts of src/release aside).
my @long = grep { my $n = () = slurp($_) =~ /\n/g; $n > 600 } sort(glob("$root/src/*.c"), glob("$root/src/*.h"), glob("$root/src/sql/*.sql"));
is_deeply([map { s{^\Q$root/\E}{}r } @long], [], 'no source file in src/ or src/sql/ has over 600 lines');

psql('postgres', "DROP DATABASE $db;");
done_testing();
