# Helpers for the TAP tests: run SQL through psql against the cluster that
# test/check.sh started (PGHOST, PGPORT, PGUSER in the environment).
package CsTest;
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use File::Temp ();
use Time::HiRes ();

our @EXPORT = qw(tmpdir psql psql_rows psql_fails new_database dump_restore project_root shared_dir shared_data
                 cdnow_csv load_cdnow server_major in_background lock_wait_of wait_granted gate_closed open_gate python_rows worst_relative);

# The test's own temporary directory, removed when it ends: tests write nowhere else.
# Made when the module loads, so background sessions (forked) share it; File::Temp removes it in this process only.
my $tmpdir = File::Temp::tempdir('cstest.XXXXXX', TMPDIR => 1, CLEANUP => 1);
sub tmpdir { return $tmpdir; }

# Resolved once, when the module loads: tests may chdir afterwards.
my $root = File::Spec->rel2abs(dirname(__FILE__) . '/../../..');
sub project_root { return $root; }

# ../shared beside the project root, or undef when it is not there or CS_WITHOUT_SHARED is set (test/check.sh
# runs the tests that read it once more that way, as a clone with nothing beside it would).
sub shared_dir {
    return undef if $ENV{CS_WITHOUT_SHARED};
    my $dir = project_root() . '/../shared';
    return -d $dir ? File::Spec->rel2abs($dir) : undef;
}

# ../shared/data, or undef (see shared_dir).
sub shared_data {
    my $shared = shared_dir() // return undef;
    return -d "$shared/data" ? "$shared/data" : undef;
}

# The CDNOW purchases of ../shared/data/cdnow/CDNOW_sample.txt (master id, sample id, yyyymmdd, CDs, dollars)
# as CSV lines customer_id,yyyymmdd,dollars; undef when the data is absent (see shared_dir).
sub cdnow_csv {
    my $data = shared_data() // return undef;
    my $file = "$data/cdnow/CDNOW_sample.txt";
    return undef unless -f $file;
    open my $fh, '<', $file or die "$file: $!";
    my $csv = join('', map { my @f = split ' '; @f == 5 ? "$f[1],$f[2],$f[4]\n" : () } <$fh>);
    close $fh;
    return $csv;
}

# A new table (customer_id int, day date, dollars numeric) of the CDNOW purchases in a database; false (and no
# table) when the data is absent.
sub load_cdnow {
    my ($db, $table) = @_;
    my $csv = cdnow_csv() // return 0;
    psql($db, "CREATE TABLE $table (customer_id int, day date, dollars numeric); \\copy $table FROM PSTDIN WITH CSV", $csv);
    return 1;
}

# The major version of the PostgreSQL the tests run against (PG_CONFIG's).
sub server_major {
    my $version = `\${PG_CONFIG:-pg_config} --version`;
    return $version =~ /PostgreSQL (\d+)/ ? $1 : die "cannot read the PostgreSQL version from pg_config: $version";
}

# Runs Debian's /usr/bin/python3 with the command line (a reference script and its arguments) and stdin text;
# dies when it fails; returns its output lines, each split on commas.
sub python_rows {
    my ($cmd, $stdin) = @_;
    my $tmp = "$tmpdir/cstest.$$.stdin";
    open my $fh, '>', $tmp or die "cannot write $tmp: $!";
    print $fh $stdin // '';
    close $fh;
    my $out = `/usr/bin/python3 $cmd < $tmp`;
    die "python3 $cmd failed" if $? != 0;
    unlink $tmp;
    return map { [ split /,/ ] } split /\n/, $out;
}

# The largest |ours - reference| / (floor + |reference|) over two lists of numbers.
sub worst_relative {
    my ($ours, $ref, $floor) = @_;
    my $worst = 0;
    for my $i (0 .. $#$ref) {
        my $e = abs($ours->[$i] - $ref->[$i]) / ($floor + abs($ref->[$i]));
        $worst = $e if $e > $worst;
    }
    return $worst;
}

# Runs SQL (with optional stdin text) in a database; dies on error; returns stdout.
sub psql {
    my ($db, $sql, $stdin) = @_;
    my $tmp = "$tmpdir/cstest.$$.sql";
    open my $fh, '>', $tmp or die "cannot write $tmp: $!";
    print $fh $sql;
    close $fh;
    my $cmd = "psql -X -q -A -t -F ',' -v ON_ERROR_STOP=1 -d '$db' -f '$tmp' 2>&1";
    my $out;
    if (defined $stdin) {
        my $in = "$tmpdir/cstest.$$.in";
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
    my $dump = "$tmpdir/cstest_dump.$$.sql";
    system("'$bindir/pg_dump' -d '$from' -f '$dump'") == 0 && -s $dump or die "pg_dump of $from failed";
    psql('postgres', "DROP DATABASE IF EXISTS $to; CREATE DATABASE $to;");
    my $out = `psql -X -q -v ON_ERROR_STOP=1 -d '$to' -f '$dump' 2>&1`;
    my $rc = $?;
    unlink $dump;
    return ($rc, $out);
}

# Concurrency without sleeps: background sessions, and waiting on what they wait for.

# Runs SQL in a background psql session on a database; returns its pid (waitpid it).
sub in_background {
    my ($db, $sql) = @_;
    my $pid = fork();
    die 'fork failed' unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec('psql', '-X', '-q', '-d', $db, '-c', $sql) or exit 1;
    }
    return $pid;
}

# Waits until a backend whose query matches the LIKE pattern waits for a lock; its wait_event, or 'never'.
sub lock_wait_of {
    my ($db, $like) = @_;
    for (1 .. 600) {
        my ($r) = psql_rows($db, qq{SELECT wait_event FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '$like' LIMIT 1;});
        return $r->[0] if $r;
        Time::HiRes::sleep(0.05);
    }
    return 'never';
}

# Waits until some session holds advisory lock $key.
sub wait_granted {
    my ($db, $key) = @_;
    for (1 .. 600) {
        my ($g) = psql_rows($db, qq{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $key AND granted;});
        return if $g->[0];
        Time::HiRes::sleep(0.05);
    }
    die "advisory lock $key never granted";
}

# A gate: a background session holds advisory lock $key until open_gate ends it.  Returns its pid.
sub gate_closed {
    my ($db, $key) = @_;
    my $pid = in_background($db, "SELECT pg_advisory_lock($key); SELECT pg_sleep(600);");
    wait_granted($db, $key);
    return $pid;
}

sub open_gate {
    my ($db, $key, $pid) = @_;
    psql($db, qq{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE query LIKE 'SELECT pg_advisory_lock($key); SELECT pg_sleep%' AND pid <> pg_backend_pid();});
    waitpid($pid, 0);
}

1;
