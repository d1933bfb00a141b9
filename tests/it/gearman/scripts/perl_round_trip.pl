use strict;
use warnings;
use Gearman::Client;
use Gearman::Worker;
use Time::HiRes qw(sleep);

my $addr = shift or die "usage: $0 host:port\n";
my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    my $w = Gearman::Worker->new(job_servers => [$addr]);
    $w->register_function(plrev => sub { scalar reverse $_[0]->arg });
    $w->register_function(plslow => sub {
        my $job = shift;
        $job->set_status(1, 2);
        sleep 1.5;
        return "slow:" . $job->arg;
    });
    $w->work while 1;
    exit 0;
}
my $c = Gearman::Client->new(job_servers => [$addr]);
my $r = $c->do_task(plrev => "hello", { timeout => 10 });
die "do_task: " . ($r ? $$r : "undef") unless $r && $$r eq "olleh";

my %got;
my $ts = $c->new_task_set;
for my $i (1 .. 20) {
    $ts->add_task(plrev => "n$i", { on_complete => sub { $got{"n$i"} = ${ $_[0] } } });
}
$ts->wait(timeout => 10);
for my $i (1 .. 20) {
    die "task n$i: " . ($got{"n$i"} // "undef") unless ($got{"n$i"} // "") eq reverse("n$i");
}

my $h = $c->dispatch_background(plslow => "bg") or die "dispatch_background failed";
my ($running, $done);
for (1 .. 100) {
    my $st = $c->get_status($h) or die "get_status failed";
    if ($st->known && $st->running && ($st->percent // 0) == 0.5) { $running = 1 }
    if ($running && !$st->known) { $done = 1; last }
    sleep 0.1;
}
kill 'TERM', $pid;
waitpid($pid, 0);
die "never saw the bg job running at 1/2" unless $running;
die "the bg job never finished" unless $done;
print "ok\n";
