/* SPDX-License-Identifier: GPL-2.0 */
/*
 * output: cowpte status for people and for programs (JSON).
 */
#ifndef COWPTE_OUTPUT_H
#define COWPTE_OUTPUT_H

#include "state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "512 B", "4.0 KiB", "2.0 MiB", ... */
void out_size(uint64_t bytes, char *buf, size_t size);

/* "on (set here)", "on (inherited from X)" or "off". */
void out_effective(const struct cp_status *st, char *buf, size_t size);

void out_human(FILE *f, const struct cp_status *sts, size_t nr, bool feature_off);
void out_json(FILE *f, const struct cp_status *sts, size_t nr, bool feature_off);

#endif /* COWPTE_OUTPUT_H */
