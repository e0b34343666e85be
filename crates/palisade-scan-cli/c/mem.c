/* memcpy and memmove for the static musl build of palisade-scan; see build.rs for why. Short
 * copies are two overlapping loads and two stores of the widest size that fits (all loads come
 * before the stores, so they are also correct for overlapping ranges); longer ones use `rep movsb`,
 * which CPUs with ERMS/FSRM run at full speed. Only fixed-size __builtin_memcpy is used, which the
 * compiler turns into plain moves, never into a call back into memcpy. */
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
