# A Citus coordinator and two workers on this machine, for test/t/citus.t and test/bench/citus_bench.pl:
# three throwaway clusters as a non-root OS user, each on a free localhost port, with citus and
# customer_segment created (the extension reaches the workers from the coordinator).  Citus itself is built
# and installed by cs_ensure_citus (test/lib.sh).  Stopped when the program ends.
package CsCitus;
use strict;
use warnings;
use Exporter 'import';
use CsTest;
use CsCluster;

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
my %port;

# Starts the three nodes; %opt: zone => {node => TimeZone} (default UTC), conf => more postgresql.conf lines.
sub citus_start {
    my (%opt) = @_;
    for my $name (qw(coordinator worker1 worker2)) {
        $port{$name} = cluster_start($bindir, $name, "shared_preload_libraries = 'citus'", 'max_worker_processes = 16',
                                     "timezone = '" . (($opt{zone} // {})->{$name} // 'UTC') . "'", 'citus.shard_count = 8',
                                     $opt{conf} // ());
    }
    on_node($_, 'CREATE EXTENSION citus;') for qw(coordinator worker1 worker2);
    on_node('coordinator', "SELECT citus_set_coordinator_host('127.0.0.1', $port{coordinator});
        SELECT citus_add_node('127.0.0.1', $port{worker1}); SELECT citus_add_node('127.0.0.1', $port{worker2});");
    on_node('coordinator', 'CREATE EXTENSION customer_segment;');
}

# Runs SQL on a node (coordinator, worker1, worker2); returns psql's unaligned output.
sub on_node {
    my ($name, $sql) = @_;
    return on_cluster($name, $sql);
}

1;
