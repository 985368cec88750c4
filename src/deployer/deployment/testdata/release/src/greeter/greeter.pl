#!/usr/bin/perl
# A tiny TCP service: answers every connection with one line.
use strict;
use IO::Socket::INET;
my ($port, $greeting) = @ARGV;
my $s = IO::Socket::INET->new(LocalAddr => '0.0.0.0', LocalPort => $port, Listen => 16, ReuseAddr => 1) or die "listen: $!";
$| = 1;
print "listening on $port\n";
while (my $c = $s->accept) { print $c "$greeting\n"; close $c; }
