/*
 * diffgen.h - random policy pairs for the property "replay agrees with the
 * semantic diff" (aa_policy_diff, aa_replay_request), shared by
 * tests/unit/test_policy_diff.c and fuzz/fuzz_diff_replay.c.
 *
 * A pair is a random small policy and a copy with a few of its choices
 * redrawn. Every request of a fixed grid (agents, actions, scopes,
 * targets, metadata) is decided under both; then:
 *  - a request that widens lies inside an item of class widen (its agent
 *    and its region: the action, scope, or (from, to, action) patterns);
 *  - a request that changes lies inside an item of class change or widen;
 *  - every item not marked `possible` has an example that, replayed on
 *    fresh engines, differs as the item says (widens for a widening).
 * Only the public API is used. Included once per program.
 */
#ifndef AA_DIFFGEN_H
#define AA_DIFFGEN_H

#include <fnmatch.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_auth.h"

/* Random choices: from fuzz bytes while there are some, then xorshift. */
typedef struct dg_rng {
    const uint8_t *data;
    size_t len, pos;
    uint64_t s;
} dg_rng;

static unsigned dg_pick(dg_rng *r, unsigned n) {
    if (r->pos < r->len)
        return r->data[r->pos++] % n;
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (unsigned)(r->s >> 32) % n;
}

static const char *const dg_actions[] = {
    "r:*", "w:*", "*:a", "r:a", "r:b", "w:?", "*", "x", "[rw]:a", "r:[!a]*"};
static const char *const dg_scopes[] = {"s1", "s*", "t?", "*"};
static const char *const dg_agents[] = {"*", "p1", "p?", "p2", "q"};
static const char *const dg_tiers[] = {"autonomous", "soft", "strong"};
static const char *const dg_conds[] = {"",
                                       "action == \"r:a\"",
                                       "action starts_with \"w:\"",
                                       "agent == \"p1\"",
                                       "metadata.amount > 5",
                                       "scope == \"s1\"",
                                       "metadata.amount > $lim",
                                       "metadata.env == \"prod\"",
                                       "action in $acts"};
static const char *const dg_a2a_conds[] = {
    "", "metadata.amount > 5", "action == \"r:b\"", "metadata.env == \"prod\""};
static const char *const dg_types[] = {"number", "string"};

#define DG_N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct dg_list {
    unsigned n;
    unsigned v[3];
} dg_list;

typedef struct dg_spec {
    dg_list role[2];
    unsigned r1_extends;
    struct {
        unsigned present, role, require_scope, tier;
        dg_list allow, deny, scopes;
    } prof[3];
    unsigned napp;
    struct {
        unsigned cond, tier;
    } app[3];
    unsigned a2a_default, na2a;
    struct {
        unsigned from, to, action, effect, cond;
    } a2a[3];
    unsigned meta, meta_type;
    dg_list meta_req;
    unsigned lim, acts; /* the variables $lim and $acts */
} dg_spec;

static void dg_list_draw(dg_rng *r, dg_list *l, unsigned max, unsigned pool) {
    l->n = dg_pick(r, max + 1);
    for (unsigned i = 0; i < l->n; i++)
        l->v[i] = dg_pick(r, pool);
}

