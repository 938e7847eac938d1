/*
 * fuzz_diff_replay.c - the policy diff agrees with replay, on policies
 * drawn from the input (tests/unit/diffgen.h): every request whose
 * decision widens (or changes) between OLD and NEW lies inside a reported
 * difference of that class, and every example not marked possible, decided
 * again on fresh engines, shows its difference. The input's bytes are the
 * random choices (a policy, then the edits that make the other).
 */
#include <stdint.h>
#include <stdlib.h>

#include "../tests/unit/diffgen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dg_rng r = {.data = data, .len = size, .s = 0x9e3779b97f4a7c15u};
    dg_stats st = {0};
    if (dg_check_pair_rng(&r, &st) != 0)
        abort(); /* the message went to stderr */
    return 0;
}
