# Perl Gearman::Client and Gearman::Worker over TLS (use_ssl), trusting
# only the CA file given; prints "ok" after one job went through.
use strict;
use warnings;
use Gearman::Client;
use Gearman::Worker;

my ($host, $port, $ca) = @ARGV;
die "usage: $0 host port ca.pem\n" unless defined $ca;
my $server = { host => $host, port => $port, use_ssl => 1, ca_file => $ca };

my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    my $w = Gearman::Worker->new(job_servers => [$server]);
    $w->register_function(tlsrev => sub { scalar reverse $_[0]->arg });
    $w->work while 1;
    exit 0;
}
my $c = Gearman::Client->new(job_servers => [$server]);
my $r = $c->do_task(tlsrev => "hello", { timeout => 10 });
kill 'TERM', $pid;
waitpid $pid, 0;
die "do_task over TLS: " . ($r ? $$r : "undef") . "\n" unless $r && $$r eq "olleh";
print "ok\n";
