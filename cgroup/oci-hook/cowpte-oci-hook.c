// SPDX-License-Identifier: GPL-2.0
/*
 * cowpte-oci-hook: an OCI runtime hook (createRuntime or prestart) that opts
 * a container's memory cgroup in to COW page tables at fork, when the
 * container carries the annotation io.cowpte.enable=1.
 *
 * For runtimes and engines that cannot pass linux.resources.unified
 * {"memory.cow_pte": "1"}.  The runtime gives the container's state (JSON)
 * on stdin: its pid and bundle.  The hook reads the annotations of the
 * bundle's config.json (or, if config.json has none, those of the state),
 * finds the container's cgroup (from /proc/PID/cgroup, or from
 * linux.cgroupsPath when the process is gone), and writes 1 to its
 * memory.cow_pte.  Without the annotation, or with the value 0, it does
 * nothing and exits 0.
 *
 * Exit status: 0 done (or nothing to do), 1 the cgroup could not be opted
 * in, 2 bad input (state, config.json or annotation value).
 *
 * Environment, for tests: COWPTE_CGROUP_ROOT replaces the cgroup2 mount
 * point, COWPTE_PROC_ROOT replaces /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ANNOTATION	"io.cowpte.enable"
#define HOOK_VERSION	"0.1"

#define EXIT_FAIL	1
#define EXIT_INPUT	2

/* The default parent slice of runc's systemd driver. */
#define DEFAULT_SLICE	"system.slice"

static const char *container_id = "?";

static void err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cowpte-oci-hook: container %s: ", container_id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *proc_root(void)
{
	const char *p = getenv("COWPTE_PROC_ROOT");

	return p && *p ? p : "/proc";
}

/* The cgroup2 mount point, or NULL. */
static char *cgroup_root(void)
{
	const char *env = getenv("COWPTE_CGROUP_ROOT");
	char path[PATH_MAX], dev[256], dir[PATH_MAX], type[64];
	char *found = NULL;
	FILE *f;

	if (env && *env)
		return strdup(env);

	snprintf(path, sizeof(path), "%s/self/mounts", proc_root());
	f = fopen(path, "r");
	if (!f)
		return NULL;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			found = strdup(dir);
			break;
		}
	}
	fclose(f);

	return found;
}

static char *read_all(FILE *f)
{
	size_t len = 0, size = 4096;
	char *buf = malloc(size);
	size_t n;

	if (!buf)
		return NULL;
	while ((n = fread(buf + len, 1, size - len - 1, f)) > 0) {
		len += n;
		if (size - len - 1 == 0) {
			char *bigger = realloc(buf, size * 2);

			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			size *= 2;
		}
	}
	if (ferror(f)) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';

	return buf;
}

/* Parse a whole string as one JSON object. */
static struct json_object *parse_object(const char *text, const char *what)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	enum json_tokener_error jerr;

	if (!tok) {
		err("out of memory");
		return NULL;
	}
	obj = json_tokener_parse_ex(tok, text, strlen(text));
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_success &&
	    text[json_tokener_get_parse_end(tok) +
		 strspn(text + json_tokener_get_parse_end(tok), " \t\r\n")]) {
		err("%s: text after the JSON document", what);
		json_object_put(obj);
		obj = NULL;
	} else if (jerr != json_tokener_success) {
		err("%s is not valid JSON: %s", what,
		    jerr == json_tokener_continue ? "unexpected end of input" :
		    json_tokener_error_desc(jerr));
		obj = NULL;
	} else if (!json_object_is_type(obj, json_type_object)) {
		err("%s is not a JSON object", what);
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);

	return obj;
}

/* A string member, NULL when absent; *bad is set when it is not a string. */
static const char *get_string(struct json_object *obj, const char *key, bool *bad)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		*bad = true;
		return NULL;
	}

	return json_object_get_string(v);
}

static struct json_object *get_object(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;

	return v;
}

/*
 * The annotation's value: 1 opt in, 0 not, -1 bad value or type.
 * config.json's annotations decide when it has the key; else the state's.
 */
static int wanted(struct json_object *config, struct json_object *state)
{
	struct json_object *sources[] = {
		get_object(config, "annotations"), get_object(state, "annotations"),
	};
	const char *v = NULL;
	bool bad = false;
	size_t i;

	for (i = 0; i < 2 && !v && !bad; i++)
		v = get_string(sources[i], ANNOTATION, &bad);
	if (bad) {
		err("annotation %s is not a string", ANNOTATION);
		return -1;
	}
	if (!v)
		return 0;
	if (!strcmp(v, "1") || !strcmp(v, "true"))
		return 1;
	if (!strcmp(v, "0") || !strcmp(v, "false") || !*v)
		return 0;
	err("annotation %s=\"%s\": the value must be 1 or true (opt in), 0 or false", ANNOTATION, v);

	return -1;
}

