#!/bin/sh
# Runs the MLS working group's official interop test-runner against two
# instances of mlsnode's interop client, for every config file given
# (default: the official configs and our own scripts), all suites, both
# handshake modes, and summarises the results.
#
#   interop/official-runner.sh /path/to/mls-implementations [config.json ...]
#
# The first argument is a checkout of github.com/mlswg/mls-implementations
# (or a copy holding at least interop/test-runner/main.go,
# interop/proto/mls_client.proto and interop/configs/). The runner is
# built there, unmodified: a go.mod naming the module
# github.com/mlswg/mls-implementations is written if the copy has none,
# and the Go code of interop/proto is generated from its .proto if
# missing. Nothing is written into this repository.
#
# Environment: PORT1/PORT2 (default 50101/50102), RUNNER_FLAGS (extra
# runner flags, e.g. "-suite 3 -private" or "-random"), OUT (results
# directory, default $REPO/results-mlsnode).
set -eu

REPO=${1:?usage: $0 /path/to/mls-implementations [config.json ...]}
shift
REPO=$(cd "$REPO" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PORT1=${PORT1:-50101}
PORT2=${PORT2:-50102}
OUT=${OUT:-$REPO/results-mlsnode}
mkdir -p "$OUT"

if [ ! -f "$REPO/interop/proto/mls_client.pb.go" ]; then
	(cd "$REPO/interop/proto" && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative mls_client.proto)
fi
if [ ! -f "$REPO/go.mod" ]; then
	(cd "$REPO" && cat > go.mod <<'MOD'
module github.com/mlswg/mls-implementations

go 1.26

require (
	github.com/google/uuid v1.6.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)
MOD
	)
fi
[ -f "$REPO/go.sum" ] || (cd "$REPO" && go mod tidy)
(cd "$REPO" && go build -o "$OUT/test-runner" ./interop/test-runner)
go build -C "$HERE" -o "$OUT/mlsnode-interop" .

# Fresh clients for every config: the harness's interface has no call
# to free a state, so a client keeps every state of every run until it
# exits (about 2 GB each after the nine official configs).
PID1= PID2=
start_clients() {
	"$OUT/mlsnode-interop" -port "$PORT1" >> "$OUT/client1.log" 2>&1 &
	PID1=$!
	"$OUT/mlsnode-interop" -port "$PORT2" >> "$OUT/client2.log" 2>&1 &
	PID2=$!
	sleep 1
}
stop_clients() {
	[ -n "$PID1" ] && kill "$PID1" "$PID2" 2>/dev/null || true
	[ -n "$PID1" ] && wait "$PID1" "$PID2" 2>/dev/null || true
	PID1= PID2=
}
trap stop_clients EXIT INT TERM

if [ $# -eq 0 ]; then
	set -- "$REPO"/interop/configs/*.json "$HERE"/server/testdata/scripts/*.json
fi
status=0
for cfg in "$@"; do
	name=$(basename "$cfg" .json)
	case "$cfg" in "$HERE"/*) name="mlsnode-$name" ;; esac
	case "$name" in
	deep_random)
		# Every assignment of its ~840 actors to two clients would be
		# 2^840 runs: one client, unless RUNNER_FLAGS has -random.
		case " ${RUNNER_FLAGS:-} " in
		*" -random "*) clients="-client 127.0.0.1:$PORT1 -client 127.0.0.1:$PORT2" ;;
		*) clients="-client 127.0.0.1:$PORT1" ;;
		esac ;;
	*) clients="-client 127.0.0.1:$PORT1 -client 127.0.0.1:$PORT2" ;;
	esac
	start_clients
	# shellcheck disable=SC2086
	"$OUT/test-runner" $clients ${RUNNER_FLAGS:-} -config "$cfg" > "$OUT/$name.json" 2> "$OUT/$name.err" || status=1
	stop_clients
done
go run -C "$HERE" ./runnersummary "$OUT"/*.json | tee "$OUT/summary.txt" || status=1
exit $status
