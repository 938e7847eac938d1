/* grant.c - freeing and copying sessions, delegation grants and stores;
 * pair keys; reading the rows the stores keep. */
#include "store.h"

#include <stdio.h>
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

bool aa__session_copy_into(const aa_session *from, aa_session *to, char *buf,
                           size_t cap) {
    const char *src[3] = {from->agent, from->user, from->scope};
    size_t len[3], total = 0;
    for (int i = 0; i < 3; i++) {
        len[i] = src[i] ? strlen(src[i]) : 0;
        total += len[i] + 1;
    }
    if (total > cap)
        return false;
    char *dst[3];
    for (int i = 0; i < 3; i++) {
        dst[i] = buf;
        if (len[i])
            memcpy(buf, src[i], len[i]);
        buf[len[i]] = 0;
        buf += len[i] + 1;
    }
    *to = *from;
    to->agent = dst[0];
    to->user = dst[1];
    to->scope = dst[2];
    return true;
}

bool aa__grant_actions_pack(const aa_delegation *d, aa__buf *b) {
    for (size_t i = 0; i < d->action_count; i++) {
        const char *a = d->actions[i] ? d->actions[i] : "";
        aa__buf_append(b, a, strlen(a) + 1);
    }
    return !b->oom;
}

bool aa__grant_actions_unpack(const char *blob, size_t len, aa_delegation *d) {
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += blob[i] == 0;
    d->actions = calloc(count ? count : 1, sizeof *d->actions);
    bool ok = d->actions != NULL;
    for (size_t i = 0, k = 0; ok && k < count; k++) {
        size_t l = strlen(blob + i);
        d->actions[k] = strdup(blob + i);
        if (!d->actions[k])
            ok = false;
        d->action_count = k + 1;
        i += l + 1;
    }
    return ok;
}

aa_grant_status aa__grant_status_from_text(const char *text) {
    if (text && strcmp(text, "active") == 0)
        return AA_GRANT_ACTIVE;
    if (text && strcmp(text, "expired") == 0)
        return AA_GRANT_EXPIRED;
    return AA_GRANT_REVOKED;
}

static char *text_dup(const char *t) {
    return strdup(t ? t : "");
}

int aa__session_from_cols(aa_session *out, const char *id, const char *agent,
                          const char *user, const char *scope,
                          int64_t created_at, int64_t expires_at,
                          const char *status) {
    snprintf(out->session_id, sizeof out->session_id, "%s", id ? id : "");
    out->agent = text_dup(agent);
    out->user = text_dup(user);
    out->scope = text_dup(scope);
    out->created_at = created_at;
    out->expires_at = expires_at;
    out->status = aa__grant_status_from_text(status);
    if (!out->agent || !out->user || !out->scope) {
        aa_session_clear(out);
        return AA_ENOMEM;
    }
    return AA_OK;
}

int aa__delegation_from_cols(aa_delegation *out, const char *id,
                             const char *from_user, const char *to_agent,
                             const char *actions, size_t len,
                             int64_t granted_at, int64_t expires_at,
                             const char *reason, const char *status) {
    snprintf(out->delegation_id, sizeof out->delegation_id, "%s", id ? id : "");
    out->from_user = text_dup(from_user);
    out->to_agent = text_dup(to_agent);
    bool ok = out->from_user && out->to_agent &&
              aa__grant_actions_unpack(actions, len, out);
    out->granted_at = granted_at;
    out->expires_at = expires_at;
    out->reason = text_dup(reason);
    out->status = aa__grant_status_from_text(status);
    if (!ok || !out->reason) {
        aa_delegation_clear(out);
        return AA_ENOMEM;
    }
    return AA_OK;
}

int aa__cleanup_cutoff(int64_t now, int64_t retention_us, int64_t *cutoff,
                       aa_error *err) {
    if (retention_us < 0)
        return aa__fail(err, AA_EINVAL, "cleanup: negative retention");
    if (__builtin_sub_overflow(now, retention_us, cutoff))
        *cutoff = INT64_MIN;
    return AA_OK;
}
