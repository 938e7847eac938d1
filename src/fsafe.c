/* fsafe.c - the checks of fsafe.h: who owns a file, what kind it is, and
 * opening it without following a symlink or blocking. */
#include "fsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "not a regular file";
}

/* Owned by the effective user (root too: a file root did not make is
 * someone else's) and not writable by group or others. */
static int check_private(const aa__fs_target *t, const char *kind,
                         const char *name, const struct stat *st,
                         aa_error *err) {
    uid_t me = geteuid();
    if (st->st_uid != me)
        return aa__fail(err, t->refused,
                        "%s '%s': %s '%s' belongs to another user (uid %lu, "
                        "you are uid %lu): refusing to use it",
                        t->what, t->path, kind, name, (unsigned long)st->st_uid,
                        (unsigned long)me);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return aa__fail(err, t->refused,
                        "%s '%s': %s '%s' is writable by %s (mode %04o): "
                        "refusing to use it (chmod go-w '%s' if it is yours)",
                        t->what, t->path, kind, name,
                        (st->st_mode & S_IWOTH) ? "others" : "its group",
                        (unsigned)(st->st_mode & 07777), name);
    return AA_OK;
}

int aa__fs_check_file(const aa__fs_target *t, const char *name,
                      const struct stat *st, bool owned, aa_error *err) {
    if (!S_ISREG(st->st_mode))
        return aa__fail(err, t->refused,
                        "%s '%s': %s%s%sis %s, not a regular file%s%s", t->what,
                        t->path, name ? "'" : "", name ? name : "",
                        name ? "' " : "", kind_of(st->st_mode),
                        t->hint ? "; " : "", t->hint ? t->hint : "");
    return owned ? check_private(t, "file", name ? name : t->path, st, err)
                 : AA_OK;
}

/* The directory part of path ("." when none), malloc'd. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    while (slash > path && slash[-1] == '/')
        slash--;
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Creates dir and its missing parents, each 0700 (whatever the umask). */
static int make_dirs(const aa__fs_target *t, const char *dir, aa_error *err) {
    char *p = strdup(dir);
    if (!p)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    int rc = AA_OK;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0)
            continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0700) == 0) {
            if (chmod(p, 0700) != 0) {
                /* mkdir's mode is already owner-only under any umask */
            }
        } else if (errno != EEXIST) {
            rc = aa__fail(err, t->status,
                          "%s '%s': cannot create directory '%s': %s", t->what,
                          t->path, p, strerror(errno));
            break;
        }
        *s = c;
        if (c == 0)
            break;
    }
    free(p);
    return rc;
}

int aa__fs_check_dir(const aa__fs_target *t, bool create, aa_error *err) {
    char *dir = dir_of(t->path);
    if (!dir)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    struct stat st;
    int rc = AA_OK;
    int missing = stat(dir, &st) != 0 ? errno : 0;
    if (missing == ENOENT) {
        if (!create)
            rc = aa__fail(err, AA_ENOTFOUND,
                          "%s '%s': directory '%s' does not exist", t->what,
                          t->path, dir);
        else
            rc = make_dirs(t, dir, err);
        if (rc == AA_OK && stat(dir, &st) != 0)
            rc = aa__fail(err, t->status, "%s '%s': directory '%s': %s",
                          t->what, t->path, dir, strerror(errno));
    } else if (missing) {
        rc = aa__fail(err, t->status, "%s '%s': directory '%s': %s", t->what,
                      t->path, dir, strerror(missing));
    }
    if (rc == AA_OK && !S_ISDIR(st.st_mode))
        rc = aa__fail(err, t->status, "%s '%s': '%s': %s", t->what, t->path,
                      dir, strerror(ENOTDIR));
    if (rc == AA_OK)
        rc = check_private(t, "directory", dir, &st, err);
    free(dir);
    return rc;
}

void (*aa__fs_test_hook)(const char *dir);

/* Opens the directory that holds t->path (creating it, with `create`) and
 * checks what was opened: a directory, never through a symlink at its last
 * component, owned by the effective user and not writable by group or
 * others. *dfd gets the descriptor: the file is then opened relative to
 * it, so a rename of the directory after the check changes nothing. */
