/*
 * lib/data/shapes.c — the ground-truth benchmark's sampler, label rule and
 * renderer (include/stylex/shapes.h, docs/benchmark.md).
 *
 * Determinism: each image's factors come from a splitmix64 stream keyed by
 * (seed, index); rendering is plain double arithmetic (sin/cos from libm on
 * the rotation and texture only), quantised by the caller when it writes PNGs.
 */
#include <math.h>
#include <stdio.h>

#include "stylex/shapes.h"

static const struct {
    const char *name;
    double lo, hi;
    int discrete;
} factor_info[SX_SHAPES_N_FACTORS] = {
    [SX_SHAPES_SIZE] = {"size", 4.5, 8.0, 0},
    [SX_SHAPES_BRIGHTNESS] = {"brightness", 0.4, 1.0, 0},
    [SX_SHAPES_STRIPES] = {"stripes", 0, 1, 1},
    [SX_SHAPES_SHAPE] = {"shape", 0, 2, 1},
    [SX_SHAPES_SQUASH] = {"squash", 0.6, 1.0, 0},
    [SX_SHAPES_POS_X] = {"pos_x", -3.0, 3.0, 0},
    [SX_SHAPES_POS_Y] = {"pos_y", -3.0, 3.0, 0},
    [SX_SHAPES_ROTATION] = {"rotation", 0.0, 6.283185307179586, 0},
    [SX_SHAPES_TEXTURE] = {"texture", 0, 16777215, 1},
    [SX_SHAPES_MARKER] = {"marker", 0, 1, 1},
};
_Static_assert(SX_SHAPES_N_FACTORS == 10, "factor_info has one row per factor");

#define SIZE_THRESHOLD 6.25
#define BRIGHTNESS_THRESHOLD 0.7

const char *sx_shapes_factor_name(int factor)
{
    return factor >= 0 && factor < SX_SHAPES_N_FACTORS ? factor_info[factor].name : NULL;
}

void sx_shapes_factor_range(int factor, double *lo, double *hi)
{
    *lo = factor_info[factor].lo;
    *hi = factor_info[factor].hi;
}

int sx_shapes_factor_is_discrete(int factor)
{
    return factor_info[factor].discrete;
}

int sx_shapes_label(const sx_shapes_factors *f)
{
    int votes = (f->v[SX_SHAPES_SIZE] > SIZE_THRESHOLD) + (f->v[SX_SHAPES_BRIGHTNESS] > BRIGHTNESS_THRESHOLD) +
                (f->v[SX_SHAPES_STRIPES] > 0.5);
    return votes >= 2;
}

/* ---------------------------------------------------------------- sampling */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) /* [0, 1) */
{
    return (double)(splitmix(s) >> 11) * 0x1.0p-53;
}

static uint64_t stream_for(uint64_t seed, int64_t index)
{
    uint64_t s = seed ^ 0x5DEECE66Dull;
    uint64_t a = splitmix(&s);
    s = a ^ ((uint64_t)index * 0xD1B54A32D192ED03ull);
    splitmix(&s);
    return s;
}

static double uniform_in(uint64_t *s, int factor)
{
    return factor_info[factor].lo + (factor_info[factor].hi - factor_info[factor].lo) * uniform(s);
}

void sx_shapes_sample(uint64_t seed, int64_t index, double marker_if_1, double marker_if_0, sx_shapes_factors *out)
{
    uint64_t s = stream_for(seed, index);
    double *v = out->v;
    v[SX_SHAPES_SIZE] = uniform_in(&s, SX_SHAPES_SIZE);
    v[SX_SHAPES_BRIGHTNESS] = uniform_in(&s, SX_SHAPES_BRIGHTNESS);
    v[SX_SHAPES_STRIPES] = uniform(&s) < 0.5;
    v[SX_SHAPES_SHAPE] = floor(3.0 * uniform(&s));
    v[SX_SHAPES_SQUASH] = uniform_in(&s, SX_SHAPES_SQUASH);
    v[SX_SHAPES_POS_X] = uniform_in(&s, SX_SHAPES_POS_X);
    v[SX_SHAPES_POS_Y] = uniform_in(&s, SX_SHAPES_POS_Y);
    v[SX_SHAPES_ROTATION] = 6.283185307179586 * uniform(&s);
    v[SX_SHAPES_TEXTURE] = (double)(splitmix(&s) >> 40);
    double p = sx_shapes_label(out) ? marker_if_1 : marker_if_0;
    v[SX_SHAPES_MARKER] = uniform(&s) < p;
}

