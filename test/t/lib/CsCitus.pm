# A Citus coordinator and two workers on this machine, for test/t/citus.t and test/bench/citus_bench.pl:
# three throwaway clusters as a non-root OS user, each on a free localhost port, with citus and
# customer_segment created (the extension reaches the workers from the coordinator).  Citus itself is built
# and installed by cs_ensure_citus (test/lib.sh).  Stopped when the program ends.
package CsCitus;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use CsTest;

our @EXPORT = qw(citus_archive citus_installed citus_start on_node);

# The Citus source test/check.sh builds from, or undef without ../shared (see CsTest::shared_dir).
sub citus_archive {
    my $shared = shared_dir() // return undef;
    my $archive = "$shared/citus/citus-12.1.12.tar.gz";
    return -f $archive ? $archive : undef;
}

my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my ($bindir, $libdir) = map { my $v = `$pg_config --$_`; chomp $v; $v } qw(bindir pkglibdir);
sub citus_installed { return -f "$libdir/citus.so"; }

my @as_db = $> == 0 ? ('runuser', '-u', 'postgres', '--') : ();
my ($dir, %port);

sub free_port {
    for (1 .. 100) {
        my $p = 20000 + int(rand(20000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 1, ReuseAddr => 1);
        if ($s) { close $s; return $p; }
    }
    die 'no free port';
}

sub as_db { my ($cmd) = @_; return system(@as_db, 'sh', '-c', $cmd) == 0; }

# Starts the three nodes; %opt: zone => {node => TimeZone} (default UTC), conf => more postgresql.conf lines.
sub citus_start {
    my (%opt) = @_;
    $dir = tempdir('cs_citus.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    system('chown', 'postgres:', $dir) if $> == 0;
    for my $name (qw(coordinator worker1 worker2)) {
        my $p = free_port();
        my $data = "$dir/$name";
        as_db("'$bindir/initdb' -D '$data' -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >'$dir/$name.initdb.log' 2>&1")
            or die "initdb $name failed: " . `cat $dir/$name.initdb.log`;
        my $conf = join("\n", "shared_preload_libraries = 'citus'", "listen_addresses = '127.0.0.1'", "port = $p",
                        "unix_socket_directories = '$dir'", 'fsync = off', 'max_worker_processes = 16',
                        "timezone = '" . (($opt{zone} // {})->{$name} // 'UTC') . "'", 'citus.shard_count = 8',
                        $opt{conf} // '');
        as_db("printf '%s\\n' \"$conf\" >> '$data/postgresql.conf' && echo 'host all all 127.0.0.1/32 trust' >> '$data/pg_hba.conf'")
            or die "cannot configure $name";
        as_db("'$bindir/pg_ctl' -D '$data' -l '$dir/$name.log' -w start >/dev/null")
            or die "cannot start $name: " . `cat $dir/$name.log`;
        $port{$name} = $p;
    }
    on_node($_, 'CREATE EXTENSION citus;') for qw(coordinator worker1 worker2);
    on_node('coordinator', "SELECT citus_set_coordinator_host('127.0.0.1', $port{coordinator});
        SELECT citus_add_node('127.0.0.1', $port{worker1}); SELECT citus_add_node('127.0.0.1', $port{worker2});");
    on_node('coordinator', 'CREATE EXTENSION customer_segment;');
}

END {
    as_db("'$bindir/pg_ctl' -D '$dir/$_' -m immediate stop >/dev/null") for grep { $port{$_} } keys %port;
}

# Runs SQL on a node (coordinator, worker1, worker2); returns psql's unaligned output.
sub on_node {
    my ($name, $sql) = @_;
    local $ENV{PGHOST} = '127.0.0.1';
    local $ENV{PGPORT} = $port{$name};
    local $ENV{PGUSER} = 'postgres';
    return psql('postgres', $sql);
}

1;
