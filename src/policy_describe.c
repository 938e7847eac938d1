/*
 * policy_describe.c - a loaded policy as JSON, for `inspect -o json`.
 *
 * The fields are stable; absent optional strings are null, absent
 * descriptions are "". Durations are whole seconds.
 *
 *   file                 the file the policy was loaded from
 *   version              "1.0"
 *   metadata             {name, description, author}
 *   variables            {NAME: value}   (null, boolean, number, string or
 *                                         a list of those)
 *   roles[]              {name, description, extends (string|null),
 *                         depth (0 for a root role),
 *                         chain [the role, its parent, ..., the root],
 *                         actions [own patterns as written],
 *                         resolved_actions [own, then each ancestor's, in
 *                                           chain order, duplicates
 *                                           removed]}
 *   profiles[]           {name, description, role (string|null),
 *                         allow [own allow list],
 *                         effective [{pattern, from}] where from is
 *                           "role:<name>" or "allow", in matching order,
 *                         deny [], scopes [] (empty: every scope),
 *                         default_tier, max_session_duration,
 *                         require_scope}
 *   approval_policies[]  {name, description, condition, tier}
 *   delegation           {enabled, default_duration, max_duration,
 *                         rules[] {name, description, allowed_actions [],
 *                                  max_duration, require_reason}}
 *   a2a                  {default ("allow"|"deny"),
 *                         policies[] {name, description, from_agent,
 *                                     to_agent, action,
 *                                     effect ("allow"|"deny"), condition}}
 *   sessions             {default_duration, max_duration, cleanup_interval}
 *   audit                {enabled, path, retention_days,
 *                         fsync ("never"|"always"|"interval"),
 *                         on_failure ("deny"|"allow")}
 *   state                {path}
 *   request_metadata     {KEY: {type ("string"|"number"|"bool"|"list"),
 *                               required_for [patterns]}}
 */
#include "policy.h"
#include "state_url.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string; text that is not valid UTF-8 (an environment value, say)
 * has its bad bytes replaced by '?'. */
static json_t *jstr(const char *s) {
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    unsigned char *c = malloc(n + 1);
    if (!c)
        return NULL;
    size_t i = 0;
    while (i < n) {
        unsigned char b = (unsigned char)s[i];
        size_t need = b < 0x80         ? 0
                      : (b >> 5) == 6  ? 1
                      : (b >> 4) == 14 ? 2
                      : (b >> 3) == 30 ? 3
                                       : 9;
        size_t k = 1;
        while (need != 9 && k <= need && i + k < n &&
               ((unsigned char)s[i + k] & 0xC0) == 0x80)
            k++;
        if (need == 9 || k != need + 1) {
            c[i] = '?';
            i++;
            continue;
        }
        memcpy(c + i, s + i, k);
        i += k;
    }
    c[n] = 0;
    j = json_string((const char *)c);
    free(c);
    return j ? j : json_string("?");
}

static json_t *jlist(const aa__strlist *l) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->count; i++)
        json_array_append_new(a, jstr(l->items[i]));
    return a;
}

static json_t *jvalue(const aa__value *v) {
    switch (v->type) {
    case AA__V_NULL:
        return json_null();
    case AA__V_BOOL:
        return json_boolean(v->u.b);
    case AA__V_NUM: {
        double d = v->u.n;
        if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e15)
            return json_integer((json_int_t)d);
        return isfinite(d) ? json_real(d) : json_null();
    }
    case AA__V_STR: {
        char *s = malloc(v->u.s.len + 1);
        if (!s)
            return NULL;
        memcpy(s, v->u.s.p, v->u.s.len);
        s[v->u.s.len] = 0;
        json_t *j = jstr(s);
        free(s);
        return j;
    }
    case AA__V_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < v->u.list.n; i++)
            json_array_append_new(a, jvalue(&v->u.list.items[i]));
        return a;
    }
    }
    return json_null();
}

static json_t *describe_role(const aa_policy *p, size_t idx) {
    const aa__role *r = &p->roles[idx];
    json_t *chain = json_array(), *resolved = json_array();
    aa__map seen;
    aa__map_init(&seen);
    for (int k = (int)idx; k >= 0; k = p->roles[k].parent) {
        json_array_append_new(chain, jstr(p->roles[k].name));
        const aa__strlist *a = &p->roles[k].actions;
        for (size_t i = 0; i < a->count; i++) {
            const char *act = a->items[i];
            if (aa__map_get(&seen, act, strlen(act)))
                continue;
            aa__map_put(&seen, act, strlen(act), (void *)act);
            json_array_append_new(resolved, jstr(act));
        }
    }
    aa__map_free(&seen);
    return json_pack("{s:o, s:o, s:o, s:i, s:o, s:o, s:o}", "name",
                     jstr(r->name), "description", jstr(r->description),
                     "extends", jstr(r->extends), "depth", r->depth, "chain",
                     chain, "actions", jlist(&r->actions), "resolved_actions",
                     resolved);
}

static json_t *describe_profile(const aa_policy *p, const aa__profile *pr) {
    json_t *eff = json_array();
    for (size_t i = 0; i < aa__effective_count(pr); i++) {
        const aa__patset_entry *e = aa__effective_entry(pr, i);
        aa__origin o = aa__effective_origin(e);
        char from[300];
        if (o.role >= 0)
            snprintf(from, sizeof from, "role:%s", p->roles[o.role].name);
        else
            snprintf(from, sizeof from, "allow");
        json_array_append_new(eff,
                              json_pack("{s:o, s:o}", "pattern",
                                        jstr(e->pat.text), "from", jstr(from)));
    }
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:I, s:b}", "name",
        jstr(pr->name), "description", jstr(pr->description), "role",
        jstr(pr->role_name), "allow", jlist(&pr->allow), "effective", eff,
        "deny", jlist(&pr->deny), "scopes", jlist(&pr->scopes), "default_tier",
        aa_tier_name(pr->default_tier), "max_session_duration",
        (json_int_t)pr->max_session_duration, "require_scope",
        pr->require_scope);
}

