/*
 * vpio-net: the Linux guest's network workload, a static i386 program with no libc
 * (Linux system calls through int 0x80, sockets through socketcall), so the test needs
 * nothing but gcc -m32.
 *
 *   vpio-net tx IP PORT COUNT SIZE    COUNT UDP datagrams of SIZE bytes to IP:PORT, each
 *                                     starting with its 32-bit sequence number (what
 *                                     the sink peer counts), as fast as the socket takes them,
 *                                     then waits (5 s at most) until the driver has handed them
 *                                     all to the card, and 20 ms more for the wire: an init that
 *                                     powers off right after loses nothing
 *   vpio-net rx PORT COUNT SECONDS    receives on PORT until COUNT datagrams or SECONDS
 *                                     without one; counts lost (gaps) and out-of-order
 *
 * Each prints one line: "vpio-net: tx 1000 sent, 0 errors" or
 * "vpio-net: rx 1000 received, 0 lost, 0 out of order, 0 duplicate". Exit status 0
 * when the whole count went (tx) or came (rx), 1 otherwise, 2 for bad usage.
 */
typedef unsigned int u32;
typedef int s32;

#define SYS_exit 1
#define SYS_write 4
#define SYS_ioctl 54
#define SYS_nanosleep 162
#define SIOCOUTQ 0x5411 /* bytes the socket has handed on and the card has not yet sent */
#define SYS_socketcall 102
/* socketcall's calls: one system call for every socket operation, its arguments in memory. */
#define SOCKET 1
#define BIND 2
#define SENDTO 11
#define RECVFROM 12
#define SETSOCKOPT 14

static s32 sys3(s32 n, s32 a, s32 b, s32 c)
{
    s32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}

static s32 sock(s32 call, s32 a, s32 b, s32 c, s32 d, s32 e, s32 f)
{
    s32 args[6] = { a, b, c, d, e, f };
    return sys3(SYS_socketcall, call, (s32)args, 0);
}

static u32 len(const char *s) { u32 n = 0; while (s[n]) n++; return n; }
static void put(const char *s) { sys3(SYS_write, 1, (s32)s, (s32)len(s)); }

static void put_u(u32 v)
{
    char b[12];
    int i = 11;
    b[i] = 0;
    do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    put(b + i);
}

static int num(const char *s, u32 *out)
{
    u32 v = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        v = v * 10 + (u32)(*s - '0');
    }
    *out = v;
    return 1;
}

/* "a.b.c.d" to a network-order address. */
static int ip(const char *s, u32 *out)
{
    u32 parts[4], n = 0, v = 0, digits = 0;
    for (;; s++) {
        if (*s >= '0' && *s <= '9') { v = v * 10 + (u32)(*s - '0'); digits++; continue; }
        if ((*s != '.' && *s) || !digits || v > 255 || n == 4) return 0;
        parts[n++] = v; v = 0; digits = 0;
        if (!*s) break;
    }
    if (n != 4) return 0;
    *out = parts[0] | (parts[1] << 8) | (parts[2] << 16) | (parts[3] << 24);
    return 1;
}

struct sockaddr_in { unsigned short family, port; u32 addr; char zero[8]; };
struct timeval { s32 sec, usec; };

static unsigned short be16(u32 v) { return (unsigned short)(((v & 0xff) << 8) | ((v >> 8) & 0xff)); }

static char buf[65536];

static int usage(void)
{
    put("usage: vpio-net tx IP PORT COUNT SIZE | rx PORT COUNT SECONDS\n");
    return 2;
}

