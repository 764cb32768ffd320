# BI tools find and describe the helper views on their own: as the read-only role of grant_source_read,
# information_schema, SQLAlchemy's inspector (Superset) and the JDBC driver's DatabaseMetaData (Metabase,
# DBeaver, Tableau) list all eight helpers (with clusters) as views with every column and a non-empty description, equal to
# helper_columns(); the table of views and columns in doc/bi-tools.md is the catalog's (CS_BLESS=1 rewrites
# it after a deliberate change), which pins names and types.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my $root = project_root();
my $db = new_database('cs_bi_discovery');
psql('postgres', q{DROP ROLE IF EXISTS cs_bi_reader; CREATE ROLE cs_bi_reader LOGIN;});
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 600, 4);
    SELECT count(*) FROM customer_segment.register_source('shop', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        as_of => DATE '2025-12-31', tier_ladder => NULL);
    SELECT count(*) FROM customer_segment.set_source_clusters('shop', 4);
    SELECT customer_segment.refresh('shop');
    SELECT customer_segment.grant_source_read('shop', 'cs_bi_reader');});
my @helpers = map { { view => $_->[0], helper => $_->[1] } } psql_rows($db,
    q{SELECT split_part(view_name, '.', 2), helper FROM customer_segment.source_views(customer_segment.get_source('shop'));});
is(scalar(@helpers), 8, 'eight helpers (six, and two with clusters): ' . join(' ', map { $_->{view} } @helpers));
my ($cl) = psql_rows($db, q{SELECT (SELECT count(*) FROM shop.shop_clusters),
    (SELECT count(*) FROM shop.shop_customers WHERE orders > 0 AND monetary_total > 0),
    (SELECT count(*) FROM shop.shop_cluster_profiles), (SELECT sum(customers) FROM shop.shop_cluster_profiles),
    (SELECT round(sum(share), 3) FROM shop.shop_cluster_profiles),
    (SELECT count(*) FROM shop.shop_clusters c, (SELECT customer_segment.kmeans_fit(ARRAY[recency_days, orders, monetary_total]::float8[], 4, 0, 'log1p+zscore') AS m
                                                  FROM shop.shop_customers WHERE orders > 0 AND monetary_total > 0) f, shop.shop_customers u
      WHERE u.customer_id = c.customer_id AND customer_segment.kmeans_assign(f.m, ARRAY[u.recency_days, u.orders, u.monetary_total]::float8[]) <> c.cluster);});
is_deeply($cl, [$cl->[1], $cl->[1], 4, $cl->[1], '1.000', 0],
          "the clusters view holds the $cl->[1] customers with a positive spend, as kmeans_fit assigns them; four profiles cover them");

# The catalog's truth: columns, types and comments of the plain views.
my %truth;          # view => [ [column, type, description] ... ]
my %view_comment;
for my $h (@helpers) {
    $truth{$h->{view}} = [ map { [ split /,/, $_, 3 ] } split /\n/, psql($db, qq{SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(col_description(a.attrelid, a.attnum), '')
        FROM pg_attribute a WHERE a.attrelid = 'shop.$h->{view}'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;}) ];
    chomp($view_comment{$h->{view}} = psql($db, qq{SELECT obj_description('shop.$h->{view}'::regclass, 'pg_class');}));
}
# helper_columns() describes exactly the result columns of each source_<helper> function, in order.
for my $h (@helpers) {
    my ($f) = psql_rows($db, qq{SELECT string_agg(n, ' ' ORDER BY i) FROM pg_proc p,
        unnest(p.proargnames, p.proargmodes) WITH ORDINALITY u(n, m, i) WHERE p.oid = 'customer_segment.source_$h->{helper}(text)'::regprocedure AND m = 't';});
    my ($d) = psql_rows($db, qq{SELECT string_agg(column_name, ' ') FROM customer_segment.helper_columns() WHERE helper = '$h->{helper}';});
    is($d->[0], $f->[0], "helper_columns() lists the result columns of source_$h->{helper}");
}
my @undescribed = map { my $v = $_; map { "$v.$_->[0]" } grep { $_->[2] eq '' } @{ $truth{$v} } } sort keys %truth;
is_deeply(\@undescribed, [], 'every column of every helper view has a comment');

