# Shared by the benchmark scripts (sourced, not run): ports, clocks and one
# smtp-source → relay → smtp-sink run.
# Needs SESSIONS, COUNT, SIZE set by the caller.

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
waitport() { for _ in $(seq 1 600); do (echo > /dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
sinkcount() { tr '\r' '\n' < "$1" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }

# run_one NAME RELAY_PORT SINK_OUT: prints "accepted_rate delivered_rate"
run_one() {
  local name=$1 port=$2 sinkout=$3
  local start end accepted_at delivered
  start=$(now)
  smtp-source -s "$SESSIONS" -m "$COUNT" -l "$SIZE" -f bench@sender.example -t sink@rcpt.example 127.0.0.1:"$port"
  accepted_at=$(now)
  for _ in $(seq 1 6000); do
    delivered=$(sinkcount "$sinkout"); delivered=${delivered:-0}
    [ "$delivered" -ge "$COUNT" ] && break
    sleep 0.05
  done
  end=$(now)
  python3 -c "s,a,e,n,d=$start,$accepted_at,$end,$COUNT,${delivered:-0}; print(f'{n/(a-s):.0f} {d/(e-s):.0f} {a-s:.2f} {e-s:.2f} {d}')"
}


# gateway_config DIR PORT SINK_PORT EXTRA_YAML: writes DIR/lazaret.yaml for a
# relay-everything-from-loopback gateway (fsync on) delivering to SINK_PORT.
gateway_config() {
  local dir=$1 port=$2 sink=$3 extra=$4
  mkdir -p "$dir"
  cat > "$dir/lazaret.yaml" <<YAML
hostname: bench.lazaret.local
interfaces:
  - name: Management
    address: 127.0.0.1
listeners:
  - name: IncomingMail
    protocol: smtp
    interface: Management
    port: $port
    type: private
    max_connections: 500
    hat: |
      \$RELAYED
        RELAY {}
      RELAYLIST:
        127.0.0.0/8
          \$RELAYED (loopback relays)
      ALL
        REJECT {}
    rat: |
      ALL ACCEPT
destinations:
  - name: smarthost
    host: 127.0.0.1
    port: $sink
    max_connections: 20
  - name: the.cpq.host
    host: 127.0.0.1
    port: 9
    max_connections: 1
delivery:
  default_destination: smarthost
spool:
  directory: spool
  fsync: true
logs:
  mail_logs: logs/mail_logs
$extra
YAML
}