/* Draws field f of the spec (0..12); all of them for a new spec. */
static void dg_draw(dg_rng *r, dg_spec *s, unsigned f) {
    unsigned p = dg_pick(r, 3);
    switch (f) {
    case 0:
        dg_list_draw(r, &s->role[dg_pick(r, 2)], 3, DG_N(dg_actions));
        break;
    case 1:
        s->r1_extends = dg_pick(r, 2);
        break;
    case 2:
        s->prof[p].present = dg_pick(r, 4) != 0;
        s->prof[p].role = dg_pick(r, 3);
        break;
    case 3:
        dg_list_draw(r, &s->prof[p].allow, 2, DG_N(dg_actions));
        break;
    case 4:
        dg_list_draw(r, &s->prof[p].deny, 2, DG_N(dg_actions));
        break;
    case 5:
        dg_list_draw(r, &s->prof[p].scopes, 2, DG_N(dg_scopes));
        s->prof[p].require_scope = dg_pick(r, 3) == 0;
        break;
    case 6:
        s->prof[p].tier = dg_pick(r, 3);
        break;
    case 7: {
        s->napp = dg_pick(r, 4);
        unsigned k = dg_pick(r, 3);
        s->app[k].cond = dg_pick(r, DG_N(dg_conds));
        s->app[k].tier = dg_pick(r, 3);
        break;
    }
    case 8:
        s->a2a_default = dg_pick(r, 2);
        break;
    case 9: {
        s->na2a = dg_pick(r, 4);
        unsigned k = dg_pick(r, 3);
        s->a2a[k].from = dg_pick(r, DG_N(dg_agents));
        s->a2a[k].to = dg_pick(r, DG_N(dg_agents));
        s->a2a[k].action = dg_pick(r, DG_N(dg_actions));
        s->a2a[k].effect = dg_pick(r, 2);
        s->a2a[k].cond = dg_pick(r, DG_N(dg_a2a_conds));
        break;
    }
    case 10:
        s->meta = dg_pick(r, 3) == 0;
        s->meta_type = dg_pick(r, 2);
        dg_list_draw(r, &s->meta_req, 1, DG_N(dg_actions));
        break;
    case 12:
        s->lim = dg_pick(r, 3) * 8;
        s->acts = dg_pick(r, 2);
        break;
    case 11: { /* shuffle a list: a near miss */
        dg_list *l = &s->prof[p].deny;
        if (l->n == 2) {
            unsigned t = l->v[0];
            l->v[0] = l->v[1];
            l->v[1] = t;
        }
        break;
    }
    default:
        s->prof[p].present = 1;
        break;
    }
}

static const char *const dg_acts[] = {"[\"r:a\", \"w:b\"]", "[\"x\"]"};

static void dg_put_list(char *out, size_t cap, const char *key,
                        const dg_list *l, const char *const *pool) {
    size_t u = strlen(out);
    u += (size_t)snprintf(out + u, cap - u, "    %s: [", key);
    for (unsigned i = 0; i < l->n; i++)
        u += (size_t)snprintf(out + u, cap - u, "%s\"%s\"", i ? ", " : "",
                              pool[l->v[i]]);
    snprintf(out + u, cap - u, "]\n");
}

#define DG_CAT(...)                                                            \
    do {                                                                       \
        size_t u_ = strlen(out);                                               \
        snprintf(out + u_, cap - u_, __VA_ARGS__);                             \
    } while (0)

static void dg_render(const dg_spec *s, char *out, size_t cap) {
    out[0] = 0;
    DG_CAT("version: \"1.0\"\nvariables:\n  lim: %u\n  acts: %s\nroles:\n",
           s->lim, dg_acts[s->acts]);
    for (unsigned i = 0; i < 2; i++) {
        DG_CAT("  r%u:\n", i);
        dg_put_list(out, cap, "actions", &s->role[i], dg_actions);
        if (i == 1 && s->r1_extends)
            DG_CAT("    extends: r0\n");
    }
    bool any = s->prof[0].present || s->prof[1].present || s->prof[2].present;
    DG_CAT("profiles:%s\n", any ? "" : " {}");
    for (unsigned p = 0; p < 3; p++) {
        if (!s->prof[p].present)
            continue;
        DG_CAT("  p%u:\n", p + 1);
        if (s->prof[p].role < 2)
            DG_CAT("    role: r%u\n", s->prof[p].role);
        dg_put_list(out, cap, "allow", &s->prof[p].allow, dg_actions);
        dg_put_list(out, cap, "deny", &s->prof[p].deny, dg_actions);
        dg_put_list(out, cap, "scopes", &s->prof[p].scopes, dg_scopes);
        DG_CAT("    require_scope: %s\n    default_tier: %s\n",
               s->prof[p].require_scope ? "true" : "false",
               dg_tiers[s->prof[p].tier]);
    }
    if (s->napp) {
        DG_CAT("approval_policies:\n");
        for (unsigned k = 0; k < s->napp; k++)
            DG_CAT("  - name: ap%u\n    condition: '%s'\n    tier: %s\n", k,
                   dg_conds[s->app[k].cond], dg_tiers[s->app[k].tier]);
    }
    DG_CAT("a2a:\n  default: %s\n", s->a2a_default ? "allow" : "deny");
    if (s->na2a) {
        DG_CAT("  policies:\n");
        for (unsigned k = 0; k < s->na2a; k++)
            DG_CAT("    - name: x%u\n      from_agent: \"%s\"\n      "
                   "to_agent: \"%s\"\n      action: \"%s\"\n      effect: "
                   "%s\n      condition: '%s'\n",
                   k, dg_agents[s->a2a[k].from], dg_agents[s->a2a[k].to],
                   dg_actions[s->a2a[k].action],
                   s->a2a[k].effect ? "allow" : "deny",
                   dg_a2a_conds[s->a2a[k].cond]);
    }
    if (s->meta) {
        DG_CAT("request_metadata:\n  amount:\n    type: %s\n",
               dg_types[s->meta_type]);
        dg_put_list(out, cap, "required_for", &s->meta_req, dg_actions);
    }
    DG_CAT("audit:\n  enabled: false\n");
}

