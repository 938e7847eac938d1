/*
 * fsafe.h - opening the files agent-auth keeps (the audit log, the state
 * store) so that nobody else can choose what they are.
 *
 * A directory in a shared place (a `.agent_auth/` planted in /tmp by
 * another user, a symlink named like the log) must never make a process
 * read grants it did not write or append to a file it did not mean to. So
 * every file and the directory that holds it are checked here, in one
 * place, by every writer and reader:
 *
 *   - the directory that holds the file, and the file, belong to the
 *     effective user (also for root) and are not writable by group or
 *     others; directories above it are not checked (a user's own
 *     `.agent_auth/` inside /tmp keeps working);
 *   - the final path component is never followed as a symlink
 *     (O_NOFOLLOW);
 *   - the file is a regular file: it is opened with O_NONBLOCK and looked
 *     at with fstat before anything is read or written, so that a FIFO or
 *     a device fails at once instead of hanging or losing lines;
 *   - missing directories are created 0700, missing files 0600.
 *
 * Every message starts with "<what> '<path>': " so that the user sees which
 * file was refused and why.
 */
#ifndef AA_FSAFE_H
#define AA_FSAFE_H

#include <stdbool.h>
#include <sys/stat.h>

#include "util.h"

/* The file being opened, and how to word a refusal. */
typedef struct aa__fs_target {
    const char *what; /* "audit log", "state store" */
    const char *path;
    int status;       /* of an ordinary failure (a missing directory, an
                         open that fails): AA_EAUDIT, AA_ESTATE, ... */
    int refused;      /* of a refusal for safety (another user's file or
                         directory, group- or world-writable, a symlink,
                         not a regular file) */
    const char *hint; /* added to "not a regular file" refusals, or NULL */
} aa__fs_target;

/* How a file is opened. */
enum {
    AA__FS_READ = 1,   /* read only; ownership is not checked (reading an
                          audit log someone else wrote is legitimate) */
    AA__FS_WRITE = 2,  /* read and write: owner and mode are checked */
    AA__FS_CREATE = 4, /* create the file (0600) and its missing
                          directories (0700) when missing */
    AA__FS_APPEND = 8  /* O_APPEND */
};

/* Checks the directory that holds t->path: it exists, is a directory
 * owned by the effective user and not writable by group or others. With
 * create, a missing directory is made 0700 with its missing parents.
 * AA_OK; AA_ENOTFOUND (with a message) when it is missing and create is
 * false; t->refused when refused; t->status when it cannot be made. */
int aa__fs_check_dir(const aa__fs_target *t, bool create, aa_error *err);

/* Checks a stat of a file: a regular file, and with `owned`, owned by the
 * effective user and not writable by group or others. `name` is the file
 * as the message should name it (t->path when NULL). */
int aa__fs_check_file(const aa__fs_target *t, const char *name,
                      const struct stat *st, bool owned, aa_error *err);

/* Opens t->path (AA__FS_* flags). Writing, its directory is opened first
 * (O_DIRECTORY | O_NOFOLLOW: a directory that is a symlink is refused),
 * checked with fstat as aa__fs_check_dir says, and the file is opened
 * relative to that descriptor, so that renaming the directory, or putting a
 * symlink in its place, between the check and the open changes nothing.
 * The file is never opened through a symlink at the final component, never
 * blocking on a FIFO; then the open file is checked (aa__fs_check_file).
 * *fd gets a
 * close-on-exec, blocking descriptor and *st (optional) describes it.
 * Returns AA_OK; AA_ENOTFOUND when the file (or, writing without
 * AA__FS_CREATE, its directory) is missing; t->refused or t->status with
 * the reason in err otherwise (*fd is then -1). */
int aa__fs_open(const aa__fs_target *t, int how, int *fd, struct stat *st,
                aa_error *err);

/* Tests only (NULL otherwise): called by aa__fs_open between the check of
 * the directory and the open of the file, with the directory's path, so
 * that a test can replace the directory right there. */
extern void (*aa__fs_test_hook)(const char *dir);

/* Checks the files SQLite and the store keep beside a database (path
 * followed by each suffix, NULL-terminated): each one that exists must be
 * a regular file, not a symlink, owned by the effective user and not
 * writable by group or others. */
int aa__fs_check_siblings(const aa__fs_target *t, const char *const *suffixes,
                          aa_error *err);

/* Is st the file that path names now (not following a final symlink)? */
bool aa__fs_same_file(const char *path, const struct stat *st);

#endif /* AA_FSAFE_H */
