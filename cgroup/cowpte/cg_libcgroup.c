// SPDX-License-Identifier: GPL-2.0
/*
 * cg on libcgroup: the memory controller's cgroup2 hierarchy as libcgroup
 * (2.0.2, Debian 12) sees it.
 *
 * Where libcgroup's answer loses the reason of a failure (see the comments
 * below), the file is checked with faccessat() first, so that the user is
 * told "permission denied" rather than "no such file".
 */
#include "cg.h"
#include "cowpte.h"

#include <libcgroup.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

/* libcgroup names the root cgroup "/"; cg calls it "". */
static const char *lib_name(const char *cg)
{
	return *cg ? cg : "/";
}

/* errno for what a libcgroup call returned. */
static int lib_errno(int ret)
{
	switch (ret) {
	case 0:
		return 0;
	case ECGOTHER:
		return cgroup_get_last_errno() ? : EIO;
	case ECGROUPNOTEXIST:
	case ECGROUPVALUENOTEXIST:
		return ENOENT;
	case ECGROUPNOTOWNER:
	case ECGROUPNOTALLOWED:
		return EPERM;
	default:
		cp_err("libcgroup: %s\n", cgroup_strerror(ret));
		return EIO;
	}
}

/* 0 when the effective user may access the file in the given mode. */
static int check_access(const char *cg, const char *file, int mode)
{
	char path[FILENAME_MAX];
	int ret;

	ret = cg_path(cg, file, path, sizeof(path));
	if (ret)
		return ret;
	if (faccessat(AT_FDCWD, path, mode, AT_EACCESS))
		return errno;

	return 0;
}

/* A struct cgroup for cg with the memory controller, or NULL. */
static struct cgroup *lib_cgroup(const char *cg)
{
	struct cgroup *cgroup;

	cgroup = cgroup_new_cgroup(lib_name(cg));
	if (cgroup && !cgroup_add_controller(cgroup, CG_CONTROLLER))
		cgroup_free(&cgroup);

	return cgroup;
}

static void strip_newline(char *s)
{
	s[strcspn(s, "\n")] = '\0';
}

static int lib_init(char **mount)
{
	struct statfs sfs;
	int ret;

	ret = cgroup_init();
	if (ret == ECGROUPNOTMOUNTED) {
		cp_err("no cgroup file system is mounted\n");
		cp_err("mount cgroup v2: mount -t cgroup2 none /sys/fs/cgroup\n");
		return CP_EXIT_NO_CGROUP2;
	}
	if (ret) {
		cp_err("libcgroup initialization failed: %s\n", cgroup_strerror(ret));
		return CP_EXIT_FAIL;
	}

	ret = cgroup_get_subsys_mount_point(CG_CONTROLLER, mount);
	if (ret) {
		cp_err("no mounted cgroup hierarchy has the memory controller\n");
		cp_err("mount cgroup v2 with it: mount -t cgroup2 none /sys/fs/cgroup\n");
		return CP_EXIT_NO_CGROUP2;
	}

	/* libcgroup 2.0.2 has no public call for the hierarchy's version. */
	if (statfs(*mount, &sfs))
		return cp_fail(errno, "%s", *mount);
	if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		cp_err("the memory controller is on a cgroup v1 hierarchy (%s)\n", *mount);
		cp_err("cgroup v2 is needed: boot with systemd.unified_cgroup_hierarchy=1 or cgroup_no_v1=memory\n");
		return CP_EXIT_NO_CGROUP2;
	}

	return 0;
}

static int lib_read(const char *cg, const char *file, char *buf, size_t size)
{
	void *handle = NULL;
	int ret;

	/* libcgroup 2.0.2 declares the file name non-const; it is not changed. */
	ret = cgroup_read_value_begin(CG_CONTROLLER, lib_name(cg), (char *)file, &handle,
				      buf, size);
	if (handle)
		cgroup_read_value_end(&handle);
	if (ret == ECGEOF) {
		buf[0] = '\0';
		return 0;
	}
	if (ret)
		return lib_errno(ret);

	strip_newline(buf);

	return 0;
}

