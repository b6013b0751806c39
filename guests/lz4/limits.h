/* The limits LZ4 asks <limits.h> for, on i386: the guests have no C library. */
#ifndef GUEST_LIMITS_H
#define GUEST_LIMITS_H
#define CHAR_BIT 8
#define INT_MAX 2147483647
#define INT_MIN (-INT_MAX - 1)
#define UINT_MAX 4294967295u
#endif
