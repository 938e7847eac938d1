/* fuzz_policy.c - arbitrary bytes as a policy file: must never crash, hang
 * or leak, and must either load or report at least one error. */
#include <stdint.h>
#include <stdlib.h>

#include "agent_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *no_env(void *ud, const char *name) {
    (void)ud;
    (void)name;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    aa_load_options opts = {.getenv_fn = no_env, .max_bytes = 1 << 20};
    aa_error *err = aa_error_new();
    aa_policy *p = NULL;
    int rc =
        aa_policy_load_buffer((const char *)data, size, "fuzz", &opts, &p, err);
    if (rc == AA_OK) {
        if (!p)
            abort();
        char *json = aa_policy_describe_json(p);
        if (!json)
            abort();
        free(json);
        aa_policy_free(p);
    } else if (p || aa_error_count_severity(err, AA_SEVERITY_ERROR) == 0) {
        abort(); /* a refusal always says why */
    }
    aa_error_free(err);
    return 0;
}
