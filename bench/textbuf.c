/* textbuf.c - see textbuf.h. */
#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(text *t, size_t n) {
    if (t->len + n + 1 <= t->cap)
        return;
    while (t->len + n + 1 > t->cap)
        t->cap = t->cap ? t->cap * 2 : 1 << 16;
    t->p = realloc(t->p, t->cap);
    if (!t->p) {
        perror("realloc");
        exit(1);
    }
}

void put(text *t, const char *s, size_t n) {
    reserve(t, n);
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

void putf(text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        perror("vsnprintf");
        exit(1);
    }
    reserve(t, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}
