// SPDX-License-Identifier: GPL-2.0
/*
 * output: a block of "key value" lines per cgroup for people, one JSON
 * document for programs.
 */
#include "output.h"
#include "cowpte.h"

#include <inttypes.h>
#include <string.h>

#define KEY_WIDTH	22	/* the longest memory.stat key, and a space */

void out_size(uint64_t bytes, char *buf, size_t size)
{
	static const char * const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	uint64_t unit = 1024, tenths;
	size_t i;

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return;
	}

	/* Tenths of the unit, rounded; 1023.95 KiB is 1.0 MiB. */
	for (i = 0;; i++, unit *= 1024) {
		tenths = bytes / unit * 10 + (bytes % unit * 10 + unit / 2) / unit;
		if (tenths < 10240 || i == ARRAY_SIZE(units) - 1)
			break;
	}
	snprintf(buf, size, "%" PRIu64 ".%" PRIu64 " %s", tenths / 10, tenths % 10, units[i]);
}

void out_effective(const struct cp_status *st, char *buf, size_t size)
{
	if (!st->effective)
		snprintf(buf, size, "off");
	else if (!st->decided_by)
		snprintf(buf, size, "on");
	else if (!strcmp(st->decided_by, st->cgroup))
		snprintf(buf, size, "on (set here)");
	else
		snprintf(buf, size, "on (inherited from %s)", st->decided_by);
}

static void human_line(FILE *f, const char *key, const char *value)
{
	fprintf(f, "  %-*s%s\n", KEY_WIDTH, key, value);
}

static void human_one(FILE *f, const struct cp_status *st)
{
	char buf[FILENAME_MAX + 32];
	size_t i;

	fprintf(f, "%s\n", cp_name(st->cgroup));
	human_line(f, "setting", st->setting < 0 ? "n/a (root cgroup)" :
				 st->setting ? "on" : "off");
	out_effective(st, buf, sizeof(buf));
	human_line(f, "effective", buf);

	for (i = 0; i < CP_NR_STATS; i++) {
		if (!st->has_stat[i])
			snprintf(buf, sizeof(buf), "-");
		else if (i < CP_FIRST_EVENT)
			out_size(st->stat[i], buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "%" PRIu64, st->stat[i]);
		human_line(f, cp_stat_names[i], buf);
	}
}

void out_human(FILE *f, const struct cp_status *sts, size_t nr, bool feature_off)
{
	size_t i;

	if (feature_off)
		fprintf(f, "cow_pte=off on the kernel command line: no fork shares page tables\n\n");

	for (i = 0; i < nr; i++) {
		if (i)
			fputc('\n', f);
		human_one(f, &sts[i]);
	}
}

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 if it is not. */
static size_t utf8_len(const unsigned char *s)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;

	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;

	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;

	return len;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD. */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;

	fputc('"', f);
	while (*p) {
		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
		} else {
			len = utf8_len(p);
			if (len)
				fwrite(p, 1, len, f);
			else
				fputs("\\ufffd", f);
			p += len ? len : 1;
		}
	}
	fputc('"', f);
}

static const char *json_bool(bool v)
{
	return v ? "true" : "false";
}

static void json_stat(FILE *f, const struct cp_status *st, size_t i, const char *indent)
{
	fprintf(f, "%s\"%s\": ", indent, cp_stat_names[i]);
	if (st->has_stat[i])
		fprintf(f, "%" PRIu64, st->stat[i]);
	else
		fputs("null", f);
	fputs(i == CP_FIRST_EVENT - 1 || i == CP_NR_STATS - 1 ? "\n" : ",\n", f);
}

static void json_one(FILE *f, const struct cp_status *st)
{
	size_t i;

	fputs("    {\n      \"cgroup\": ", f);
	json_string(f, cp_name(st->cgroup));
	fprintf(f, ",\n      \"setting\": %s,\n",
		st->setting < 0 ? "null" : json_bool(st->setting));
	fprintf(f, "      \"effective\": %s,\n", json_bool(st->effective));
	fputs("      \"decided_by\": ", f);
	if (st->decided_by)
		json_string(f, st->decided_by);
	else
		fputs("null", f);
	fputs(",\n      \"bytes\": {\n", f);
	for (i = 0; i < CP_FIRST_EVENT; i++)
		json_stat(f, st, i, "        ");
	fputs("      },\n      \"events\": {\n", f);
	for (i = CP_FIRST_EVENT; i < CP_NR_STATS; i++)
		json_stat(f, st, i, "        ");
	fputs("      }\n    }", f);
}

void out_json(FILE *f, const struct cp_status *sts, size_t nr, bool feature_off)
{
	size_t i;

	fprintf(f, "{\n  \"feature\": \"%s\",\n  \"cgroups\": [", feature_off ? "off" : "on");
	for (i = 0; i < nr; i++) {
		fputs(i ? ",\n" : "\n", f);
		json_one(f, &sts[i]);
	}
	fputs(nr ? "\n  ]\n}\n" : "]\n}\n", f);
}
