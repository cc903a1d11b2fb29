#!/bin/sh
# The 1 GiB fork-latency check of docs/results.md: 21 alternating repetitions
# of fork and fork+exit, opted in and not, in one boot.  Run in the VM:
#   tools/vm/run-vm --kernel build/obj-bench/arch/x86/boot/bzImage --mem 4G \
#       -- tools/bench/fork-1g-quiet.sh   (FORKBENCH=path of forkbench)
set -e
cg=/sys/fs/cgroup/fb
mkdir -p $cg
echo +memory > $cg/cgroup.subtree_control
mkdir -p $cg/on $cg/off
echo 1 > $cg/on/memory.cow_pte
echo 0 > $cg/off/memory.cow_pte
${FORKBENCH:-build/bench/bin/forkbench} -s 1G -p 4k -t fork,exit -r 21 -g off=$cg/off -g on=$cg/on -m $cg -k bench -o /tmp/fork-1g.csv
