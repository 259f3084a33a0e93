/* version: what this binary is, embedded at build time from git and the libraries. */
#ifndef CORE_VERSION_H
#define CORE_VERSION_H

#include <stdio.h>

struct buf;

/* The short version: git describe output. */
const char *version_string(void);
/* Prints version, commit, build date, compiler and library versions, one per line. */
void version_print_full(FILE *out);
/* Appends the same facts as one JSON object. Returns 0 or -EMSGSIZE. */
int version_to_json(struct buf *out);

#endif
