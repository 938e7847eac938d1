/*
 * audit_anchor.h - recording the audit chain head in the state store
 * (audit anchoring, docs/state.md). Internal.
 */
#ifndef AA_AUDIT_ANCHOR_H
#define AA_AUDIT_ANCHOR_H

#include "audit.h"
#include "store.h"

typedef struct aa__anchorer aa__anchorer;

/* Starts recording the heads of `audit` in `store` (a thread): *out NULL
 * and AA_OK when the store records none. Before the first commit. */
int aa__anchorer_start(aa__audit *audit, aa_store *store, aa__anchorer **out);
/* Stops, then records the last head (one try). When no commit runs any
 * more, before the writer and the store are closed. */
void aa__anchorer_stop(aa__anchorer *r);

/* path made absolute when it exists (the key anchors are recorded under). */
void aa__anchor_abs_path(const char *path, char *out, size_t size);

#endif /* AA_AUDIT_ANCHOR_H */
