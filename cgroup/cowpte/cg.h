/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cg: the cgroup v2 files cowpte reads and writes.
 *
 * On a real system every access goes through libcgroup (cg_libcgroup.c).
 * libcgroup only works on the hierarchies mounted on the machine, so the
 * host unit tests select a second implementation (cg_testroot.c) with
 * COWPTE_CGROUP_ROOT=DIR: DIR is then taken for the cgroup2 mount and its
 * files are accessed directly.  Everything above this layer is the same in
 * both cases.
 *
 * Cgroup names are relative to the mount, without leading or trailing
 * slashes; "" is the root cgroup.  Unless said otherwise the functions
 * return 0 or a positive errno value.
 */
#ifndef COWPTE_CG_H
#define COWPTE_CG_H

#include <stdbool.h>
#include <stddef.h>

#define CG_CONTROLLER	"memory"

/* Called for each name/value line of memory.stat; non-zero stops. */
typedef int (*cg_stat_fn)(const char *name, const char *value, void *arg);

/* Called for each cgroup of a subtree; non-zero stops the walk. */
typedef int (*cg_walk_fn)(const char *name, void *arg);

struct cg_ops {
	int (*init)(char **mount);
	int (*read)(const char *cg, const char *file, char *buf, size_t size);
	int (*read_stats)(const char *cg, cg_stat_fn fn, void *arg);
	int (*write)(const char *cg, const char *file, const char *value);
	int (*walk)(const char *cg, cg_walk_fn fn, void *arg);
	int (*create)(const char *cg);
	int (*attach_self)(const char *cg);
};

extern const struct cg_ops cg_libcgroup_ops;
extern const struct cg_ops cg_testroot_ops;

/*
 * Find the cgroup2 hierarchy that has the memory controller.  Prints what
 * is wrong and returns a CP_EXIT_* code when there is none.
 */
int cg_init(void);
void cg_exit(void);

/* Mount point of the hierarchy, valid after cg_init(). */
const char *cg_mount(void);

/* mount/cg[/file] into buf; ENAMETOOLONG when it does not fit. */
int cg_path(const char *cg, const char *file, char *buf, size_t size);

/* Cut a cgroup name to its parent's, in place; the root stays the root. */
void cg_to_parent(char *cg);

/* The parent's name, allocated, or NULL when out of memory. */
char *cg_parent(const char *cg);

/* Whether the cgroup directory exists. */
bool cg_exists(const char *cg);

/* First line of a file, without the newline. */
int cg_read(const char *cg, const char *file, char *buf, size_t size);

/* memory.stat of a cgroup, line by line. */
int cg_read_stats(const char *cg, cg_stat_fn fn, void *arg);

int cg_write(const char *cg, const char *file, const char *value);

/* The cgroup and every cgroup below it, parents before children. */
int cg_walk(const char *cg, cg_walk_fn fn, void *arg);

/* Create a cgroup whose parent exists and has memory in subtree_control. */
int cg_create(const char *cg);

/* Move the calling (single-threaded) process into a cgroup. */
int cg_attach_self(const char *cg);

#endif /* COWPTE_CG_H */
