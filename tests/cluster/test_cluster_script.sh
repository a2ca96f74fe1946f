#!/usr/bin/env bash
# tests/cluster/test_cluster_script.sh BUILD_DIR: scripts/cluster as its README use, end to
# end: `up 3` starts three etcd members and three hosts, each with a worker, and every host
# sees the two others; a host killed with kill -9 is seen lost by the others through its
# lease; `down` stops everything and leaves no process, segment or file behind. Skips (77)
# where etcd is not installed. About 15 s.
set -euo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v etcd >/dev/null || { echo "SKIP: etcd is not installed"; exit 77; }
export PF_CLUSTER_DIR=$(mktemp -d /tmp/pft-cscript-XXXXXX)
# Below the kernel's ephemeral range (32768 on): a port there may be a connection's own.
export PF_CLUSTER_PORT=$((20000 + ($$ % 1000) * 10))
export PF_CLUSTER_BIN=$build
cleanup() {
	"$root/scripts/cluster" down >/dev/null 2>&1 || true
	rm -rf "$PF_CLUSTER_DIR"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in "$PF_CLUSTER_DIR"/host-*/pflightd.log; do
		echo "== $f"
		tail -n 20 "$f" || true
	done
	exit 1
}

"$root/scripts/cluster" up 3 >"$PF_CLUSTER_DIR.out" 2>&1 || { cat "$PF_CLUSTER_DIR.out"; fail "up"; }
grep -q "host-2  dashboard http://127.0.0.1:$((PF_CLUSTER_PORT + 202))/" "$PF_CLUSTER_DIR.out" ||
	fail "no dashboard line"
rm -f "$PF_CLUSTER_DIR.out"
# Every host sees the two others.
for i in $(seq 50); do
	st=$("$root/scripts/cluster" status)
	[ "$(grep -c ' live, host-[0-9] live$' <<<"$st")" -eq 3 ] && break
	sleep 0.2
done
grep -c ' live, host-[0-9] live$' <<<"$st" | grep -qx 3 || { echo "$st"; fail "not every host sees the others"; }
[ "$(grep -c ': running' <<<"$st")" -eq 9 ] || { echo "$st"; fail "not 9 processes running"; }
echo "up 3: three etcd members, three hosts and their workers; every host sees the others"
# host-2 killed: lost to the others after its lease (5 s).
kill -KILL "$(cat "$PF_CLUSTER_DIR/host-2.pid")"
for i in $(seq 100); do
	st=$("$root/scripts/cluster" status)
	[ "$(grep -c 'host-2 lost' <<<"$st")" -eq 2 ] && break
	sleep 0.1
done
grep -c 'host-2 lost' <<<"$st" | grep -qx 2 || { echo "$st"; fail "host-2 not lost to both others"; }
echo "host-2 killed with kill -9: lost to host-0 and host-1"
"$root/scripts/cluster" down
[ ! -e "$PF_CLUSTER_DIR" ] || fail "$PF_CLUSTER_DIR left behind"
if pgrep -f "$PF_CLUSTER_DIR" >/dev/null; then fail "processes left running"; fi
if ls /dev/shm | grep -q "^pflight-cluster-$PF_CLUSTER_PORT-"; then fail "segments left"; fi
echo "down: nothing left"
echo ok