/* Append systemd's path of a slice unit: a-b.slice is a.slice/a-b.slice. */
static int append_slice(char *buf, size_t size, const char *slice)
{
	size_t len = strlen(slice) - strlen(".slice");
	const char *dash;

	if (!strcmp(slice, "-.slice"))
		return 0;
	for (dash = strchr(slice, '-'); dash && (size_t)(dash - slice) < len;
	     dash = strchr(dash + 1, '-')) {
		if (strlen(buf) + (dash - slice) + 8 >= size)
			return -1;
		strcat(buf, "/");
		strncat(buf, slice, dash - slice);
		strcat(buf, ".slice");
	}
	if (strlen(buf) + strlen(slice) + 2 >= size)
		return -1;
	strcat(buf, "/");
	strcat(buf, slice);

	return 0;
}

static bool valid_slice(const char *s)
{
	size_t n = strlen(s);

	return n > 6 && !strcmp(s + n - 6, ".slice") && !strchr(s, '/') &&
	       s[0] != '-' && !strstr(s, "--") && s[n - 7] != '-';
}

/*
 * The cgroup (below the cgroup2 mount, with a leading slash) that
 * linux.cgroupsPath names.  "SLICE:PREFIX:NAME" is the systemd driver's
 * form: SLICE/PREFIX-NAME.scope (runc's and crun's naming); a plain path is
 * relative to the cgroup2 mount.
 */
static int cgroups_path_to_cgroup(const char *p, char *buf, size_t size)
{
	const char *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char slice[256], prefix[256], name[256];

	buf[0] = '\0';
	if (!c1) {
		if (snprintf(buf, size, "%s%s", p[0] == '/' ? "" : "/", p) >= (int)size)
			return -1;
		return 0;
	}
	if (!c2 || strchr(c2 + 1, ':') || (size_t)(c1 - p) >= sizeof(slice) ||
	    (size_t)(c2 - c1 - 1) >= sizeof(prefix) || strlen(c2 + 1) >= sizeof(name) ||
	    !c2[1]) {
		err("linux.cgroupsPath \"%s\": expected a path or SLICE:PREFIX:NAME", p);
		return -1;
	}
	snprintf(slice, sizeof(slice), "%.*s", (int)(c1 - p), p);
	snprintf(prefix, sizeof(prefix), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
	snprintf(name, sizeof(name), "%s", c2 + 1);
	if (!slice[0])
		strcpy(slice, DEFAULT_SLICE);
	if (!valid_slice(slice) || strchr(prefix, '/') || strchr(name, '/')) {
		err("linux.cgroupsPath \"%s\": not a valid SLICE:PREFIX:NAME", p);
		return -1;
	}
	if (append_slice(buf, size, slice))
		return -1;
	if (valid_slice(name))	/* the container is a slice of its own */
		return append_slice(buf, size, name);
	if (snprintf(buf + strlen(buf), size - strlen(buf), "/%s%s%s.scope",
		     prefix, prefix[0] ? "-" : "", name) >= (int)(size - strlen(buf)))
		return -1;

	return 0;
}

/* The cgroup v2 path of a process ("0::/path" in /proc/PID/cgroup). */
static int pid_to_cgroup(long pid, char *buf, size_t size)
{
	char path[PATH_MAX], line[PATH_MAX + 8];
	int found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%ld/cgroup", proc_root(), pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (strlen(line + 3) < size) {
			memcpy(buf, line + 3, strlen(line + 3) + 1);
			found = 0;
		}
		break;
	}
	fclose(f);

	return found;
}

/* Write 1 to memory.cow_pte of CG (below ROOT); 0 or EXIT_FAIL. */
static int opt_in(const char *root, const char *cg, const char *how)
{
	char dir[PATH_MAX], file[PATH_MAX];
	struct stat st;
	int fd, e;

	if (!strcmp(cg, "/") || !cg[0]) {
		err("the container runs in the root cgroup (%s), which has no memory.cow_pte", how);
		return EXIT_FAIL;
	}
	if (snprintf(dir, sizeof(dir), "%s%s", root, cg) >= (int)sizeof(dir) ||
	    snprintf(file, sizeof(file), "%s/memory.cow_pte", dir) >= (int)sizeof(file)) {
		err("cgroup path too long: %s", cg);
		return EXIT_FAIL;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		err("cgroup %s (%s) does not exist: no directory %s", cg, how, dir);
		return EXIT_FAIL;
	}
	/* No O_CREAT: cgroupfs has the file or the feature is not there. */
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			err("no %s: the kernel has no COW page tables, or the memory controller is not enabled for %s (add +memory to its parent's cgroup.subtree_control)",
			    file, cg);
		else
			err("cannot open %s: %s", file, strerror(e));
		return EXIT_FAIL;
	}
	e = write(fd, "1\n", 2) == 2 ? 0 : errno ? errno : EIO;
	close(fd);
	if (e) {
		if (e == EOPNOTSUPP)
			err("cannot write 1 to %s: %s (the kernel was booted with cow_pte=off)",
			    file, strerror(e));
		else
			err("cannot write 1 to %s: %s", file, strerror(e));
		return EXIT_FAIL;
	}

	return 0;
}

