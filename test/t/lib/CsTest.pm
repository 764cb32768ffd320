# Helpers for the TAP tests: run SQL through psql against the cluster that
# test/check.sh started (PGHOST, PGPORT, PGUSER in the environment).
package CsTest;
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;

our @EXPORT = qw(psql psql_rows psql_fails new_database dump_restore project_root shared_data);

# Resolved once, when the module loads: tests may chdir afterwards.
my $root = File::Spec->rel2abs(dirname(__FILE__) . '/../../..');
sub project_root { return $root; }

# ../shared/data beside the project root, or undef when it is not there.
sub shared_data {
    my $dir = project_root() . '/../shared/data';
    return -d $dir ? File::Spec->rel2abs($dir) : undef;
}

# Runs SQL (with optional stdin text) in a database; dies on error; returns stdout.
sub psql {
    my ($db, $sql, $stdin) = @_;
    my $tmp = "/tmp/cstest.$$.sql";
    open my $fh, '>', $tmp or die "cannot write $tmp: $!";
    print $fh $sql;
    close $fh;
    my $cmd = "psql -X -q -A -t -F ',' -v ON_ERROR_STOP=1 -d '$db' -f '$tmp' 2>&1";
    my $out;
    if (defined $stdin) {
        my $in = "/tmp/cstest.$$.in";
        open my $ih, '>', $in or die;
        print $ih $stdin;
        close $ih;
        $out = `$cmd < '$in'`;
        unlink $in;
    } else {
        $out = `$cmd`;
    }
    my $rc = $?;
    unlink $tmp;
    die "psql failed ($rc): $out\nSQL: $sql\n" if $rc != 0;
    return $out;
}

# Rows of comma-separated fields.
sub psql_rows {
    my ($db, $sql) = @_;
    return map { [ split /,/, $_, -1 ] } grep { length } split /\n/, psql($db, $sql);
}

# The error text of SQL that must fail, or undef when it succeeded.
sub psql_fails {
    my ($db, $sql) = @_;
    my $out = `psql -X -q -A -t -v ON_ERROR_STOP=1 -d '$db' -c "$sql" 2>&1`;
    return $? != 0 ? $out : undef;
}

# A fresh database with the extension; dropped first if it exists.
sub new_database {
    my ($db) = @_;
    psql('postgres', "DROP DATABASE IF EXISTS $db;");
    psql('postgres', "CREATE DATABASE $db;");
    psql($db, 'CREATE EXTENSION customer_segment;');
    return $db;
}

# pg_dump of one database restored with psql into a new, empty one.
# Returns psql's exit status and output; dies if pg_dump fails.
sub dump_restore {
    my ($from, $to) = @_;
    my $bindir = `\${PG_CONFIG:-pg_config} --bindir`;
    chomp $bindir;
    my $dump = "/tmp/cstest_dump.$$.sql";
    system("'$bindir/pg_dump' -d '$from' -f '$dump'") == 0 && -s $dump or die "pg_dump of $from failed";
    psql('postgres', "DROP DATABASE IF EXISTS $to; CREATE DATABASE $to;");
    my $out = `psql -X -q -v ON_ERROR_STOP=1 -d '$to' -f '$dump' 2>&1`;
    my $rc = $?;
    unlink $dump;
    return ($rc, $out);
}

1;