sub compare {
    my ($tool, $seen) = @_;     # $seen: view => { type => ..., comment => ..., columns => { name => remark } }
    my @missing;
    for my $v (map { $_->{view} } @helpers) {
        my $s = $seen->{$v};
        if (!$s) { push @missing, "$v (not listed)"; next; }
        push @missing, "$v (comment)" if ($s->{comment} // '') ne $view_comment{$v};
        for my $c (@{ $truth{$v} }) {
            my $r = $s->{columns}{ $c->[0] };
            push @missing, "$v.$c->[0]" . (defined $r ? " ($r)" : ' (not listed)') if !defined $r || $r ne $c->[2];
        }
    }
    is_deeply(\@missing, [], "$tool lists all eight helpers with every column and its description");
}
sub as_bi { local $ENV{PGUSER} = 'cs_bi_reader'; return psql($db, $_[0]); }

# information_schema, as the BI role (descriptions through col_description, as clients that use it do).
my %is;
for (split /\n/, as_bi(q{SELECT table_name, table_type, coalesce(obj_description(format('%I.%I', table_schema, table_name)::regclass, 'pg_class'), '')
                           FROM information_schema.tables WHERE table_schema = 'shop';})) {
    my ($t, $type, $c) = split /,/, $_, 3;
    $is{$t} = { type => $type, comment => $c, columns => {} };
}
for (split /\n/, as_bi(q{SELECT table_name, column_name, coalesce(col_description(format('%I.%I', table_schema, table_name)::regclass, ordinal_position::int), '')
                           FROM information_schema.columns WHERE table_schema = 'shop';})) {
    my ($t, $c, $d) = split /,/, $_, 3;
    $is{$t}{columns}{$c} = $d if $is{$t};
}
compare('information_schema', \%is);
is_deeply([ map { $is{ $_->{view} }{type} // '' } @helpers ], [ ('VIEW') x 8 ], '... as views');
ok(!grep({ /_data$/ || /^orders$/ } keys %is), '... and the BI role sees neither the data behind them nor the orders');

# SQLAlchemy's inspector, as the BI role.
SKIP: {
    skip 'python3-sqlalchemy and python3-psycopg2 are not installed', 2
        if system('/usr/bin/python3 -c "import sqlalchemy, psycopg2" 2>/dev/null') != 0;
    my %sa;
    my $out = `PGUSER=cs_bi_reader /usr/bin/python3 '$root/test/t/bi/bi_sqlalchemy.py' cs_bi_reader $db shop 2>&1`;
    is($?, 0, 'the SQLAlchemy inspector connects as the BI role') or diag($out);
    for (split /\n/, $out) {
        my @f = split /\t/;
        $sa{ $f[1] } = { comment => $f[2], columns => {} } if $f[0] eq 'view';
        $sa{ $f[1] }{columns}{ $f[2] } = $f[4] if $f[0] eq 'column' && $sa{ $f[1] };
    }
    compare('SQLAlchemy', \%sa);
}

# The PostgreSQL JDBC driver, as the BI role, over TCP as JDBC clients connect.
SKIP: {
    my $jar = '/usr/share/java/postgresql.jar';
    skip 'libpostgresql-jdbc-java and default-jdk-headless are not installed', 3 unless -f $jar && system('java -version 2>/dev/null') == 0;
    my %jd;
    my $url = "jdbc:postgresql://localhost:$ENV{PGPORT}/$db";
    my $out = `java -cp $jar '$root/test/t/bi/BiJdbc.java' '$url' cs_bi_reader shop 2>&1`;
    is($?, 0, 'the JDBC driver connects as the BI role') or diag($out);
    my %type;
    for (split /\n/, $out) {
        my @f = split /\t/;
        if ($f[0] eq 'table') { $jd{ $f[1] } = { comment => $f[3] eq 'null' ? '' : $f[3], columns => {} }; $type{ $f[1] } = $f[2]; }
        $jd{ $f[1] }{columns}{ $f[2] } = $f[4] if $f[0] eq 'column' && $jd{ $f[1] };
    }
    compare('JDBC DatabaseMetaData', \%jd);
    is_deeply([ map { $type{ $_->{view} } // '' } @helpers ], [ ('VIEW') x 8 ], '... as views (getTables TABLE_TYPE)');
}

# doc/bi-tools.md shows the catalog's views and columns, generated here.
my $table = join('', map {
    my $v = $_->{view} =~ s/^shop_/<name>_/r;
    "\n**`$v`** — $view_comment{$_->{view}}\n\n| column | type | description |\n|---|---|---|\n"
    . join('', map { "| `$_->[0]` | $_->[1] | $_->[2] |\n" } @{ $truth{ $_->{view} } })
} @helpers) =~ s/ \(customer_segment source shop\)//gr;
my $doc_file = "$root/doc/bi-tools.md";
open my $fh, '<', $doc_file or die "$doc_file: $!";
my $doc = do { local $/; <$fh> };
close $fh;
my ($shown) = $doc =~ /<!-- helper columns: generated by test\/t\/bi_discovery.t -->\n(.*?)<!-- end of helper columns -->/s;
if ($ENV{CS_BLESS}) {
    $doc =~ s/(<!-- helper columns: generated by test\/t\/bi_discovery.t -->\n).*?(<!-- end of helper columns -->)/$1$table$2/s;
    open my $wf, '>', $doc_file or die;
    print $wf $doc;
    close $wf;
    diag("wrote the table of $doc_file");
    $shown = $table;
}
is($shown, $table, 'doc/bi-tools.md lists the helper views, their columns, types and descriptions as the catalog has them');

psql('postgres', "DROP DATABASE $db; DROP ROLE cs_bi_reader;");
done_testing();