static int open_dir(const aa__fs_target *t, bool create, int *dfd,
                    aa_error *err) {
    *dfd = -1;
    char *dir = dir_of(t->path);
    if (!dir)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    int rc = AA_OK;
    struct stat st;
    if (create && lstat(dir, &st) != 0 && errno == ENOENT)
        rc = make_dirs(t, dir, err);
    int fd = rc == AA_OK
                 ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                 : -1;
    if (rc == AA_OK && fd < 0) {
        int e = errno;
        if ((e == ELOOP || e == ENOTDIR) && lstat(dir, &st) == 0 &&
            S_ISLNK(st.st_mode))
            rc = aa__fail(err, t->refused,
                          "%s '%s': directory '%s' is a symbolic link: "
                          "refusing to follow it",
                          t->what, t->path, dir);
        else if (e == ENOENT)
            rc = aa__fail(err, AA_ENOTFOUND,
                          "%s '%s': directory '%s' does not exist", t->what,
                          t->path, dir);
        else
            rc = aa__fail(err, t->status, "%s '%s': directory '%s': %s",
                          t->what, t->path, dir, strerror(e));
    }
    if (rc == AA_OK && fstat(fd, &st) != 0)
        rc = aa__fail(err, t->status, "%s '%s': directory '%s': %s", t->what,
                      t->path, dir, strerror(errno));
    if (rc == AA_OK && !S_ISDIR(st.st_mode))
        rc = aa__fail(err, t->status, "%s '%s': '%s': %s", t->what, t->path,
                      dir, strerror(ENOTDIR));
    if (rc == AA_OK)
        rc = check_private(t, "directory", dir, &st, err);
    if (rc == AA_OK && aa__fs_test_hook)
        aa__fs_test_hook(dir);
    free(dir);
    if (rc != AA_OK) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    *dfd = fd;
    return AA_OK;
}

/* The last component of path. */
static const char *base_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int aa__fs_open(const aa__fs_target *t, int how, int *fd, struct stat *st,
                aa_error *err) {
    *fd = -1;
    bool write = how & AA__FS_WRITE;
    struct stat ls;
    if (lstat(t->path, &ls) == 0) { /* what it is, before where it is */
        if (S_ISLNK(ls.st_mode))
            return aa__fail(err, t->refused,
                            "%s '%s': is a symbolic link: refusing to follow "
                            "it",
                            t->what, t->path);
        if (!S_ISREG(ls.st_mode))
            return aa__fs_check_file(t, NULL, &ls, false, err);
    }
    int dfd = AT_FDCWD;
    const char *name = t->path;
    if (write) { /* the file is opened in the directory that was checked */
        int rc = open_dir(t, how & AA__FS_CREATE, &dfd, err);
        if (rc != AA_OK)
            return rc;
        name = base_of(t->path);
        if (!*name) {
            close(dfd);
            return aa__fail(err, t->status, "%s '%s': %s", t->what, t->path,
                            strerror(EISDIR));
        }
    }
    int flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW |
                O_NONBLOCK | O_NOCTTY;
    if (how & AA__FS_APPEND)
        flags |= O_APPEND;
    if (how & AA__FS_CREATE)
        flags |= O_CREAT;
    int f = openat(dfd, name, flags, 0600);
    int e = errno;
    if (f < 0 && e == ELOOP &&
        fstatat(dfd, name, &ls, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(ls.st_mode)) {
        if (dfd != AT_FDCWD)
            close(dfd);
        return aa__fail(err, t->refused,
                        "%s '%s': is a symbolic link: refusing to follow it",
                        t->what, t->path);
    }
    if (dfd != AT_FDCWD)
        close(dfd);
    if (f < 0)
        return aa__fail(err, e == ENOENT ? AA_ENOTFOUND : t->status,
                        "%s '%s': %s", t->what, t->path, strerror(e));
    struct stat fs;
    int rc = AA_OK;
    if (fstat(f, &fs) != 0)
        rc = aa__fail(err, t->status, "%s '%s': %s", t->what, t->path,
                      strerror(errno));
    else
        rc = aa__fs_check_file(t, NULL, &fs, write, err);
    int fl = rc == AA_OK ? fcntl(f, F_GETFL) : -1;
    if (rc == AA_OK && (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0))
        rc = aa__fail(err, t->status, "%s '%s': %s", t->what, t->path,
                      strerror(errno));
    if (rc != AA_OK) {
        close(f);
        return rc;
    }
    if (st)
        *st = fs;
    *fd = f;
    return AA_OK;
}

int aa__fs_check_siblings(const aa__fs_target *t, const char *const *suffixes,
                          aa_error *err) {
    size_t n = strlen(t->path) + 16;
    char *p = malloc(n);
    if (!p)
        return aa__fail(err, AA_ENOMEM, "out of memory");
    int rc = AA_OK;
    for (size_t i = 0; suffixes[i] && rc == AA_OK; i++) {
        if (strlen(suffixes[i]) > 15)
            continue;
        snprintf(p, n, "%s%s", t->path, suffixes[i]);
        struct stat st;
        if (lstat(p, &st) != 0)
            continue; /* missing: made by us when needed */
        if (S_ISLNK(st.st_mode))
            rc = aa__fail(err, t->refused,
                          "%s '%s': '%s' is a symbolic link: refusing to "
                          "follow it",
                          t->what, t->path, p);
        else
            rc = aa__fs_check_file(t, p, &st, true, err);
    }
    free(p);
    return rc;
}

bool aa__fs_same_file(const char *path, const struct stat *st) {
    struct stat ps;
    return lstat(path, &ps) == 0 && ps.st_dev == st->st_dev &&
           ps.st_ino == st->st_ino;
}
