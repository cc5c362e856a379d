/*
 * lib/core/rng.c — the global random generator: xoshiro256** seeded through
 * splitmix64, normals by Box-Muller in double precision (each normal uses
 * exactly two uniforms, so the four state words are the whole state and a
 * resumed run continues the same stream). Integer arithmetic and IEEE double
 * make the stream identical on every machine for a seed.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

static uint64_t rng_s[4] = {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull,
                            0x2545F4914F6CDD1Dull};

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(void)
{
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9;
    uint64_t t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

void sx_manual_seed(uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        rng_s[i] = z ^ (z >> 31);
    }
}

void sx_rng_get_state(uint64_t state[4])
{
    for (int i = 0; i < 4; i++) state[i] = rng_s[i];
}

void sx_rng_set_state(const uint64_t state[4])
{
    for (int i = 0; i < 4; i++) rng_s[i] = state[i];
}

double sx_rng_uniform(void) { return (double)(next_u64() >> 11) * 0x1.0p-53; } /* [0, 1) */

/* One normal from two draws of the stream: u1 = 1 - uniform in (0, 1] (so the
 * log is finite), u2 uniform in [0, 1). */
static double normal_from_draws(uint64_t a, uint64_t b)
{
    double u1 = 1.0 - (double)(a >> 11) * 0x1.0p-53;
    double u2 = (double)(b >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double sx_rng_normal(void)
{
    uint64_t a = next_u64();
    return normal_from_draws(a, next_u64());
}

struct normals_ctx {
    const uint64_t *draws; /* 2 per value */
    float *out;
};

static void normals_body(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const struct normals_ctx *c = vctx;
    for (int64_t i = begin; i < end; i++) c->out[i] = (float)normal_from_draws(c->draws[2 * i], c->draws[2 * i + 1]);
}

/* n values of (float)sx_rng_normal(), the same stream: the draws are taken in
 * order on this thread, the logs and cosines computed over the pool. */
bool sx_rng_fill_normal(float *out, int64_t n)
{
    enum { CHUNK = 1 << 15 };
    uint64_t *draws = malloc(2 * sizeof *draws * (size_t)(n < CHUNK ? n : CHUNK));
    if (!draws && n > 0) return false;
    for (int64_t at = 0; at < n; at += CHUNK) {
        int64_t m = n - at < CHUNK ? n - at : CHUNK;
        for (int64_t i = 0; i < 2 * m; i++) draws[i] = next_u64();
        struct normals_ctx c = {draws, out + at};
        sx_parallel_for(m, 4096, normals_body, &c);
    }
    free(draws);
    return true;
}
