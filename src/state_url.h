/*
 * state_url.h - where the state lives: a file path, `sqlite:PATH`, or a
 * PostgreSQL URL (`postgresql://` or `postgres://`), and how such a
 * location is written in a message without its password.
 */
#ifndef AA_STATE_URL_H
#define AA_STATE_URL_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { AA__LOC_SQLITE, AA__LOC_POSTGRES } aa__loc_kind;

/* Classifies loc. AA_OK with *kind, and for SQLite *path pointing into
 * loc (after any `sqlite:`); AA_EINVAL with why (a sentence naming the
 * location without its password) for an unknown `scheme://`, an empty
 * path or a malformed PostgreSQL URL. */
int aa__state_url_parse(const char *loc, aa__loc_kind *kind, const char **path,
                        char *why, size_t why_size);
/* aa__state_url_parse without the results. */
int aa__state_url_check(const char *loc, char *why, size_t why_size);
/* loc with the password of a URL's user info and any `password=` value
 * replaced by "***", cut to fit buf (size bytes). */
void aa__state_url_redact(const char *loc, char *buf, size_t size);
/* A PostgreSQL schema name we accept: [a-z_][a-z0-9_]{0,62}. */
bool aa__pg_ident_ok(const char *s);

#endif /* AA_STATE_URL_H */