static int usage(FILE *f, int status)
{
	fprintf(f,
		"Usage: cowpte-oci-hook [-v]   (OCI state JSON on stdin)\n"
		"\n"
		"OCI createRuntime/prestart hook: when the container carries the\n"
		"annotation " ANNOTATION "=1 (or true), write 1 to memory.cow_pte of\n"
		"its cgroup, so that forks in the container share page tables.\n"
		"Without the annotation, or with 0/false, do nothing.\n"
		"  -v   say what was done on stderr\n");

	return status;
}

int main(int argc, char **argv)
{
	struct json_object *state = NULL, *config = NULL, *jpid, *linux_obj;
	const char *bundle, *cgroups_path;
	char cg[PATH_MAX], how[PATH_MAX + 64], config_path[PATH_MAX];
	char *text = NULL, *root = NULL;
	bool bad = false, verbose = false;
	int ret = EXIT_INPUT, want;
	long pid = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage(stdout, 0);
		else if (!strcmp(argv[i], "--version"))
			return puts("cowpte-oci-hook " HOOK_VERSION) == EOF;
		else
			return usage(stderr, EXIT_INPUT);
	}

	text = read_all(stdin);
	if (!text) {
		err("cannot read the container state from stdin: %s", strerror(errno));
		goto out;
	}
	state = parse_object(text, "the container state on stdin");
	if (!state)
		goto out;
	container_id = get_string(state, "id", &bad);
	if (!container_id)
		container_id = "?";
	bundle = get_string(state, "bundle", &bad);
	if (bad) {
		err("the container state has a member of the wrong type (id, bundle)");
		goto out;
	}
	if (json_object_object_get_ex(state, "pid", &jpid)) {
		if (!json_object_is_type(jpid, json_type_int) ||
		    (pid = json_object_get_int64(jpid)) < 0) {
			err("the container state's pid is not a process id");
			goto out;
		}
	}
	if (!bundle) {
		err("the container state names no bundle");
		goto out;
	}
	if (snprintf(config_path, sizeof(config_path), "%s/config.json", bundle) >=
	    (int)sizeof(config_path)) {
		err("bundle path too long");
		goto out;
	}
	free(text);
	{
		FILE *f = fopen(config_path, "r");

		if (!f) {
			err("cannot open %s: %s", config_path, strerror(errno));
			text = NULL;
			goto out;
		}
		text = read_all(f);
		fclose(f);
	}
	if (!text) {
		err("cannot read %s", config_path);
		goto out;
	}
	config = parse_object(text, config_path);
	if (!config)
		goto out;

	want = wanted(config, state);
	if (want < 0)
		goto out;
	if (!want) {
		if (verbose)
			err("no %s=1 annotation: nothing to do", ANNOTATION);
		ret = 0;
		goto out;
	}

	linux_obj = get_object(config, "linux");
	cgroups_path = get_string(linux_obj, "cgroupsPath", &bad);
	if (bad) {
		err("linux.cgroupsPath in %s is not a string", config_path);
		goto out;
	}

	ret = EXIT_FAIL;
	root = cgroup_root();
	if (!root) {
		err("no cgroup v2 mount (cgroup v1 or hybrid hierarchy?): memory.cow_pte is a cgroup v2 file");
		goto out;
	}
	if (pid > 0 && !pid_to_cgroup(pid, cg, sizeof(cg))) {
		snprintf(how, sizeof(how), "from %s/%ld/cgroup", proc_root(), pid);
	} else if (cgroups_path) {
		if (cgroups_path_to_cgroup(cgroups_path, cg, sizeof(cg)))
			goto out;
		snprintf(how, sizeof(how), "from linux.cgroupsPath \"%s\"", cgroups_path);
	} else {
		if (pid > 0)
			err("cannot read the cgroup of process %ld (%s/%ld/cgroup, no \"0::\" line) and %s has no linux.cgroupsPath",
			    pid, proc_root(), pid, config_path);
		else
			err("the state has no pid and %s has no linux.cgroupsPath: cannot find the container's cgroup",
			    config_path);
		goto out;
	}
	ret = opt_in(root, cg, how);
	if (!ret && verbose)
		err("wrote 1 to memory.cow_pte of cgroup %s (%s)", cg, how);
out:
	json_object_put(state);
	json_object_put(config);
	free(text);
	free(root);

	return ret;
}