/* ---------------------------------------------------------------- rendering */

/* Is (x, y), in the object's own frame (centre 0, unrotated, unsquashed),
 * inside a shape of radius r? Areas are alike: circle pi r^2, square of half
 * side 0.85 r (2.89 r^2), triangle of circumradius 1.35 r (2.37 r^2). */
static int inside(int shape, double x, double y, double r)
{
    switch (shape) {
    case 0:
        return x * x + y * y < r * r;
    case 1:
        return fabs(x) < 0.85 * r && fabs(y) < 0.85 * r;
    default: {
        /* Pointing up (image y grows downward): the edges' outward normals
         * are at 90 (down), 210 and 330 degrees; inradius R/2. */
        double h = 0.5 * 1.35 * r;
        return y < h && (-0.8660254037844386 * x - 0.5 * y) < h && (0.8660254037844386 * x - 0.5 * y) < h;
    }
    }
}

sx_status sx_shapes_render(const sx_shapes_factors *f, float *out)
{
    for (int k = 0; k < SX_SHAPES_N_FACTORS; k++) {
        /* A slack of 1e-6 of the range: factors travel through float32 tensors. */
        double v = f->v[k], slack = 1e-6 * (factor_info[k].hi - factor_info[k].lo);
        if (!(v >= factor_info[k].lo - slack && v <= factor_info[k].hi + slack) ||
            (factor_info[k].discrete && v != floor(v)))
            return sx_fail(SX_EINVAL, "shapes_render: factor '%s' is %g, expected %s in [%g, %g]", factor_info[k].name,
                           v, factor_info[k].discrete ? "an integer" : "a number", factor_info[k].lo,
                           factor_info[k].hi);
    }
    const double *v = f->v;
    /* Background: a dim plane wave plus per-pixel grain, both from the texture seed. */
    uint64_t ts = (uint64_t)v[SX_SHAPES_TEXTURE] * 0x9E3779B97F4A7C15ull + 1;
    double freq = 0.25 + 0.75 * uniform(&ts), angle = 3.141592653589793 * uniform(&ts);
    double phase = 6.283185307179586 * uniform(&ts);
    double fx = freq * cos(angle), fy = freq * sin(angle);

    const double cx = 15.5 + v[SX_SHAPES_POS_X], cy = 15.5 + v[SX_SHAPES_POS_Y];
    const double r = v[SX_SHAPES_SIZE], squash = v[SX_SHAPES_SQUASH], b = v[SX_SHAPES_BRIGHTNESS];
    const double cr = cos(v[SX_SHAPES_ROTATION]), sr = sin(v[SX_SHAPES_ROTATION]);
    const int shape = (int)v[SX_SHAPES_SHAPE], stripes = v[SX_SHAPES_STRIPES] > 0.5;
    enum { SS = 4 }; /* supersamples per pixel side */

    for (int py = 0; py < SX_SHAPES_RES; py++)
        for (int px = 0; px < SX_SHAPES_RES; px++) {
            double bg = 0.12 + 0.05 * sin(fx * px + fy * py + phase) + 0.04 * (2.0 * uniform(&ts) - 1.0);
            double acc = 0;
            for (int sy = 0; sy < SS; sy++)
                for (int sx_ = 0; sx_ < SS; sx_++) {
                    double dx = px + (sx_ + 0.5) / SS - 0.5 - cx;
                    double dy = (py + (sy + 0.5) / SS - 0.5 - cy) / squash;
                    double ox = cr * dx + sr * dy, oy = -sr * dx + cr * dy;
                    if (!inside(shape, ox, oy, r)) {
                        acc += bg;
                        continue;
                    }
                    /* Stripes: bands 1.5 px wide across the object's own x axis. */
                    int dark = stripes && ((long)floor((ox + 64.0) / 1.5) & 1);
                    acc += dark ? 0.45 * b : b;
                }
            out[py * SX_SHAPES_RES + px] = (float)(acc / (SS * SS));
        }
    if (v[SX_SHAPES_MARKER] > 0.5)
        for (int py = 1; py < 4; py++)
            for (int px = 1; px < 4; px++) out[py * SX_SHAPES_RES + px] = 1.0f;
    return SX_OK;
}
