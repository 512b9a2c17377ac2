/* Read bandwidth of one or two cores over a buffer of a given size (L2, L3 or DRAM resident), for the notes on
 * where the GEMMs and the training step lose time in docs/benchmarks.md. Not part of the build or the tests.
 *
 *     gcc -O2 -mavx512f bench/reference/bandwidth.c -o /tmp/bandwidth -lpthread
 *     for kb in 1024 8192 65536 262144; do /tmp/bandwidth $kb 1; /tmp/bandwidth $kb 2; done
 *
 * Each thread sums its own buffer of <KB> KiB with 64-byte loads (4 independent accumulators) for about 2 GiB of
 * reads and prints GB/s; with 2 threads each prints its own rate. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int KB;

static void *run(void *arg)
{
    (void)arg;
    long n = KB * 1024L / 4;
    float *a = aligned_alloc(64, n * 4);
    for (long i = 0; i < n; i++) a[i] = 1;
    long reps = (1L << 31) / (n * 4);
    if (reps < 1) reps = 1;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    double t0 = now();
    for (long r = 0; r < reps; r++)
        for (long i = 0; i < n; i += 64)
        {
            s0 = _mm512_add_ps(s0, _mm512_load_ps(a + i));
            s1 = _mm512_add_ps(s1, _mm512_load_ps(a + i + 16));
            s2 = _mm512_add_ps(s2, _mm512_load_ps(a + i + 32));
            s3 = _mm512_add_ps(s3, _mm512_load_ps(a + i + 48));
        }
    double t = now() - t0;
    printf("%d KiB: %.1f GB/s (checksum %g)\n", KB, reps * n * 4 / t / 1e9,
           _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))));
    free(a);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: bandwidth <KiB per thread> <threads 1..8>\n"); return 2; }
    KB = atoi(argv[1]);
    int threads = atoi(argv[2]);
    if (KB < 64 || threads < 1 || threads > 8) { fprintf(stderr, "bandwidth: KiB >= 64, threads 1..8\n"); return 2; }
    pthread_t t[8];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], 0, run, 0);
    for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
    return 0;
}
