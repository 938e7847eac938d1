/*
 * ref_utf8.h - the plain reference that the request check (the decision
 * path's word-at-a-time UTF-8 check) is compared with, by
 * tests/unit/test_request_check.c and fuzz/fuzz_request_check.c.
 */
#ifndef AA_TEST_REF_UTF8_H
#define AA_TEST_REF_UTF8_H

#include <stdbool.h>

/* Well-formed UTF-8 as Unicode's table 3-7 lists it, up to the NUL. */
static inline bool ref_utf8(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        int more;
        unsigned lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if (c == 0xe0)
            more = 2, lo = 0xa0;
        else if (c == 0xed)
            more = 2, hi = 0x9f;
        else if (c >= 0xe1 && c <= 0xef)
            more = 2;
        else if (c == 0xf0)
            more = 3, lo = 0x90;
        else if (c == 0xf4)
            more = 3, hi = 0x8f;
        else if (c >= 0xf1 && c <= 0xf3)
            more = 3;
        else
            return false;
        if (s[1] < lo || s[1] > hi) /* a NUL fails here */
            return false;
        for (int i = 2; i <= more; i++)
            if (s[i] < 0x80 || s[i] > 0xbf)
                return false;
        s += more + 1;
    }
    return true;
}

#endif /* AA_TEST_REF_UTF8_H */
