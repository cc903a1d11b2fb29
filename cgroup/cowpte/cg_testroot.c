// SPDX-License-Identifier: GPL-2.0
/*
 * cg on a test tree: COWPTE_CGROUP_ROOT=DIR takes DIR for the cgroup2 mount
 * and accesses its files directly, because libcgroup only works on the
 * hierarchies mounted on the machine (it reads /proc/mounts).  For the host
 * unit tests only; see ENVIRONMENT in cowpte.1.
 *
 * A cgroup created here gets a copy of the files in DIR/.new-cgroup, which
 * stands in for the interface files the kernel creates.
 */
#include "cg.h"
#include "cowpte.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMPLATE	".new-cgroup"

static int tr_init(char **mount)
{
	const char *root = getenv("COWPTE_CGROUP_ROOT");
	size_t len = strlen(root);
	struct stat st;

	if (stat(root, &st) || !S_ISDIR(st.st_mode)) {
		cp_err("COWPTE_CGROUP_ROOT=%s: no such directory\n", root);
		return CP_EXIT_NO_CGROUP2;
	}

	while (len > 1 && root[len - 1] == '/')
		len--;
	*mount = strndup(root, len);
	if (!*mount)
		return cp_fail(ENOMEM, "COWPTE_CGROUP_ROOT");

	return 0;
}

static FILE *tr_open(const char *cg, const char *file, int *err)
{
	char path[FILENAME_MAX];
	FILE *f;

	*err = cg_path(cg, file, path, sizeof(path));
	if (*err)
		return NULL;

	f = fopen(path, "re");
	if (!f)
		*err = errno;

	return f;
}

static int tr_read(const char *cg, const char *file, char *buf, size_t size)
{
	FILE *f;
	int err;

	f = tr_open(cg, file, &err);
	if (!f)
		return err;

	if (!fgets(buf, size, f))
		buf[0] = '\0';
	err = ferror(f) ? EIO : 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';

	return err;
}

static int tr_read_stats(const char *cg, cg_stat_fn fn, void *arg)
{
	char name[256], value[256];
	char *line = NULL;
	size_t len = 0;
	int err;
	FILE *f;

	f = tr_open(cg, CG_CONTROLLER ".stat", &err);
	if (!f)
		return err;

	while (!err && getline(&line, &len, f) >= 0) {
		if (sscanf(line, "%255s %255s", name, value) == 2)
			err = fn(name, value, arg);
	}
	if (!err && ferror(f))
		err = EIO;
	free(line);
	fclose(f);

	return err;
}

static int write_file(const char *path, const char *buf, size_t len)
{
	ssize_t done;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return errno;

	done = write(fd, buf, len);
	if (done < 0)
		err = errno;
	else if ((size_t)done != len)
		err = EIO;
	if (close(fd) && !err)
		err = errno;

	return err;
}

static int tr_write(const char *cg, const char *file, const char *value)
{
	char path[FILENAME_MAX];
	int err;

	err = cg_path(cg, file, path, sizeof(path));
	if (err)
		return err;

	return write_file(path, value, strlen(value));
}

static bool is_subdir(const struct dirent *de)
{
	return de->d_type == DT_DIR && strcmp(de->d_name, ".") &&
	       strcmp(de->d_name, "..") && strcmp(de->d_name, TEMPLATE);
}

/* Join a cgroup name and a child's name. */
static char *child_name(const char *cg, const char *child)
{
	char *name;

	if (asprintf(&name, "%s%s%s", cg, *cg ? "/" : "", child) < 0)
		return NULL;

	return name;
}

static int tr_walk(const char *cg, cg_walk_fn fn, void *arg)
{
	char path[FILENAME_MAX];
	struct dirent *de;
	char *name;
	DIR *dir;
	int err;

	err = cg_path(cg, NULL, path, sizeof(path));
	if (err)
		return err;
	dir = opendir(path);
	if (!dir)
		return errno;

	err = fn(cg, arg);
	while (!err && (de = readdir(dir))) {
		if (!is_subdir(de))
			continue;
		name = child_name(cg, de->d_name);
		if (!name) {
			err = ENOMEM;
			break;
		}
		err = tr_walk(name, fn, arg);
		free(name);
	}
	closedir(dir);

	return err;
}

/* Template files are a few bytes: one read() takes them. */
static int copy_file(const char *from, const char *to)
{
	char buf[4096];
	ssize_t len;
	int fd, err;

	fd = open(from, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	len = read(fd, buf, sizeof(buf));
	err = len < 0 ? errno : 0;
	close(fd);
	if (err)
		return err;

	fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	close(fd);

	return write_file(to, buf, len);
}

/* Copy the regular files of the template directory into a new cgroup. */
static int copy_template(const char *dest)
{
	char from[FILENAME_MAX], to[FILENAME_MAX];
	struct dirent *de;
	DIR *dir;
	int err;

	err = cg_path(TEMPLATE, NULL, from, sizeof(from));
	if (err)
		return err;
	dir = opendir(from);
	if (!dir)
		return errno == ENOENT ? 0 : errno;

	while (!err && (de = readdir(dir))) {
		if (de->d_type != DT_REG)
			continue;
		err = cg_path(TEMPLATE, de->d_name, from, sizeof(from));
		if (!err)
			err = cg_path(dest, de->d_name, to, sizeof(to));
		if (!err)
			err = copy_file(from, to);
	}
	closedir(dir);

	return err;
}

static int tr_create(const char *cg)
{
	char path[FILENAME_MAX];
	int err;

	err = cg_path(cg, NULL, path, sizeof(path));
	if (err)
		return err;
	if (mkdir(path, 0755))
		return errno;

	return copy_template(cg);
}

static int tr_attach_self(const char *cg)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());

	return tr_write(cg, "cgroup.procs", pid);
}

const struct cg_ops cg_testroot_ops = {
	.init		= tr_init,
	.read		= tr_read,
	.read_stats	= tr_read_stats,
	.write		= tr_write,
	.walk		= tr_walk,
	.create		= tr_create,
	.attach_self	= tr_attach_self,
};
