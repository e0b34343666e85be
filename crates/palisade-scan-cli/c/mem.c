/* memcpy, memmove and memcmp for the static musl build of palisade-scan; see build.rs for why.
 * Short copies are two overlapping loads and two stores of the widest size that fits (all loads
 * come before the stores, so they are also correct for overlapping ranges); longer ones use
 * `rep movsb`, which CPUs with ERMS/FSRM run at full speed. Comparisons go eight bytes at a time,
 * read big-endian so that the first differing byte decides, where musl compares byte by byte.
 * Only fixed-size __builtin_memcpy is used, which the compiler turns into plain moves, never into
 * a call back into memcpy. */
#include <stddef.h>
#include <stdint.h>

typedef struct { uint64_t a, b; } u128;

/* The first and the last sizeof(T) bytes, both loaded before either is stored. */
#define COPY_ENDS(T)                                  \
    do {                                              \
        T x, y;                                       \
        __builtin_memcpy(&x, s, sizeof x);            \
        __builtin_memcpy(&y, s + n - sizeof y, sizeof y); \
        __builtin_memcpy(d, &x, sizeof x);            \
        __builtin_memcpy(d + n - sizeof y, &y, sizeof y); \
    } while (0)

static inline void *copy_short(unsigned char *d, const unsigned char *s, size_t n) {
    if (n >= 16)
        COPY_ENDS(u128); /* 16..32 */
    else if (n >= 8)
        COPY_ENDS(uint64_t);
    else if (n >= 4)
        COPY_ENDS(uint32_t);
    else if (n >= 2)
        COPY_ENDS(uint16_t);
    else if (n == 1)
        *d = *s;
    return d;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    if (n <= 32)
        return copy_short(dst, src, n);
    void *ret = dst;
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
    return ret;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (n <= 32)
        return copy_short(d, s, n);
    if ((uintptr_t)d - (uintptr_t)s >= n) { /* no overlap that a forward copy would clobber */
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
        return dst;
    }
    /* Destination above an overlapping source: copy backwards. */
    unsigned char *de = d + n - 1;
    const unsigned char *se = s + n - 1;
    __asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(de), "+S"(se), "+c"(n) : : "memory");
    return dst;
}

static inline uint64_t load_be64(const unsigned char *p) {
    uint64_t x;
    __builtin_memcpy(&x, p, 8);
    return __builtin_bswap64(x);
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *l = a, *r = b;
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            if (l[i] != r[i])
                return l[i] < r[i] ? -1 : 1;
        return 0;
    }
    /* Whole words, then the last eight bytes, which may overlap the words already found equal. */
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t x = load_be64(l + i), y = load_be64(r + i);
        if (x != y)
            return x < y ? -1 : 1;
    }
    uint64_t x = load_be64(l + n - 8), y = load_be64(r + n - 8);
    return x == y ? 0 : (x < y ? -1 : 1);
}
