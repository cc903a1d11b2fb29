/* SPDX-License-Identifier: GPL-2.0 */
/*
 * state: what the kernel says about COW page tables for a cgroup, and the
 * checks that come before reading or changing it.
 *
 * Functions returning int return a CP_EXIT_* code and have told the user
 * what went wrong when it is not CP_EXIT_OK.
 */
#ifndef COWPTE_STATE_H
#define COWPTE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The memory.stat lines about page tables, gauges first. */
enum cp_stat {
	CP_PAGETABLES,
	CP_PAGETABLES_SHARED,
	CP_PAGETABLES_SAVED,
	CP_FIRST_EVENT,
	CP_SHARE = CP_FIRST_EVENT,
	CP_FALLBACK,
	CP_UNSHARE_COPY,
	CP_UNSHARE_REUSE,
	CP_UNSHARE_FAIL,
	CP_DROP,
	CP_NR_STATS,
};

/* memory.stat key of each enum cp_stat; the gauges are in bytes. */
extern const char * const cp_stat_names[CP_NR_STATS];

struct cp_status {
	char *cgroup;			/* "" for the root cgroup */
	int setting;			/* memory.cow_pte: 0, 1, -1 on the root */
	bool effective;			/* memory.cow_pte.effective */
	char *decided_by;		/* nearest cgroup holding 1, or NULL */
	uint64_t stat[CP_NR_STATS];
	bool has_stat[CP_NR_STATS];	/* the line was in memory.stat */
};

/* A list of cgroup names. */
struct cp_list {
	char **names;
	size_t nr;
	size_t alloc;
};

/* A command line CGROUP as a cg name; "/" (the root) is "". */
int cp_cgroup_name(const char *arg, char **name);

/* Whether the kernel command line holds cow_pte=off (or 0, n, no). */
int cp_feature_off(bool *off);

/* Fail with CP_EXIT_FEATURE_OFF when booted with cow_pte=off. */
int cp_require_feature_on(void);

/* The calling process's cgroup, from /proc/self/cgroup. */
int cp_self_cgroup(char **cg);

/* The cgroup exists and has the memory controller. */
int cp_check_cgroup(const char *cg);

/* The cgroup's parent exists and will give it the memory controller. */
int cp_check_new_cgroup(const char *cg);

/* Whether the memory controller is enabled for the cgroup (0 or errno). */
int cp_memcg_enabled(const char *cg, bool *enabled);

/*
 * Read the cgroup's setting, effective state and statistics; st is to be
 * freed with cp_free_status() whatever the result.
 */
int cp_get_status(const char *cg, struct cp_status *st);
void cp_free_status(struct cp_status *st);

/* Write memory.cow_pte (the cgroup was checked). */
int cp_set(const char *cg, bool on);

/* The cgroup and its descendants, parents first, siblings sorted. */
int cp_list_subtree(const char *cg, struct cp_list *list);
void cp_free_list(struct cp_list *list);

#endif /* COWPTE_STATE_H */