static int lib_read_stats(const char *cg, cg_stat_fn fn, void *arg)
{
	struct cgroup_stat stat;
	void *handle = NULL;
	int ret, err = 0;

	/*
	 * cgroup_read_stats_begin() reports a memory.stat it cannot open as
	 * ECGINVAL, without errno.
	 */
	ret = check_access(cg, CG_CONTROLLER ".stat", R_OK);
	if (ret)
		return ret;

	ret = cgroup_read_stats_begin(CG_CONTROLLER, lib_name(cg), &handle, &stat);
	while (!ret && !err) {
		strip_newline(stat.value);
		err = fn(stat.name, stat.value, arg);
		if (!err)
			ret = cgroup_read_stats_next(&handle, &stat);
	}
	if (handle)
		cgroup_read_stats_end(&handle);
	if (err)
		return err;

	return ret == ECGEOF ? 0 : lib_errno(ret);
}

static int lib_write(const char *cg, const char *file, const char *value)
{
	struct cgroup_controller *ctrl;
	struct cgroup *cgroup;
	int ret;

	/*
	 * cgroup_modify_cgroup() reports a file it cannot open as
	 * ECGROUPVALUENOTEXIST, whatever the reason.
	 */
	ret = check_access(cg, file, W_OK);
	if (ret)
		return ret;

	cgroup = lib_cgroup(cg);
	if (!cgroup)
		return ENOMEM;

	ctrl = cgroup_get_controller(cgroup, CG_CONTROLLER);
	ret = cgroup_add_value_string(ctrl, file, value);
	if (!ret)
		ret = cgroup_modify_cgroup(cgroup);
	cgroup_free(&cgroup);

	return lib_errno(ret);
}

/* Name relative to the mount of a path the tree walk returned. */
static int walk_name(const char *full_path, char *buf, size_t size)
{
	const char *rel = full_path + strlen(cg_mount());
	size_t len;

	rel += strspn(rel, "/");
	len = strlen(rel);
	while (len && rel[len - 1] == '/')
		len--;
	if (len >= size)
		return ENAMETOOLONG;
	memcpy(buf, rel, len);
	buf[len] = '\0';

	return 0;
}

static int lib_walk(const char *cg, cg_walk_fn fn, void *arg)
{
	struct cgroup_file_info info;
	char name[FILENAME_MAX];
	void *handle = NULL;
	int base_level;
	int ret, err = 0;

	ret = cgroup_walk_tree_begin(CG_CONTROLLER, lib_name(cg), 0, &handle, &info,
				     &base_level);
	while (!ret && !err) {
		/* Files and the post-order visits of directories are skipped. */
		if (info.type == CGROUP_FILE_TYPE_DIR) {
			err = walk_name(info.full_path, name, sizeof(name));
			if (!err)
				err = fn(name, arg);
		}
		if (!err)
			ret = cgroup_walk_tree_next(0, &handle, &info, base_level);
	}
	/* A failed cgroup_walk_tree_begin() may leave no handle to end. */
	if (handle)
		cgroup_walk_tree_end(&handle);
	if (err)
		return err;

	return ret == ECGEOF ? 0 : lib_errno(ret);
}

static int lib_create(const char *cg)
{
	struct cgroup *cgroup;
	char *parent;
	int ret;

	parent = cg_parent(cg);
	if (!parent)
		return ENOMEM;
	ret = check_access(parent, NULL, W_OK);
	free(parent);
	if (ret)
		return ret;

	cgroup = lib_cgroup(cg);
	if (!cgroup)
		return ENOMEM;

	/* Ownership and modes as the kernel sets them. */
	ret = cgroup_create_cgroup(cgroup, 1);
	cgroup_free(&cgroup);

	/*
	 * libcgroup writes "+memory" to cgroup.subtree_control of every
	 * ancestor below the root (a no-op when it is there, as the caller
	 * checked) and reports a file it cannot open as ECGROUPVALUENOTEXIST.
	 * These files exist: what is left is permission.
	 */
	if (ret == ECGROUPVALUENOTEXIST)
		return EACCES;

	return lib_errno(ret);
}

static int lib_attach_self(const char *cg)
{
	struct cgroup *cgroup;
	int ret;

	/* cgroup_attach_task() returns ECGROUPNOTALLOWED for any open() failure. */
	ret = check_access(cg, "cgroup.procs", W_OK);
	if (ret)
		return ret;

	cgroup = lib_cgroup(cg);
	if (!cgroup)
		return ENOMEM;

	/* It moves the calling thread: cowpte has no other. */
	ret = cgroup_attach_task(cgroup);
	cgroup_free(&cgroup);

	return lib_errno(ret);
}

const struct cg_ops cg_libcgroup_ops = {
	.init		= lib_init,
	.read		= lib_read,
	.read_stats	= lib_read_stats,
	.write		= lib_write,
	.walk		= lib_walk,
	.create		= lib_create,
	.attach_self	= lib_attach_self,
};