static int tx(char **a)
{
    struct sockaddr_in to = { 2, 0, 0, {0} };
    u32 port, count, size, addr;
    if (!ip(a[0], &addr) || !num(a[1], &port) || !num(a[2], &count) || !num(a[3], &size) || size < 4 || size > 65000) return usage();
    to.port = be16(port);
    to.addr = addr;
    s32 fd = sock(SOCKET, 2, 2, 0, 0, 0, 0); /* AF_INET, SOCK_DGRAM */
    if (fd < 0) { put("vpio-net: socket failed\n"); return 1; }
    for (u32 i = 0; i < size; i++) buf[i] = (char)i;
    u32 sent = 0, errors = 0;
    for (u32 seq = 0; seq < count; seq++) {
        buf[0] = (char)(seq >> 24); buf[1] = (char)(seq >> 16); buf[2] = (char)(seq >> 8); buf[3] = (char)seq;
        s32 r;
        /* ENOBUFS (-105): the card's queue is full for a moment; try again. */
        while ((r = sock(SENDTO, fd, (s32)buf, (s32)size, 0, (s32)&to, sizeof to)) == -105)
            ;
        if (r == (s32)size) sent++; else errors++;
    }
    /* The datagrams are counted against the socket until the driver frees them, sent. */
    struct timeval tick = { 0, 10 * 1000 * 1000 }; /* as a timespec: 10 ms */
    for (int i = 0; i < 500; i++) {
        s32 queued = 0;
        if (sys3(SYS_ioctl, fd, SIOCOUTQ, (s32)&queued) < 0 || queued == 0) break;
        sys3(SYS_nanosleep, (s32)&tick, 0, 0);
    }
    /* The socket's count falls when the driver frees a frame, which the 8390 core does once
       the frame is in the card's memory, up to two frames before the wire has them (2.5 ms
       at 10 Mbit/s): a little longer, so that a power-off right after loses none. */
    struct timeval grace = { 0, 20 * 1000 * 1000 }; /* as a timespec: 20 ms */
    sys3(SYS_nanosleep, (s32)&grace, 0, 0);
    put("vpio-net: tx "); put_u(sent); put(" sent, "); put_u(errors); put(" errors\n");
    return sent == count ? 0 : 1;
}

static int rx(char **a)
{
    struct sockaddr_in me = { 2, 0, 0, {0} };
    u32 port, count, seconds;
    if (!num(a[0], &port) || !num(a[1], &count) || !num(a[2], &seconds)) return usage();
    me.port = be16(port);
    s32 fd = sock(SOCKET, 2, 2, 0, 0, 0, 0);
    if (fd < 0 || sock(BIND, fd, (s32)&me, sizeof me, 0, 0, 0) < 0) { put("vpio-net: socket or bind failed\n"); return 1; }
    struct timeval tv = { (s32)seconds, 0 };
    sock(SETSOCKOPT, fd, 1, 20, (s32)&tv, sizeof tv, 0); /* SOL_SOCKET, SO_RCVTIMEO */
    u32 received = 0, lost = 0, late = 0, dup = 0, expected = 0;
    while (received < count) {
        s32 r = sock(RECVFROM, fd, (s32)buf, sizeof buf, 0, 0, 0);
        if (r < 0) break; /* the timeout: nothing for SECONDS */
        if (r < 4) continue;
        u32 seq = ((u32)(unsigned char)buf[0] << 24) | ((u32)(unsigned char)buf[1] << 16) | ((u32)(unsigned char)buf[2] << 8) | (unsigned char)buf[3];
        received++;
        if (seq > expected) lost += seq - expected;
        else if (seq < expected) { if (lost) { lost--; late++; } else dup++; }
        if (seq >= expected) expected = seq + 1;
    }
    put("vpio-net: rx "); put_u(received); put(" received, "); put_u(lost); put(" lost, ");
    put_u(late); put(" out of order, "); put_u(dup); put(" duplicate\n");
    return received == count && lost == 0 ? 0 : 1;
}

static int run(int argc, char **argv)
{
    if (argc == 6 && argv[1][0] == 't' && argv[1][1] == 'x' && !argv[1][2]) return tx(argv + 2);
    if (argc == 5 && argv[1][0] == 'r' && argv[1][1] == 'x' && !argv[1][2]) return rx(argv + 2);
    return usage();
}

/* The entry: the kernel leaves argc at (%esp), argv after it. */
void start_c(u32 *sp)
{
    sys3(SYS_exit, run((int)sp[0], (char **)(sp + 1)), 0, 0);
}

__asm__(".globl _start\n_start:\n\txor %ebp, %ebp\n\tmov %esp, %eax\n\tand $-16, %esp\n\tpush %eax\n\tcall start_c\n\thlt\n");
