/* grant.c - freeing sessions, delegation grants and stores; pair keys. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

void aa_session_clear(aa_session *s) {
    if (!s)
        return;
    free(s->agent);
    free(s->user);
    free(s->scope);
    memset(s, 0, sizeof *s);
}

void aa_delegation_clear(aa_delegation *d) {
    if (!d)
        return;
    free(d->from_user);
    free(d->to_agent);
    for (size_t i = 0; d->actions && i < d->action_count; i++)
        free(d->actions[i]);
    free(d->actions);
    free(d->reason);
    memset(d, 0, sizeof *d);
}

void aa_session_list_free(aa_session *list, size_t n) {
    for (size_t i = 0; list && i < n; i++)
        aa_session_clear(&list[i]);
    free(list);
}

void aa_delegation_list_free(aa_delegation *list, size_t n) {
    for (size_t i = 0; list && i < n; i++)
        aa_delegation_clear(&list[i]);
    free(list);
}

void aa_store_free(aa_store *store) {
    if (store && store->ops && store->ops->close)
        store->ops->close(store);
}

char *aa__pair_key(const char *agent, const char *user, char *buf,
                   size_t bufsize, size_t *len) {
    size_t la = strlen(agent), lu = strlen(user);
    *len = la + 1 + lu;
    char *k = *len + 1 <= bufsize ? buf : malloc(*len + 1);
    if (!k)
        return NULL;
    memcpy(k, agent, la + 1);
    memcpy(k + la + 1, user, lu + 1);
    return k;
}
