#!/usr/bin/env bash
# stripedns side by side with Knot DNS and NSD, on loopback, one server at
# a time (issue 8).
#
# Builds stripedns in release mode, then for each server in turn
# (stripedns --engine native, stripedns --engine hickory, knotd, nsd):
#
#   udp    serve the zones of tests/zones/diff (a web fleet plus every
#          answering rule) and drive the server with dnsperf over UDP for
#          DURATION seconds with a fixed query mix (fleet names A and AAAA,
#          apex SOA/NS/MX/A, NXDOMAIN, missing types) written to
#          $work/queries.txt;
#   tcp    the same over TCP (dnsperf -m tcp);
#   large  load a generated zone of 1,000,000 distinct records (SOA, NS,
#          glue, then fleet names of four A records each, every address
#          different, so no duplicate is collapsed away) and report:
#          load time: from the moment the server process is started until
#            the first correct answer (NOERROR with an answer record) for
#            the zone's last name, the honest "serving the whole zone"
#            point. A small probe sends that question every 20 ms, each
#            time from a new source port (so SO_REUSEPORT spreads the
#            probes over every worker's socket), and keeps listening on the
#            earlier ports: a query waiting in the socket of a server still
#            loading counts when it is answered. It costs the server nothing
#            to speak of, unlike starting a dig per attempt.
#          memory: once the servers' resident memory stops growing (every
#            worker loaded), VmRSS summed over all its processes, and PSS
#            summed, which counts pages shared between forked processes
#            once. NSD forks its server processes after loading, so they
#            share the zone copy-on-write and its summed RSS counts it
#            several times: PSS is the fair figure. stripedns workers each
#            load the bundle on their own (a worker's crash must not touch
#            the others' data), so for stripedns RSS and PSS are close.
#
# How each server runs, with the settings it would have in production on
# a 2-core machine, the same zone files and the same query mix:
#   stripedns  `serve --bundle` with WORKERS worker processes (the king
#              answers nothing); each worker reads, checks and indexes the
#              zones itself. No identity, a scratch blacklist, UDP
#              steered by CPU (the default `--udp-steering cpu`).
#   knotd      WORKERS UDP and WORKERS TCP threads, background workers as
#              Knot chooses; zones loaded whole from their files with
#              semantic checks on (the checks stripedns makes too), no
#              journal (journal-content: none: nothing is read from or
#              written to it), nothing written back (zonefile-sync: -1).
#              knotd answers REFUSED for a zone until it is loaded, which
#              the load probe does not count as an answer.
#   nsd        server-count WORKERS with reuseport, no nsd.db (zones read
#              from their files), no control channel; minimal responses,
#              no rate limiting, no round robin, as in the differential
#              tests. NSD reads the zones before forking its servers.
#
# For udp and tcp it prints the answered queries per second and the
# server's CPU time per answered query: user+system time of every process
# of the server (the king and its workers, knotd's threads, nsd's forks),
# read from /proc/<pid>/stat over the process tree before and after the
# run (reaped children count through cutime/cstime). On a small machine
# dnsperf and the kernel's loopback path take much of the CPU, so queries
# per second are bounded by the client; CPU per query is what separates
# the servers. Every figure is also given as a ratio to Knot DNS, and the
# RCODE shares and average response size of each server are printed so
# that a server answering differently stands out.
#
# Single runs on a small machine differ by 10-15 %, so the udp and tcp runs
# go ROUNDS times over every server in turn (Knot DNS first each time) and
# the table gives each server's median; every run's figures are printed
# above it.
#
# Environment: DURATION (seconds per run, 10), ROUNDS (3), WORKERS
# (worker processes or threads per server, 2), CLIENTS (dnsperf -c, 4),
# THREADS (dnsperf -T, 1), LARGE (records of the large zone, 1000000),
# SKIP_LARGE=1 to leave the large-zone run out, SKIP_SMALL=1 to run only
# the large zone, SERVERS (default "native hickory knot nsd").
#
# Needs dnsperf, knotd, nsd, dig and perl (the load probe; Debian's
# essential perl-base is enough); as root on Debian they are installed
# with apt-get when missing. Everything listens on 127.0.0.1 only, every
# run is time-limited, and every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
WORKERS=${WORKERS:-2}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
LARGE=${LARGE:-1000000}
SKIP_LARGE=${SKIP_LARGE:-0}
SKIP_SMALL=${SKIP_SMALL:-0}
SERVERS=${SERVERS:-"native hickory knot nsd"}
# Seconds a server may take from its start to its first answer (the large
# zone included).
START_DEADLINE=${START_DEADLINE:-300}
IP=127.0.0.1

