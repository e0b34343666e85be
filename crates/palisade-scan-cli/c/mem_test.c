/* Checks c/mem.c against byte-by-byte copies and comparisons: every length up to 300 bytes and a
 * few long ones, at every source and destination alignment within 16 bytes, for memmove every
 * overlap in both directions, and for memcmp a difference at every position, either way. Built
 * and run by tests/mem_c.rs with the functions renamed, so the checked ones are the file's own
 * and not the C library's. Exits 1 on the first mismatch. */
#include <stdio.h>
#include <stddef.h>

#define SIZE 8448

void *palisade_memcpy(void *restrict dst, const void *restrict src, size_t n);
void *palisade_memmove(void *dst, const void *src, size_t n);
int palisade_memcmp(const void *a, const void *b, size_t n);

static int sign(int v) { return (v > 0) - (v < 0); }

/* memcmp of equal buffers, then of buffers that first differ at each position, both ways. */
static int check_cmp(size_t n) {
    static unsigned char x[SIZE], y[SIZE];
    for (size_t i = 0; i < n; i++) x[i] = y[i] = (unsigned char)(i * 13 + 5);
    if (palisade_memcmp(x, y, n) != 0) {
        fprintf(stderr, "memcmp: equal buffers of length %zu differ\n", n);
        return 0;
    }
    for (size_t at = 0; at < n; at++) {
        unsigned char keep = y[at];
        y[at] = (unsigned char)(x[at] + 1 + (at % 200)); /* above x[at] unless it wraps */
        int want = x[at] < y[at] ? -1 : 1;
        if (sign(palisade_memcmp(x, y, n)) != want || sign(palisade_memcmp(y, x, n)) != -want) {
            fprintf(stderr, "memcmp: length %zu, first difference at %zu\n", n, at);
            return 0;
        }
        y[at] = keep;
    }
    return 1;
}

static unsigned char buf[2][SIZE], want[SIZE];
static size_t span; /* the bytes a check fills and compares: the copy and a margin */

static void fill(void) {
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < span; i++)
            buf[b][i] = (unsigned char)(i * 7 + b * 101 + 3);
}

static int same(const unsigned char *a, const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static int check_len(size_t n) {
    if (!check_cmp(n))
        return 0;
    span = n + 128;
    for (size_t so = 0; so < 16; so++) {
        for (size_t d = 0; d < 16; d++) {
            fill();
            for (size_t i = 0; i < span; i++) want[i] = buf[1][i];
            for (size_t i = 0; i < n; i++) want[d + i] = buf[0][so + i];
            if (palisade_memcpy(buf[1] + d, buf[0] + so, n) != buf[1] + d || !same(buf[1], want, span)) {
                fprintf(stderr, "memcpy: length %zu, source offset %zu, destination offset %zu\n", n, so, d);
                return 0;
            }
        }
    }
    /* memmove within one buffer: destination before, on, and after the source. */
    for (size_t s = 40; s < 56; s++) {
        for (size_t d = s - 40; d < s + 40; d++) {
            fill();
            for (size_t i = 0; i < span; i++) want[i] = buf[0][i];
            unsigned char tmp[SIZE];
            for (size_t i = 0; i < n; i++) tmp[i] = buf[0][s + i];
            for (size_t i = 0; i < n; i++) want[d + i] = tmp[i];
            if (palisade_memmove(buf[0] + d, buf[0] + s, n) != buf[0] + d || !same(buf[0], want, span)) {
                fprintf(stderr, "memmove: length %zu, source %zu, destination %zu\n", n, s, d);
                return 0;
            }
        }
    }
    return 1;
}

int main(void) {
    static const size_t long_lengths[] = {511, 512, 1000, 4095, 4096, 8000};
    for (size_t n = 0; n <= 300; n++)
        if (!check_len(n))
            return 1;
    for (size_t i = 0; i < sizeof long_lengths / sizeof long_lengths[0]; i++)
        if (!check_len(long_lengths[i]))
            return 1;
    puts("ok");
    return 0;
}
