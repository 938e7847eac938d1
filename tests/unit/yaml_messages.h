/*
 * yaml_messages.h - the messages of a YAML read as one text, for comparing
 * the fast reader with libyaml (tests/unit/test_yaml_fast.c and
 * fuzz/fuzz_yaml_fast.c). Each message is written as it is held, control
 * characters and all (not through aa_diag_format, which shows them as '?'),
 * so that two readers agree only when their messages are the same bytes.
 */
#ifndef AA_TEST_YAML_MESSAGES_H
#define AA_TEST_YAML_MESSAGES_H

#include <stdio.h>

#include "agent_auth.h"

static inline void yaml_messages(const aa_error *err, char *out, size_t size) {
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < aa_error_count(err) && n < size; i++) {
        const aa_diag *d = aa_error_get(err, i);
        int k = snprintf(out + n, size - n, "%d:%d:%d: %s\n", (int)d->severity,
                         d->line, d->column, d->message);
        if (k < 0)
            break;
        n += (size_t)k;
    }
}

#endif /* AA_TEST_YAML_MESSAGES_H */