die() { printf 'benches/peers.sh: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
prog() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

if ! have cargo && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

packages=()
have dnsperf || packages+=(dnsperf)
have knotd || packages+=(knot)
have nsd || packages+=(nsd)
have dig || packages+=(bind9-dnsutils)
have perl || packages+=(perl-base)
if [ "${#packages[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing packages: ${packages[*]}; install them (as root: apt-get install -y ${packages[*]})"
    have apt-get || die "missing packages: ${packages[*]}, and no apt-get to install them with"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' init scripts from starting system-wide daemons.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        remove_policy=yes
    fi
    apt-get update </dev/null
    apt-get install -y --no-install-recommends "${packages[@]}" </dev/null
    if [ "${remove_policy:-no}" = yes ]; then rm -f "$policy"; fi
fi

echo "==> cargo build --release --bin stripedns" >&2
cargo build --release --bin stripedns >&2
STRIPEDNS=$PWD/target/release/stripedns
TICKS=$(getconf CLK_TCK)

work=$(mktemp -d "${TMPDIR:-/tmp}/stripedns-peers.XXXXXX")
server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        # Each server runs in a process group of its own (setsid).
        kill -TERM -- "-$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A UDP and TCP port on $IP that nothing listens on now.
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 30000))
        if ! ss -Hlnu "sport = :$port" | grep -q . && ! ss -Hlnt "sport = :$port" | grep -q .; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

