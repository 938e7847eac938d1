/*
 * textbuf.h - the growing text buffer the benchmarks build their generated
 * policies in (bench_diff, bench_lint, bench_load). Out of memory ends the
 * program: a benchmark has nothing better to do.
 */
#ifndef AA_BENCH_TEXTBUF_H
#define AA_BENCH_TEXTBUF_H

#include <stddef.h>

typedef struct text {
    char *p; /* NUL-terminated once anything was put */
    size_t len, cap;
} text;

/* Appends the n bytes at s. */
void put(text *t, const char *s, size_t n);
/* Appends the printf-formatted text, of any length. */
void putf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* AA_BENCH_TEXTBUF_H */
