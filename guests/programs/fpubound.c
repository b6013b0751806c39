/*
 * The FPU-bound workload for bench/cpu, compiled to x87 code (gcc's default for -m32
 * without -mno-80387; no SSE): in a loop, what floating-point programs spend their time
 * on, in double with the x87's default precision (extended, rounded to double on
 * every store):
 *
 *   - an n-body step (five bodies, softened gravity: square roots, divisions);
 *   - a 20x20 matrix product whose inputs are built from integers (int to double);
 *   - Simpson's rule over 4/(1+x^2) on [0,1] (pi) and over a rational function;
 *   - float samples mixed with a gain and converted to 16-bit integers with clamping,
 *     as audio code does, and a fixed-point conversion to 64-bit integers (double to
 *     int through gcc's FNSTCW/FLDCW/FISTP sequence, int to float through FILD).
 *
 * About 200,000 instructions an iteration, 56% of them x87 ones; the default 1000
 * iterations make about 0.2 billion. `iterations=N` on the command line sets the count;
 * the default is the bench's (v86 passes no command line). Prints checksums of every result as raw bits in hex (the
 * guest library has no float printing), so any wrong result shows. No transcendentals
 * (QEMU computes those through doubles, so its reference would not be silicon's).
 */
#include "../lib/lib.h"

static void put64(const char *what, double d)
{
    union { double d; u32 w[2]; } u = { .d = d };
    printf("%s %08x%08x\n", what, u.w[1], u.w[0]);
}

static inline double fsqrt(double x) { __asm__("fsqrt" : "+t"(x)); return x; }

/* ---- n-body ---- */
#define NB 5
struct body { double x, y, z, vx, vy, vz, m; };
static struct body bodies[NB];

static void nbody_init(void)
{
    for (int i = 0; i < NB; i++) {
        struct body *b = &bodies[i];
        b->x = (i * 37 % 11) - 5.0;
        b->y = (i * 53 % 13) - 6.0;
        b->z = (i * 17 % 7) * 0.25 - 0.75;
        b->vx = (i * 29 % 9) * 0.01 - 0.04;
        b->vy = (i * 41 % 5) * 0.02 - 0.04;
        b->vz = (i % 3) * 0.005 - 0.005;
        b->m = i == 0 ? 40.0 : 0.5 + i * 0.125;
    }
}

static void nbody_advance(double dt)
{
    for (int i = 0; i < NB; i++) {
        struct body *a = &bodies[i];
        for (int j = i + 1; j < NB; j++) {
            struct body *b = &bodies[j];
            double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
            double d2 = dx * dx + dy * dy + dz * dz + 0.01;
            double mag = dt / (d2 * fsqrt(d2));
            a->vx -= dx * b->m * mag;
            a->vy -= dy * b->m * mag;
            a->vz -= dz * b->m * mag;
            b->vx += dx * a->m * mag;
            b->vy += dy * a->m * mag;
            b->vz += dz * a->m * mag;
        }
    }
    for (int i = 0; i < NB; i++) {
        struct body *b = &bodies[i];
        b->x += dt * b->vx;
        b->y += dt * b->vy;
        b->z += dt * b->vz;
    }
}

static double nbody_energy(void)
{
    double e = 0;
    for (int i = 0; i < NB; i++) {
        struct body *a = &bodies[i];
        e += 0.5 * a->m * (a->vx * a->vx + a->vy * a->vy + a->vz * a->vz);
        for (int j = i + 1; j < NB; j++) {
            struct body *b = &bodies[j];
            double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
            e -= a->m * b->m / fsqrt(dx * dx + dy * dy + dz * dz + 0.01);
        }
    }
    return e;
}

/* ---- matrix product ---- */
#define MN 20
static double ma[MN][MN], mb[MN][MN], mc[MN][MN];

static double matmul(u32 it)
{
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            ma[i][j] = (int)((i * 7 + j * 3 + it) % 17) - 8;
            mb[i][j] = ((int)((i * 5 + j * 11 + it * 3) % 19) - 9) / 8.0;
        }
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            double s = 0;
            for (int k = 0; k < MN; k++)
                s += ma[i][k] * mb[k][j];
            mc[i][j] = s;
        }
    double t = 0;
    for (int i = 0; i < MN; i++)
        t += mc[i][i] * (i + 1) - mc[i][MN - 1 - i] / (i + 2);
    return t;
}

/* ---- Simpson's rule ---- */
static double f_pi(double x) { return 4.0 / (1.0 + x * x); }
static double f_rat(double x) { return (x * x * x - 2.0 * x + 1.0) / (x * x + x + 1.0); }

static double simpson(double (*f)(double), double a, double b, int n)
{
    double h = (b - a) / n, s = f(a) + f(b);
    for (int i = 1; i < n; i++)
        s += f(a + i * h) * (i & 1 ? 4.0 : 2.0);
    return s * h / 3.0;
}

/* ---- conversions ---- */
#define NS 1024
static float samples[NS];
static short pcm[NS];

static u32 mix(u32 it, long long *fixed)
{
    float gain = 0.75f + (it % 7) * 0.125f;
    u32 seed = it * 2654435761u + 1;
    for (int i = 0; i < NS; i++) {
        seed = seed * 1103515245u + 12345u;
        samples[i] = (float)((int)(seed >> 8) - (1 << 23)) / (float)(1 << 23);
    }
    u32 sum = 0;
    long long fx = 0;
    for (int i = 0; i < NS; i++) {
        float v = samples[i] * gain * 32768.0f + (float)(i & 15);
        int s = (int)v;
        if (s > 32767) s = 32767;
        if (s < -32768) s = -32768;
        pcm[i] = (short)s;
        sum = sum * 31 + (u32)s;
        fx += (long long)((double)samples[i] * 1048576.0 + pcm[i]);
    }
    *fixed += fx;
    return sum;
}

int main(void)
{
    u32 iterations = cmdline_uint("iterations", 1000);
    printf("boot: fpubound\n");
    __asm__ volatile("fninit");
    nbody_init();
    double e0 = nbody_energy(), mat = 0, pi = 0, rat = 0;
    u32 pcmsum = 0;
    long long fixed = 0;
    for (u32 it = 0; it < iterations; it++) {
        for (int s = 0; s < 100; s++)
            nbody_advance(0.001);
        mat += matmul(it);
        pi += simpson(f_pi, 0.0, 1.0, 200 + (it & 7) * 2);
        rat += simpson(f_rat, -0.5, 2.0 + (it & 3), 300);
        pcmsum = pcmsum * 33 + mix(it, &fixed);
    }
    printf("iterations: %u\n", iterations);
    put64("energy before", e0);
    put64("energy after", nbody_energy());
    put64("position", bodies[1].x + bodies[2].y + bodies[3].z);
    put64("matrix", mat);
    put64("simpson pi", pi);
    put64("simpson rational", rat);
    printf("pcm: %08x\n", pcmsum);
    printf("fixed: %08x%08x\n", (u32)((u64_t)fixed >> 32), (u32)fixed);
    return 0;
}
