/* Throughput of AVX-512 BF16 dot products (VDPBF16PS) against float32 FMA (VFMADD231PS) on one core.
 * Issue 6 asked to consider BF16 products with float32 accumulation; .NET 10 has no AVX512-BF16 intrinsic, so this
 * C probe (not part of the build or the tests) measures whether the instruction would pay on this CPU at all.
 *
 *     gcc -O2 -mavx512f -mavx512bf16 bench/reference/bf16_throughput.c -o /tmp/bf16 && /tmp/bf16
 *
 * 20 independent accumulators per loop (enough to hide either instruction's latency); FLOPs counted as 2 per
 * multiply-add: a zmm FMA does 16, a zmm VDPBF16PS 32 (16 lanes × a pair of bf16 products each). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

/* Written out: a loop over acc[] would keep the accumulators in memory. */
#define F(i) acc[i] = _mm512_fmadd_ps(x, y, acc[i]);
#define G(i) acc[i] = _mm512_dpbf16_ps(acc[i], bx, by);
#define FMA20 F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12) F(13) F(14) F(15) F(16) F(17) F(18) F(19)
#define DP20 G(0) G(1) G(2) G(3) G(4) G(5) G(6) G(7) G(8) G(9) G(10) G(11) G(12) G(13) G(14) G(15) G(16) G(17) G(18) G(19)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(void)
{
    __m512 acc[20];
    for (int i = 0; i < 20; i++) acc[i] = _mm512_set1_ps(0.f);
    __m512 x = _mm512_set1_ps(1e-8f), y = _mm512_set1_ps(2e-8f);
    __m512bh bx = (__m512bh)_mm512_set1_epi16(0x3f80), by = (__m512bh)_mm512_set1_epi16(0x3f00);
    const long n = 10000000;
    for (int rep = 0; rep < 3; rep++)
    {
        double t0 = now();
        for (long k = 0; k < n; k++)
        {
            FMA20;
            __asm__ volatile("" ::"v"(x), "v"(y));
        }
        double t1 = now();
        for (long k = 0; k < n; k++)
        {
            DP20;
            __asm__ volatile("" ::"v"(bx), "v"(by));
        }
        double t2 = now();
        float s = 0;
        for (int i = 0; i < 20; i++) s += _mm512_reduce_add_ps(acc[i]);
        printf("fp32 FMA: %.1f GFLOP/s   bf16 VDPBF16PS: %.1f GFLOP/s   (checksum %g)\n",
               n * 20 * 32 / (t1 - t0) / 1e9, n * 20 * 64 / (t2 - t1) / 1e9, s);
    }
    return 0;
}