typedef struct dg_stats {
    size_t pairs, widened, changed, examples;
    char message[2048];
} dg_stats;

static bool dg_match(const char *pat, const char *s) {
    return fnmatch(pat, s ? s : "", 0) == 0;
}

/* Whether item `it` covers request q (its agent and region). */
static bool dg_inside(const aa_diff_item *it, const aa_request *q) {
    if (it->agent && strcmp(it->agent, q->agent) != 0)
        return false;
    const char *const *p = it->patterns;
    switch (it->kind) {
    case AA_DIFF_ALLOWED:
    case AA_DIFF_DENIED:
        return dg_match(p[0], q->action);
    case AA_DIFF_SCOPE:
        return dg_match(p[0], q->scope);
    case AA_DIFF_TIER:
        for (size_t i = 0; i < it->pattern_count; i++)
            if (dg_match(p[i], q->action))
                return true;
        return false;
    case AA_DIFF_A2A:
        if (!q->target_agent)
            return false;
        for (size_t i = 0; i + 2 < it->pattern_count; i += 3)
            if (dg_match(p[i], q->agent) &&
                dg_match(p[i + 1], q->target_agent) &&
                dg_match(p[i + 2], q->action))
                return true;
        return false;
    default:
        return true;
    }
}

static aa_policy *dg_load(const char *text, const char *name, dg_stats *st) {
    aa_policy *p = NULL;
    aa_error *err = aa_error_new();
    if (aa_policy_load_buffer(text, strlen(text), name, NULL, &p, err) !=
        AA_OK) {
        char line[512] = "";
        if (aa_error_count(err))
            aa_diag_format(aa_error_get(err, 0), line, sizeof line);
        snprintf(st->message, sizeof st->message, "%s does not load: %s\n%s",
                 name, line, text);
    }
    aa_error_free(err);
    return p;
}

static void dg_describe(dg_stats *st, const char *what, const aa_request *q,
                        const char *old_text, const char *new_text,
                        const aa_diff *d) {
    size_t u = (size_t)snprintf(
        st->message, sizeof st->message,
        "%s: agent %s action %s scope %s target %s meta %s\nitems:\n", what,
        q->agent, q->action, q->scope ? q->scope : "-",
        q->target_agent ? q->target_agent : "-",
        q->metadata_count ? "yes" : "no");
    for (size_t i = 0; i < aa_diff_count(d) && u < sizeof st->message; i++) {
        const aa_diff_item *it = aa_diff_get(d, i);
        u += (size_t)snprintf(st->message + u, sizeof st->message - u,
                              "  %s %s %s\n", aa_diff_class_name(it->cls),
                              aa_diff_kind_name(it->kind), it->message);
    }
    fprintf(stderr, "%s\nOLD:\n%s\nNEW:\n%s\n", st->message, old_text,
            new_text);
}

/* Draws a pair and checks the property; 0 when it holds (or the pair did
 * not load, which st->message then says), 1 when it does not. */
