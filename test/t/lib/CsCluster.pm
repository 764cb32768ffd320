# Throwaway PostgreSQL clusters for tests that need more than the one test/check.sh started (test/t/citus.t's
# coordinator and workers, test/t/majors.t's one per major): each in the test's own temporary directory, run
# by a non-root OS user (postgres when we are root), on a free localhost port.  Stopped when the program ends.
package CsCluster;
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use CsTest;

our @EXPORT = qw(cluster_start cluster_restart on_cluster as_db);

my @as_db = $> == 0 ? ('runuser', '-u', 'postgres', '--') : ();
my %running;   # name => [bindir, data directory]

sub as_db { my ($cmd) = @_; return system(@as_db, 'sh', '-c', $cmd) == 0; }

sub free_port {
    for (1 .. 100) {
        my $p = 20000 + int(rand(20000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 1, ReuseAddr => 1);
        if ($s) { close $s; return $p; }
    }
    die 'no free port';
}

# Starts a cluster of the PostgreSQL in bindir, named name (unique in the test), with more postgresql.conf
# lines; returns its port.  Clients connect over TCP to 127.0.0.1 (trust).
sub cluster_start {
    my ($bindir, $name, @conf) = @_;
    my $dir = tmpdir();
    chmod 0755, $dir;
    system('chown', 'postgres:', $dir) if $> == 0;
    my ($port, $data) = (free_port(), "$dir/$name");
    as_db("'$bindir/initdb' -D '$data' -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >'$dir/$name.initdb.log' 2>&1")
        or die "initdb $name failed: " . `cat $dir/$name.initdb.log`;
    my $conf = join("\n", "listen_addresses = '127.0.0.1'", "port = $port", "unix_socket_directories = '$dir'",
                    'fsync = off', @conf);
    as_db("printf '%s\\n' \"$conf\" >> '$data/postgresql.conf' && echo 'host all all 127.0.0.1/32 trust' >> '$data/pg_hba.conf'")
        or die "cannot configure $name";
    as_db("'$bindir/pg_ctl' -D '$data' -l '$dir/$name.log' -w start >/dev/null")
        or die "cannot start $name: " . `cat $dir/$name.log`;
    $running{$name} = [$bindir, $data, $port];
    return $port;
}

END {
    as_db("'$_->[0]/pg_ctl' -D '$_->[1]' -m immediate stop >/dev/null") for values %running;
}

# Stops a cluster started here in a shutdown mode (smart, fast or immediate: a crash, recovered at the next
# start) and starts it again.
sub cluster_restart {
    my ($name, $mode) = @_;
    my ($bindir, $data) = @{ $running{$name} // die "no cluster $name" };
    as_db("'$bindir/pg_ctl' -D '$data' -m $mode -w stop >/dev/null") or die "cannot stop $name";
    as_db("'$bindir/pg_ctl' -D '$data' -l '$data.log' -w start >/dev/null") or die "cannot start $name";
}

# Runs SQL in a database (default postgres) of a cluster started here, with the cluster's own psql; returns
# psql's unaligned output (CsTest::psql).
sub on_cluster {
    my ($name, $sql, $db) = @_;
    my ($bindir, undef, $port) = @{ $running{$name} // die "no cluster $name" };
    local $ENV{PGHOST} = '127.0.0.1';
    local $ENV{PGPORT} = $port;
    local $ENV{PGUSER} = 'postgres';
    local $ENV{PATH} = "$bindir:$ENV{PATH}";
    return psql($db // 'postgres', $sql);
}

1;
