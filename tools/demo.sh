#!/bin/sh
# The demonstration `make demo` runs inside the VM: the kernel, the cgroup
# tree, and the memory.cow_pte switch at work.
set -e
cg=/sys/fs/cgroup

echo "== kernel"
uname -r
cat /proc/cmdline

echo "== cgroup v2 root: controllers available to children"
cat $cg/cgroup.subtree_control

mkdir -p $cg/demo.slice/app
echo "+memory" > $cg/demo.slice/cgroup.subtree_control
echo "== a cgroup tree: demo.slice/app"
ls $cg/demo.slice/app | grep '^memory\.' | tr '\n' ' '
echo

if [ ! -e $cg/demo.slice/memory.cow_pte ]; then
	echo "== this kernel has no memory.cow_pte (CONFIG_COW_PTE is off)"
	exit 0
fi
show() {
	for d in demo.slice demo.slice/app; do
		printf '  %-16s memory.cow_pte=%s effective=%s\n' "$d" \
			"$(cat $cg/$d/memory.cow_pte)" \
			"$(cat $cg/$d/memory.cow_pte.effective)"
	done
}
echo "== before"
show
echo "== echo 1 > demo.slice/memory.cow_pte (opts the whole subtree in)"
echo 1 > $cg/demo.slice/memory.cow_pte
show
echo "== echo 2 > demo.slice/memory.cow_pte"
echo 2 > $cg/demo.slice/memory.cow_pte 2>&1 || echo "  refused, as it should be"
