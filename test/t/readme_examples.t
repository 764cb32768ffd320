# Every ```sql block of the documentation (README.md, then the doc/ files in the order of README's map) runs,
# in order, in one fresh database, and prints what test/t/readme_examples.expected says it prints: the
# examples a reader pastes work as printed.  A short output is kept as it is; a long one (more than 30
# lines) as its line count and the md5 of its sorted lines.
# After a deliberate change: CS_BLESS=1 prove test/t/readme_examples.t rewrites the expected file.
use strict;
use warnings;
use Test::More;
use Digest::MD5 qw(md5_hex);
use lib 't/lib', 'test/t/lib';
use CsTest;

my $root = project_root();
sub slurp { my ($f) = @_; open my $fh, '<', "$root/$f" or die "$f: $!"; local $/; return <$fh>; }
# The reading order: README, then each document as README's map lists it; every doc/*.md must be listed.
my @docs = ('README.md', slurp('README.md') =~ /^\| \[(doc\/[\w.-]+\.md)\]/mg);
my %listed = map { $_ => 1 } @docs;
my @unlisted = grep { !$listed{$_} } map { s{^\Q$root\E/}{}r } glob("$root/doc/*.md");
is_deeply(\@unlisted, [], 'README\'s map lists every document in doc/ (' . (@docs - 1) . ')');
my @blocks = map { my $d = $_; map { [$d, $_] } slurp($d) =~ /```sql\n(.*?)```/sg } @docs;
cmp_ok(scalar(@blocks), '>=', 5, scalar(@blocks) . ' SQL examples in the documentation');

my $expected_file = "$root/test/t/readme_examples.expected";
my %expected;
if (open my $ef, '<', $expected_file) {
    my $text = do { local $/; <$ef> };
    close $ef;
    %expected = $text =~ /^== block (\d+)\n(.*?)(?=^== block |\z)/msg;
}
my $bless = $ENV{CS_BLESS};
my $written = '';

psql('postgres', 'DROP DATABASE IF EXISTS cs_readme; CREATE DATABASE cs_readme;');
chdir $root or die;   # the examples' paths are relative to the project root
# The relations a block creates (lower case, as written).
sub creates {
    my ($sql) = @_;
    return map { lc } $sql =~ /\bCREATE\s+(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?(?:TABLE|(?:MATERIALIZED\s+)?VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w.]+)/gi;
}
my %missing;   # relations that skipped blocks would have created
my $i = 0;
for my $block (@blocks) {
    my ($doc, $sql) = @$block;
    $i++;
    my ($first) = $sql =~ /^(?:--[^\n]*\n)*\s*([^\n]*)/;
    SKIP: {
        # The CDNOW walk-through reads ../shared/data, which a clone on its own does not have: a block that
        # reads it is skipped, and so is every later block that uses a relation a skipped block creates.
        my $needs = $sql =~ m{\.\./shared/data} ? '../shared/data'
                  : (map { "$_ (from a skipped example)" } grep { $sql =~ /(?<![\w.])\Q$_\E(?![\w])/ } sort keys %missing)[0];
        if (defined $needs && !shared_data()) {
            $missing{lc $_} = 1 for grep { !/^customer_segment\./ } creates($sql);
            $written .= "== block $i\n" . ($expected{$i} // '');
            skip "example $i ($doc) needs $needs", 1;
        }
        my $out = eval { psql('cs_readme', "SET client_min_messages = warning;\n$sql") };
        if (!defined $out) {
            fail("example $i ($doc) runs: $first");
            diag($@);
            next;
        }
        my @lines = split /\n/, $out;
        # a long output by count and md5 of its sorted lines: a plan may return unordered rows in any order
        my $shown = @lines > 30 ? sprintf("%d lines, md5 of the sorted lines %s\n", scalar(@lines), md5_hex(join("\n", sort @lines))) : $out;
        $written .= "== block $i\n$shown";
        is($shown, $expected{$i} // '(no expected output recorded)', "example $i ($doc) runs and prints what it says: $first");
    }
}
psql('postgres', 'DROP DATABASE cs_readme;');
if ($bless) {
    open my $wf, '>', $expected_file or die "$expected_file: $!";
    print $wf $written;
    close $wf;
    diag("wrote $expected_file");
}
done_testing();
