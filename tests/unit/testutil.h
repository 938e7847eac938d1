/* testutil.h - helpers shared by the unit tests. */
#ifndef AA_TESTUTIL_H
#define AA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent_auth.h"

/* The source tree (AA_SOURCE_DIR, else "."), and a path inside it. */
const char *tu_source_dir(void);
char *tu_path(const char *rel); /* malloc'd */
/* Reads a whole file; NULL if it cannot. *len optional. malloc'd. */
char *tu_read_file(const char *path, size_t *len);
/* Writes a file (creating it), returns 0 on success. */
int tu_write_file(const char *path, const char *data);
/* A fresh temporary directory (removed by tu_rmdir). malloc'd. */
char *tu_tmpdir(void);
void tu_rmdir(const char *dir);
/* dir/name. malloc'd. */
char *tu_join(const char *dir, const char *name);
/* A test's fresh temporary directory and the path of a file in it (not
 * made yet); tu_dir_file_free removes the directory. */
typedef struct tu_dir_file {
    char *dir;
    char *path; /* dir/name */
} tu_dir_file;
tu_dir_file *tu_dir_file_new(const char *name);
void tu_dir_file_free(tu_dir_file *f);
/* As cmocka setup and teardown: *state is a tu_dir_file for the file
 * audit.jsonl (the audit tests). */
int tu_setup_audit_file(void **state);
int tu_teardown_dir_file(void **state);
/* Joins every message of err into one malloc'd string, one per line. */
char *tu_error_text(const aa_error *err);
/* From now on every write to a regular file fails with EFBIG, as on a full
 * disk (RLIMIT_FSIZE 0, SIGXFSZ ignored); tu_fsize_restore undoes it. */
void tu_fsize_zero(void);
void tu_fsize_restore(void);

#endif