static const char *fsync_name(aa__fsync_mode m) {
    switch (m) {
    case AA__FSYNC_ALWAYS:
        return "always";
    case AA__FSYNC_INTERVAL:
        return "interval";
    default:
        return "never";
    }
}

char *aa_policy_describe_json(const aa_policy *p) {
    if (!p)
        return NULL;
    json_t *vars = json_object();
    for (size_t i = 0; i < p->nvariables; i++)
        json_object_set_new(vars, p->variables[i].name,
                            jvalue(&p->variables[i].value));

    json_t *roles = json_array();
    for (size_t i = 0; i < p->nroles; i++)
        json_array_append_new(roles, describe_role(p, i));

    json_t *profiles = json_array();
    for (size_t i = 0; i < p->nprofiles; i++)
        json_array_append_new(profiles, describe_profile(p, &p->profiles[i]));

    json_t *approvals = json_array();
    for (size_t i = 0; i < p->napprovals; i++) {
        const aa__approval *a = &p->approvals[i];
        json_array_append_new(
            approvals,
            json_pack("{s:o, s:o, s:o, s:s}", "name", jstr(a->name),
                      "description", jstr(a->description), "condition",
                      jstr(a->condition), "tier", aa_tier_name(a->tier)));
    }

    json_t *rules = json_array();
    for (size_t i = 0; i < p->delegation.nrules; i++) {
        const aa__drule *d = &p->delegation.rules[i];
        json_array_append_new(
            rules, json_pack("{s:o, s:o, s:o, s:I, s:b}", "name", jstr(d->name),
                             "description", jstr(d->description),
                             "allowed_actions", jlist(&d->allowed_actions),
                             "max_duration", (json_int_t)d->max_duration,
                             "require_reason", d->require_reason));
    }

    json_t *a2a = json_array();
    for (size_t i = 0; i < p->a2a.npolicies; i++) {
        const aa__a2a *a = &p->a2a.policies[i];
        json_array_append_new(
            a2a, json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:o}", "name",
                           jstr(a->name), "description", jstr(a->description),
                           "from_agent", jstr(a->from_agent), "to_agent",
                           jstr(a->to_agent), "action", jstr(a->action),
                           "effect", a->allow ? "allow" : "deny", "condition",
                           jstr(a->condition)));
    }

    static const char *const type_names[] = {"string", "number", "bool",
                                             "list"};
    json_t *decls = json_object();
    for (size_t i = 0; i < p->nmeta_decls; i++) {
        const aa__meta_decl *dc = &p->meta_decls[i];
        json_object_set_new(decls, dc->key,
                            json_pack("{s:s, s:o}", "type",
                                      type_names[dc->type], "required_for",
                                      jlist(&dc->required_for)));
    }

    json_t *root = json_pack(
        "{s:o, s:o, s:{s:o, s:o, s:o}, s:o, s:o, s:o, s:o,"
        " s:{s:b, s:I, s:I, s:o},"
        " s:{s:s, s:o},"
        " s:{s:I, s:I, s:I},"
        " s:{s:b, s:o, s:I, s:s, s:s},"
        " s:{s:o}, s:o}",
        "file", jstr(p->file), "version", jstr(p->version), "metadata", "name",
        jstr(p->name), "description", jstr(p->description), "author",
        jstr(p->author), "variables", vars, "roles", roles, "profiles",
        profiles, "approval_policies", approvals, "delegation", "enabled",
        p->delegation.enabled, "default_duration",
        (json_int_t)p->delegation.default_duration, "max_duration",
        (json_int_t)p->delegation.max_duration, "rules", rules, "a2a",
        "default", p->a2a.default_allow ? "allow" : "deny", "policies", a2a,
        "sessions", "default_duration",
        (json_int_t)p->sessions.default_duration, "max_duration",
        (json_int_t)p->sessions.max_duration, "cleanup_interval",
        (json_int_t)p->sessions.cleanup_interval, "audit", "enabled",
        p->audit.enabled, "path", jstr(p->audit.path), "retention_days",
        (json_int_t)p->audit.retention_days, "fsync",
        fsync_name(p->audit.fsync), "on_failure",
        p->audit.on_failure_allow ? "allow" : "deny", "state", "path",
        jstr(p->state_path), "request_metadata", decls);
    if (!root)
        return NULL;
    json_object_set_new(json_object_get(root, "audit"), "redact",
                        jlist(&p->audit.redact));
    /* state.url without its password; the schema and consistency as set */
    json_t *st = json_object_get(root, "state");
    char shown[512];
    aa__state_url_redact(p->state_url ? p->state_url : "", shown, sizeof shown);
    json_object_set_new(st, "url", json_string(shown));
    json_object_set_new(st, "schema",
                        json_string(p->state_schema && *p->state_schema
                                        ? p->state_schema
                                        : "agent_auth"));
    json_object_set_new(
        st, "consistency",
        json_string(p->state_consistency == AA_CONSISTENCY_STRICT ? "strict"
                                                                  : "cached"));
    char *out = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    return out;
}
