/* fuzz_yaml_fast.c - differential: whenever the fast YAML reader accepts a
 * document, its tree (kinds, styles, tags, positions, texts) and its
 * messages must be exactly libyaml's; it may refuse anything. The default
 * reader must always answer as libyaml does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_auth.h"
#include "yaml_doc.h"
#include "../tests/unit/yaml_messages.h"

static void differ(const char *what, const char *a, const char *b) {
    fprintf(stderr, "fast reader differs from libyaml: %s\n%s\n---\n%s\n", what,
            a, b);
    abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size > 1 << 16)
        return 0;
    const char *text = (const char *)data;
    aa__ydoc slow, fast, dflt;
    aa_error *es = aa_error_new(), *ef = aa_error_new(), *ed = aa_error_new();
    int rs =
        aa__ydoc_parse_with(&slow, text, size, "f.yaml", es, AA__YR_LIBYAML);
    int rf = aa__ydoc_parse_with(&fast, text, size, "f.yaml", ef, AA__YR_FAST);
    int rd = aa__ydoc_parse_with(&dflt, text, size, "f.yaml", ed, AA__YR_AUTO);
    static char ms[1 << 15], mf[1 << 15], md[1 << 15];
    char why[300] = "";
    yaml_messages(es, ms, sizeof ms);
    yaml_messages(ef, mf, sizeof mf);
    yaml_messages(ed, md, sizeof md);
    if (rf != AA__YAML_REFUSED) {
        if (rf != AA_OK || rs != AA_OK)
            differ("status", ms, mf);
        if (strcmp(ms, mf) != 0 || slow.nerrors != fast.nerrors)
            differ("messages", ms, mf);
        if (!aa__ytree_equal(slow.root, fast.root, why, sizeof why))
            differ(why, ms, mf);
    } else if (fast.root || aa_error_count(ef) != 0) {
        differ("a refusal left a tree or messages", ms, mf);
    }
    if (rd != rs || strcmp(md, ms) != 0 ||
        !aa__ytree_equal(slow.root, dflt.root, why, sizeof why))
        differ("default reader", ms, md);
    aa__ydoc_free(&slow);
    aa__ydoc_free(&fast);
    aa__ydoc_free(&dflt);
    aa_error_free(es);
    aa_error_free(ef);
    aa_error_free(ed);
    return 0;
}