# Every process of the tree rooted at $1 (the root first), found through
# the parent ids in /proc/<pid>/stat.
tree() {
    local -A kids=()
    local f line rest pid ppid pids=("$1") i=0 p
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        pid=${line%% *}
        rest=${line##*) }
        rest=${rest#* }
        ppid=${rest%% *}
        kids[$ppid]+=" $pid"
    done
    while [ "$i" -lt "${#pids[@]}" ]; do
        p=${pids[$i]}
        for pid in ${kids[$p]:-}; do
            pids+=("$pid")
        done
        i=$((i + 1))
    done
    echo "${pids[@]}"
}

# CPU ticks (user+system, with reaped children) of the tree rooted at $1.
cpu_ticks() {
    local total=0 p stat
    for p in $(tree "$1"); do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        # Fields after the command name, which is in parentheses and may
        # hold spaces: state is field 3, utime 14, stime 15, cutime 16,
        # cstime 17.
        set -- ${stat##*) }
        total=$((total + ${12} + ${13} + ${14} + ${15}))
    done
    echo "$total"
}

# "RSS PSS" in KiB summed over the tree rooted at $1.
memory_kib() {
    local rss=0 pss=0 p v
    for p in $(tree "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        rss=$((rss + ${v:-0}))
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
        pss=$((pss + ${v:-0}))
    done
    echo "$rss $pss"
}

# Write the configuration of server $1 for the bundle directory $2 listening
# on $IP:$3 into $4 (a scratch directory); set cmd to the command to run.
server_command() {
    local kind=$1 bundle=$2 port=$3 dir=$4 z origin
    case "$kind" in
    native | hickory)
        cmd=("$STRIPEDNS" serve --bundle "$bundle" --listen "$IP:$port" --engine "$kind"
            --workers "$WORKERS" --identity "" --blacklist "$dir/blacklist")
        ;;
    knot)
        mkdir -p "$dir/run" "$dir/storage"
        {
            printf 'server:\n    rundir: "%s"\n    listen: %s@%s\n' "$dir/run" "$IP" "$port"
            printf '    identity: ""\n    version: ""\n'
            printf '    udp-workers: %s\n    tcp-workers: %s\n' "$WORKERS" "$WORKERS"
            printf 'database:\n    storage: "%s"\n' "$dir/storage"
            printf 'log:\n  - target: stderr\n    any: notice\n'
            printf 'template:\n  - id: default\n    storage: "%s"\n    semantic-checks: on\n' "$dir/storage"
            printf '    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n'
            printf 'zone:\n'
            for z in "$bundle"/*.zone; do
                origin=$(basename "$z" .zone).
                printf '  - domain: "%s"\n    file: "%s"\n' "$origin" "$z"
            done
        } >"$dir/knot.conf"
        cmd=("$(prog knotd)" -c "$dir/knot.conf")
        ;;
    nsd)
        {
            printf 'server:\n    ip-address: %s@%s\n    do-ip6: no\n' "$IP" "$port"
            printf '    server-count: %s\n    reuseport: yes\n    verbosity: 0\n' "$WORKERS"
            printf '    username: ""\n    chroot: ""\n    database: ""\n    zonesdir: "%s"\n' "$bundle"
            printf '    pidfile: "%s"\n    xfrdfile: "%s"\n' "$dir/nsd.pid" "$dir/xfrd.state"
            printf '    xfrdir: "%s"\n    zonelistfile: "%s"\n' "$dir" "$dir/zone.list"
            printf '    hide-identity: yes\n    hide-version: yes\n    minimal-responses: yes\n'
            printf '    round-robin: no\n    refuse-any: no\n'
            printf '    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n'
            printf 'remote-control:\n    control-enable: no\n'
            for z in "$bundle"/*.zone; do
                origin=$(basename "$z" .zone).
                printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n' "$origin" "$z"
            done
        } >"$dir/nsd.conf"
        cmd=("$(prog nsd)" -d -c "$dir/nsd.conf")
        ;;
    *) die "unknown server $kind" ;;
    esac
}

# The load probe: `perl probe.pl IP PORT NAME QTYPE DEADLINE PID` asks
# NAME QTYPE over UDP every 20 ms, each time from a new socket, and keeps
# reading every socket of the last 2 s; exits 0 at the first response
# with the query's id, QR set, NOERROR and an answer record, 1 after
# DEADLINE seconds, 2 as soon as process PID is gone.
probe="$work/probe.pl"
cat >"$probe" <<'EOF'
use strict;
use warnings;
use Socket;
my ($ip, $port, $name, $qtype, $deadline, $pid) = @ARGV;
my $dest = pack_sockaddr_in($port, inet_aton($ip));
my $qname = join('', map { chr(length $_) . $_ } split /\./, $name) . "\0";
my (@socks, %id_of);
# The server runs (a zombie is dead: the script has not reaped it yet).
sub alive {
    open(my $stat, '<', "/proc/$pid/stat") or return 0;
    return <$stat> !~ /\) Z /;
}
for (1 .. int($deadline / 0.02) + 1) {
    exit 2 unless alive();
    socket(my $s, PF_INET, SOCK_DGRAM, getprotobyname('udp')) or die "socket: $!";
    my $id = int(rand(65536));
    send($s, pack('n6', $id, 0, 1, 0, 0, 0) . $qname . pack('n2', $qtype, 1), 0, $dest);
    push @socks, $s;
    $id_of{fileno $s} = $id;
    select(undef, undef, undef, 0.02);
    my $rin = '';
    vec($rin, fileno $_, 1) = 1 for @socks;
    while (select(my $rout = $rin, undef, undef, 0) > 0) {
        my $read = 0;
        for my $r (@socks) {
            next unless vec($rout, fileno $r, 1);
            defined recv($r, my $buf, 65535, 0) or next;
            $read++;
            next if length $buf < 12;
            my ($rid, $flags, undef, $answers) = unpack('n4', $buf);
            exit 0 if $rid == $id_of{fileno $r} && ($flags & 0x800f) == 0x8000 && $answers > 0;
        }
        last unless $read;
    }
    delete $id_of{fileno shift @socks} if @socks > 100;
}
exit 1;
EOF

# Start server $1 on bundle $2 and wait until it answers "$3 $4" (a name
# and a type number) with NOERROR and an answer record; sets server_pid,
# port and load_secs (seconds from starting the process to that answer).
# A server that exits before answering is tried again, at most three
# times, on a new port: another program may take a free port between
# free_port and the server's bind.
start_server() {
    local kind=$1 bundle=$2 name=$3 qtype=$4 dir start now status attempt
    dir="$work/$kind"
    for attempt in 1 2 3; do
        rm -rf "$dir"
        mkdir -p "$dir"
        port=$(free_port)
        server_command "$kind" "$bundle" "$port" "$dir"
        start=$(date +%s.%N)
        setsid "${cmd[@]}" </dev/null >"$dir/server.log" 2>&1 &
        server_pid=$!
        status=0
        perl "$probe" "$IP" "$port" "$name" "$qtype" "$START_DEADLINE" "$server_pid" || status=$?
        now=$(date +%s.%N)
        case $status in
        0) break ;;
        2)
            cat "$dir/server.log" >&2
            wait "$server_pid" 2>/dev/null || true
            server_pid=
            [ "$attempt" -lt 3 ] || die "$kind exited before answering $name, three times"
            echo "benches/peers.sh: $kind exited before answering; trying another port" >&2
            ;;
        *)
            cat "$dir/server.log" >&2
            die "$kind did not answer $name (type $qtype) within ${START_DEADLINE}s"
            ;;
        esac
    done
    load_secs=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
}

# Wait (at most 60 s) until the resident memory of the server's processes
# stops growing (every worker has loaded); sets rss_mib and pss_mib.
settled_memory() {
    local last=-1 rss pss
    for _ in $(seq 120); do
        read -r rss pss < <(memory_kib "$server_pid")
        if [ "$rss" -eq "$last" ]; then
            break
        fi
        last=$rss
        sleep 0.5
    done
    rss_mib=$((rss / 1024))
    pss_mib=$((pss / 1024))
}

# The query mix: fleet names (A and AAAA), the apex (SOA, NS, MX, A),
# NXDOMAIN, a missing type, in a fixed order dnsperf cycles through.
queries="$work/queries.txt"
cat >"$queries" <<'EOF'
www.example.com A
api.example.com A
cdn.example.com A
www.example.com AAAA
api.example.com AAAA
example.com SOA
example.com NS
example.com MX
example.com A
mail.example.com A
nothing.example.com A
gone.example.net A
www.example.com A
api.example.com A
cdn.example.com AAAA
v6only.example.com AAAA
ns1.example.com A
example.net MX
missing-1.example.com AAAA
www.example.com TXT
EOF

bundle="$work/bundle"
mkdir -p "$bundle"
cp tests/zones/diff/*.zone "$bundle/"

# One dnsperf run against server $1 in mode $2; sets qps, cpu (server CPU
# microseconds per answered query), sent, completed and answers (the
# RCODE shares and the average response size, to show that every server
# answered the same mix).
drive() {
    local kind=$1 mode=$2 before after out
    start_server "$kind" "$bundle" example.com 6
    before=$(cpu_ticks "$server_pid")
    if ! out=$(dnsperf -m "$mode" -s "$IP" -p "$port" -d "$queries" -l "$DURATION" \
        -c "$CLIENTS" -T "$THREADS" -q 100 -t 2 2>&1); then
        echo "$out" >&2
        die "dnsperf failed against $kind"
    fi
    after=$(cpu_ticks "$server_pid")
    stop_server
    sent=$(awk '/Queries sent:/ {print $3}' <<<"$out")
    completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
    qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
    answers="$(sed -n 's/^ *Response codes: *//p' <<<"$out" | sed 's/ [0-9]* (/ (/g');"
    answers="$answers $(awk '/Average packet size:/ {print $NF}' <<<"$out") octets per response"
    if [ -z "$completed" ] || [ "$completed" -eq 0 ]; then
        echo "$out" >&2
        die "no query answered by $kind over $mode"
    fi
    cpu=$(awk -v t=$((after - before)) -v hz="$TICKS" -v n="$completed" \
        'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
}

# The median of the numbers given as arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The ratio $1/$2 with two decimals, or "-" without a Knot DNS figure.
ratio() {
    if [ -z "${2:-}" ] || [ "$2" = - ]; then echo -; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
}

echo "stripedns peers benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "knotd $(knotd --version | awk '{print $NF}'), nsd $(nsd -v 2>&1 | awk 'NR==1 {print $NF}'), dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}')"
echo "loopback UDP/TCP, ${DURATION}s per run, dnsperf -c $CLIENTS -T $THREADS -q 100, $WORKERS workers per server, query mix of $(wc -l <"$queries") questions"

modes="udp tcp"
[ "$SKIP_SMALL" != 1 ] || modes=
# Knot DNS first in every round: the other servers' ratios need its
# figures.
order="knot"
for s in $SERVERS; do [ "$s" = knot ] || order="$order $s"; done
for mode in $modes; do
    declare -A QPS=() CPU=() ANSWERS=() SENT=() DONE=()
    echo
    echo "== $mode: tests/zones/diff, ${DURATION}s per run, $ROUNDS rounds of every server in turn"
    for round in $(seq "$ROUNDS"); do
        for kind in $order; do
            case " $SERVERS " in *" $kind "*) ;; *) continue ;; esac
            drive "$kind" "$mode"
            QPS[$kind]="${QPS[$kind]:-} $qps"
            CPU[$kind]="${CPU[$kind]:-} $cpu"
            ANSWERS[$kind]=$answers
            SENT[$kind]=$((${SENT[$kind]:-0} + sent))
            DONE[$kind]=$((${DONE[$kind]:-0} + completed))
            printf '  round %d %-8s %10.0f queries/s %8s cpu us/query\n' "$round" "$kind" "$qps" "$cpu"
        done
    done
    echo "medians of the $ROUNDS rounds:"
    printf '%-10s %12s %12s %14s %10s %10s\n' server "queries/s" "qps/knot" "cpu us/query" "cpu/knot" answered
    for kind in $order; do
        [ -n "${QPS[$kind]:-}" ] || continue
        qps=$(median ${QPS[$kind]})
        cpu=$(median ${CPU[$kind]})
        [ "$kind" != knot ] || { knot_qps=$qps; knot_cpu=$cpu; }
        printf '%-10s %12.0f %12s %14.2f %10s %10s\n' "$kind" "$qps" \
            "$(ratio "$qps" "${knot_qps:-}")" "$cpu" "$(ratio "$cpu" "${knot_cpu:-}")" \
            "${DONE[$kind]}/${SENT[$kind]}"
    done
    for kind in $order; do
        [ -n "${ANSWERS[$kind]:-}" ] && printf '  %-8s %s\n' "$kind" "${ANSWERS[$kind]}"
    done
    unset QPS CPU ANSWERS SENT DONE knot_qps knot_cpu
done

if [ "$SKIP_LARGE" != 1 ]; then
    large="$work/large"
    mkdir -p "$large"
    # SOA, two NS, their glue, then fleet names of four A records each,
    # every address different (10.x.y.z from the name's number and the
    # record's place in it).
    awk -v n="$LARGE" 'BEGIN {
        print "$ORIGIN large.test.\n$TTL 3600"
        print "@ IN SOA ns1 hostmaster 1 7200 900 1209600 300"
        print "@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2"
        for (i = 0; i < n - 5; i++) {
            h = int(i / 4)
            printf "f%d 60 IN A 10.%d.%d.%d\n", h, int(h / 16384) % 256, int(h / 64) % 256, (h % 64) * 4 + i % 4
        }
    }' >"$large/large.test.zone"
    # The last fleet name, and how many of the LARGE - 5 fleet records it
    # holds.
    last="f$(((LARGE - 6) / 4)).large.test"
    last_count=$((LARGE - 5 - 4 * ((LARGE - 6) / 4)))
    echo
    echo "== large: one zone of $LARGE records ($(du -m "$large/large.test.zone" | cut -f1) MB zone file), load time until $last A is answered"
    printf '%-10s %10s %10s %12s %10s %12s %10s\n' server "load s" "load/knot" "RSS MiB" "RSS/knot" "PSS MiB" "PSS/knot"
    declare -A LOAD=() RSS=() PSS=()
    order="knot"
    for s in $SERVERS; do [ "$s" = knot ] || order="$order $s"; done
    for kind in $order; do
        case " $SERVERS " in *" $kind "*) ;; *) continue ;; esac
        start_server "$kind" "$large" "$last" 1
        settled_memory
        # Every worker has loaded now: the last name has all its records.
        got=$(dig "@$IP" -p "$port" "$last" A +norec +tries=2 +time=2 +short | wc -l)
        [ "$got" -eq "$last_count" ] || die "$kind answers $last A with $got records, not $last_count"
        stop_server
        LOAD[$kind]=$load_secs
        RSS[$kind]=$rss_mib
        PSS[$kind]=$pss_mib
        printf '%-10s %10s %10s %12s %10s %12s %10s\n' "$kind" "$load_secs" \
            "$(ratio "$load_secs" "${LOAD[knot]:-}")" "${RSS[$kind]}" \
            "$(ratio "${RSS[$kind]}" "${RSS[knot]:-}")" "${PSS[$kind]}" \
            "$(ratio "${PSS[$kind]}" "${PSS[knot]:-}")"
    done
fi