static int dg_check_pair_rng(dg_rng *r, dg_stats *st) {
    static char old_text[8192], new_text[8192];
    dg_spec s;
    memset(&s, 0, sizeof s);
    for (unsigned f = 0; f < 13; f++)
        for (unsigned k = 0; k < 3; k++)
            dg_draw(r, &s, f);
    dg_spec t = s;
    unsigned edits = 1 + dg_pick(r, 3);
    for (unsigned k = 0; k < edits; k++)
        dg_draw(r, &t, dg_pick(r, 14));
    dg_render(&s, old_text, sizeof old_text);
    dg_render(&t, new_text, sizeof new_text);
    aa_policy *po = dg_load(old_text, "old.yaml", st);
    aa_policy *pn = po ? dg_load(new_text, "new.yaml", st) : NULL;
    if (!po || !pn) {
        aa_policy_free(po);
        return 1; /* the generator writes valid policies only */
    }
    int bad = 0;
    aa_diff *d = NULL;
    aa_replay *rp = NULL;
    if (aa_policy_diff(po, pn, NULL, &d, NULL) != AA_OK ||
        aa_replay_new(po, pn, &rp, NULL) != AA_OK) {
        snprintf(st->message, sizeof st->message, "diff or replay failed");
        bad = 1;
        goto out;
    }
    st->pairs++;
    static const char *const agents[] = {"p1", "p2", "p3", "p4"};
    static const char *const actions[] = {"r:a", "r:b", "w:a",
                                          "w:b", "x",   "y:c"};
    static const char *const scopes[] = {NULL, "s1", "t2", "u"};
    static const char *const targets[] = {NULL, "p1", "p2", "q"};
    aa_meta metas[4] = {
        {.key = "amount", .type = AA_VALUE_NUMBER, .number = 10},
        {.key = "amount", .type = AA_VALUE_STRING, .string = "big"},
        {.key = "amount", .type = AA_VALUE_NUMBER, .number = 1},
        {.key = "env", .type = AA_VALUE_STRING, .string = "prod"},
    };
    for (size_t a = 0; a < 4 && !bad; a++)
        for (size_t b = 0; b < 6 && !bad; b++)
            for (size_t c = 0; c < 4 && !bad; c++)
                for (size_t e = 0; e < 4 && !bad; e++)
                    for (size_t m = 0; m < 5 && !bad; m++) {
                        aa_request q = {.agent = agents[a],
                                        .user = "u",
                                        .action = actions[b],
                                        .scope = scopes[c],
                                        .target_agent = targets[e],
                                        .metadata = m ? &metas[m - 1] : NULL,
                                        .metadata_count = m ? 1 : 0};
                        aa_diff_class cls;
                        if (aa_replay_request(rp, &q, 0, NULL, 0, &cls) !=
                            AA_OK) {
                            bad = 1;
                            break;
                        }
                        if (cls < AA_DIFF_CHANGE)
                            continue;
                        bool found = false;
                        for (size_t i = 0; i < aa_diff_count(d) && !found;
                             i++) {
                            const aa_diff_item *it = aa_diff_get(d, i);
                            found = it->cls >= cls && dg_inside(it, &q);
                        }
                        st->widened += cls == AA_DIFF_WIDEN;
                        st->changed += cls == AA_DIFF_CHANGE;
                        if (!found) {
                            dg_describe(st,
                                        cls == AA_DIFF_WIDEN
                                            ? "a widened request no item "
                                              "covers"
                                            : "a changed request no item "
                                              "covers",
                                        &q, old_text, new_text, d);
                            bad = 1;
                        }
                    }
    /* Every example not marked possible shows its difference on fresh
     * engines. */
    aa_replay *fresh = NULL;
    if (!bad && aa_replay_new(po, pn, &fresh, NULL) != AA_OK)
        bad = 1;
    for (size_t i = 0; !bad && i < aa_diff_count(d); i++) {
        const aa_diff_item *it = aa_diff_get(d, i);
        if (it->possible || !it->example_action)
            continue;
        aa_request q = {.agent = it->agent,
                        .user = "user",
                        .action = it->example_action,
                        .scope = it->example_scope,
                        .target_agent = it->example_target,
                        .metadata = it->example_metadata,
                        .metadata_count = it->example_metadata_count};
        aa_diff_class cls;
        st->examples++;
        if (aa_replay_request(fresh, &q, 0, NULL, 0, &cls) != AA_OK ||
            cls < it->cls || !dg_inside(it, &q)) {
            dg_describe(st, "an example does not show its item", &q, old_text,
                        new_text, d);
            bad = 1;
        }
    }
    aa_replay_free(fresh);
out:
    aa_replay_free(rp);
    aa_diff_free(d);
    aa_policy_free(po);
    aa_policy_free(pn);
    return bad;
}

static inline int dg_check_pair(uint64_t *seed, dg_stats *st) {
    dg_rng r = {.s = *seed ? *seed : 1};
    dg_pick(&r, 2);
    int rc = dg_check_pair_rng(&r, st);
    *seed = r.s;
    return rc;
}

#endif /* AA_DIFFGEN_H */
