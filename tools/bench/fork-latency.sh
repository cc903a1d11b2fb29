#!/bin/sh
# fork-latency in a plain and an opted-in cgroup, alternating, in one boot.
# Usage: fork-latency.sh SIZE_MIB REPS ROUNDS
set -e
bin=$(dirname "$0")/fork-latency
root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
mkdir -p "$root/bench_plain" "$root/bench_cow_pte"
echo 1 > "$root/bench_cow_pte/memory.cow_pte"
i=0
while [ $i -lt "${3:-3}" ]; do
	for cg in bench_plain bench_cow_pte; do
		printf '%-14s ' "$cg"
		sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh \
			"$root/$cg" "$bin" "$1" "$2"
	done
	i=$((i + 1))
done
