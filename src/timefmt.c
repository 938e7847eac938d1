/* timefmt.c - ISO 8601 UTC timestamps with microseconds. */
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* n decimal digits of v at p. */
static void put_digits(char *p, int n, int v) {
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
}

void aa_format_time(int64_t us, char buf[33]) {
    int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
    int64_t frac = us - secs * 1000000;
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    /* "YYYY-MM-DDTHH:MM:SS.uuuuuu+00:00", without printf (every audit line
     * has one) */
    int year = (tm.tm_year + 1900) % 10000;
    if (year < 0) { /* before year 0: as printf writes it */
        char tmp[96];
        snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00",
                 year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)frac);
        memcpy(buf, tmp, 32);
        buf[32] = 0;
        return;
    }
    memcpy(buf, "0000-00-00T00:00:00.000000+00:00", 33);
    put_digits(buf, 4, year);
    put_digits(buf + 5, 2, tm.tm_mon + 1);
    put_digits(buf + 8, 2, tm.tm_mday);
    put_digits(buf + 11, 2, tm.tm_hour);
    put_digits(buf + 14, 2, tm.tm_min);
    put_digits(buf + 17, 2, tm.tm_sec);
    put_digits(buf + 20, 6, (int)frac);
}

static bool digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int aa_parse_time(const char *text, int64_t *us) {
    if (!text)
        return AA_EINVAL;
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0;
    int64_t frac = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
        *p++ != '-' || !digits(&p, 2, &d))
        return AA_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return AA_EINVAL;
    int offset = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return AA_EINVAL;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &s))
                return AA_EINVAL;
            if (*p == '.') {
                p++;
                int nd = 0;
                while (isdigit((unsigned char)*p)) {
                    if (nd < 6) {
                        frac = frac * 10 + (*p - '0');
                        nd++;
                    }
                    p++;
                }
                if (nd == 0)
                    return AA_EINVAL;
                while (nd++ < 6)
                    frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || s > 60)
            return AA_EINVAL;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (!digits(&p, 2, &oh))
                return AA_EINVAL;
            if (*p == ':')
                p++;
            if (*p && !digits(&p, 2, &om))
                return AA_EINVAL;
            offset = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p)
        return AA_EINVAL;
    int64_t secs =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
    *us = secs * 1000000 + frac;
    return AA_OK;
}
