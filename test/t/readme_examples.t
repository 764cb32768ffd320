# Every ```sql block of README.md runs, in order, in a fresh database: the
# examples a reader pastes work as printed.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my $root = project_root();
open my $fh, '<', "$root/README.md" or die "README.md: $!";
my $readme = do { local $/; <$fh> };
close $fh;
my @blocks = $readme =~ /```sql\n(.*?)```/sg;
cmp_ok(scalar(@blocks), '>=', 5, scalar(@blocks) . ' SQL examples in README.md');

psql('postgres', 'DROP DATABASE IF EXISTS cs_readme; CREATE DATABASE cs_readme;');
chdir $root or die;   # README paths are relative to the project root
my $i = 0;
for my $sql (@blocks) {
    $i++;
    my ($first) = $sql =~ /^(?:--[^\n]*\n)*\s*([^\n]*)/;
    SKIP: {
        # The CDNOW walk-through reads ../shared/data, which only some checkouts have beside them;
        # the blocks after the load use its cdnow table.
        skip "README example $i needs ../shared/data", 1 if $sql =~ m{\.\./shared/data|\bcdnow\b} && !shared_data();
        my $ok = eval { psql('cs_readme', "SET client_min_messages = warning;\n$sql"); 1 };
        ok($ok, "README example $i runs: $first") or diag($@);
    }
}
psql('postgres', 'DROP DATABASE cs_readme;');
done_testing();
