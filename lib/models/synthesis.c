/*
 * lib/models/synthesis.c — the StyleGAN2 synthesis network (skip
 * architecture) and its StyleSpace: the batched modulated convolution, the
 * style vectors of every layer, and regeneration from given styles starting
 * at any layer from cached activations (what AttFind runs 2S times per image).
 *
 * Module tree (stylegan2-ada names):
 *   SynthesisNetwork
 *     b4:  const [C0, 4, 4]; conv1, torgb
 *     b8, b16, ...: conv0 (2x up), conv1, torgb
 *   SynthesisLayer  (conv0 / conv1): weight [Cout, Cin, 3, 3] (gain 1: the
 *                   demodulation normalises it), noise_strength [] (init 0),
 *                   bias [Cout], affine (Linear latent -> Cin, bias init 1)
 *   ToRGBLayer      (torgb): weight [img_ch, Cin, 1, 1] (gain 1/sqrt(Cin),
 *                   the equalized-lr gain official code puts on the styles),
 *                   bias [img_ch], affine (as above)
 *
 * One pass over layer l (input x, styles s = conv[l]):
 *   y = modconv(x, weight, s, up) with d scaled by sqrt 2,
 *   y = lrelu(y + noise * (noise_strength sqrt 2) + bias sqrt 2),
 * i.e. lrelu(.) * sqrt 2 with the sqrt 2 folded into the three small tensors
 * (lrelu is positively homogeneous), saving a full pass over the activation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stylegan_internal.h"

/* ---------------------------------------------------------------- construction */

/* A modulated layer: affine child, weight, optional noise strength, bias. */
static sx_module *mod_layer_new(const char *type, const sx_stylegan_config *cfg, int cin, int cout, int k,
                                float wgain, bool noise)
{
    sx_module *m = sx_module_new(type);
    if (!m) return NULL;
    sx_tensor *w = sx_tensor_randn(4, (int64_t[]){cout, cin, k, k});
    bool ok = w && sx_module_add_param(m, "weight", w, 1.0f, wgain) == SX_OK;
    if (ok && noise) {
        sx_tensor *ns = sx_tensor_zeros(0, NULL);
        ok = ns && sx_module_add_param(m, "noise_strength", ns, 1.0f, 1.0f) == SX_OK;
    }
    if (ok) {
        sx_tensor *b = sx_tensor_zeros(1, (int64_t[]){cout});
        ok = b && sx_module_add_param(m, "bias", b, 1.0f, 1.0f) == SX_OK;
    }
    sx_linear_opts ao = {.in = cfg->w_dim + cfg->n_classes, .out = cin, .equalized = true, .bias_init = 1.0f};
    if (ok) ok = sg_add(m, "affine", sx_linear_layer_new(&ao));
    if (!ok) {
        sx_module_free(m);
        return NULL;
    }
    return m;
}

sx_module *sx_synthesis_new(const sx_stylegan_config *cfg)
{
    sx_module *m = sg_model_new("SynthesisNetwork", cfg);
    if (!m) return NULL;
    int n = sg_n_levels(cfg);
    bool ok = true;
    for (int k = 0; k < n && ok; k++) {
        int res = 4 << k, c = cfg->channels[k];
        sx_module *b = sx_module_new("SynthesisBlock");
        ok = b != NULL;
        if (ok && k == 0) {
            sx_tensor *cst = sx_tensor_randn(3, (int64_t[]){c, 4, 4});
            ok = cst && sx_module_add_param(b, "const", cst, 1.0f, 1.0f) == SX_OK;
        }
        if (ok && k > 0) ok = sg_add(b, "conv0", mod_layer_new("SynthesisLayer", cfg, cfg->channels[k - 1], c, 3, 1.0f, true));
        if (ok) ok = sg_add(b, "conv1", mod_layer_new("SynthesisLayer", cfg, c, c, 3, 1.0f, true));
        if (ok)
            ok = sg_add(b, "torgb",
                        mod_layer_new("ToRGBLayer", cfg, c, cfg->img_channels, 1, 1.0f / sqrtf((float)c), false));
        char name[16];
        snprintf(name, sizeof name, "b%d", res);
        if (b) ok = ok ? sg_add(m, name, b) : (sx_module_free(b), false);
    }
    if (!ok) {
        sx_module_free(m);
        return NULL;
    }
    return m;
}

/* Layer l's module (conv0 / conv1) and level k's toRGB, borrowed. */
static sx_module *layer_module(const sx_module *S, int l)
{
    const sx_stylegan_config *c = &((const sg_model_impl *)S->impl)->cfg;
    int res;
    sg_layer_geom(c, l, NULL, NULL, &res, NULL);
    char name[16];
    snprintf(name, sizeof name, "b%d", res);
    return sx_module_child(sx_module_child(S, name), l % 2 == 1 ? "conv0" : "conv1");
}

static sx_module *rgb_module(const sx_module *S, int k)
{
    char name[16];
    snprintf(name, sizeof name, "b%d", 4 << k);
    return sx_module_child(sx_module_child(S, name), "torgb");
}

/* ---------------------------------------------------------------- modulated conv */

/* [N, C, H, W] viewed as [N, C, H*W]. Broadcasting a per-channel [N, C, 1]
 * against it runs along whole planes instead of rows of W. */
static sx_tensor *planes(sx_tensor *x)
{
    return sx_reshape(x, 3, (int64_t[]){x->shape[0], x->shape[1], x->shape[2] * x->shape[3]});
}

/* x [Nx, C, H, W] * v[:, :, None, None] with v [Nv, C] (Nx or Nv may be 1). */
static sx_tensor *scale_channels(sx_tensor *x, sx_tensor *v)
{
    sx_tensor *x3 = planes(x);
    sx_tensor *v3 = x3 ? sx_reshape(v, 3, (int64_t[]){v->shape[0], v->shape[1], 1}) : NULL;
    sx_tensor *y = v3 ? sx_mul(x3, v3) : NULL;
    if (y) sg_step(&y, sx_reshape(y, 4, (int64_t[]){y->shape[0], y->shape[1], x->shape[2], x->shape[3]}));
    sx_tensor_free(x3);
    sx_tensor_free(v3);
    return y;
}

/* The batched modulated conv without its demodulation: conv(x * s[:, :, None,
 * None], w), or for up = 2 the stride-2 transposed conv and the FIR. */
static sx_tensor *modconv_raw(sx_tensor *x, sx_tensor *w, sx_tensor *s, int up)
{
    const char *fn = "modulated_conv2d";
    char s1[96], s2[96], s3[96];
    if (!sx_check_arg(fn, 1, x) || !sx_check_arg(fn, 2, w) || !sx_check_arg(fn, 3, s)) return NULL;
    if (x->ndim != 4 || w->ndim != 4 || s->ndim != 2 || w->shape[1] != x->shape[1] || s->shape[1] != x->shape[1] ||
        w->shape[2] != w->shape[3] || w->shape[2] % 2 == 0 ||
        (s->shape[0] != x->shape[0] && s->shape[0] != 1 && x->shape[0] != 1) || (up != 1 && up != 2)) {
        sx_fail(SX_EINVAL,
                "%s: expects x [N, Cin, H, W], weight [Cout, Cin, k, k] (k odd), styles [N, Cin] (N or 1), up 1 "
                "or 2; got x %s, weight %s, styles %s, up %d",
                fn, sx_shape_str(x, s1, sizeof s1), sx_shape_str(w, s2, sizeof s2), sx_shape_str(s, s3, sizeof s3),
                up);
        return NULL;
    }
    int64_t k = w->shape[2];
    sx_tensor *t[3] = {0};
    sx_tensor *y = NULL;
    /* x * s[:, :, None, None], one conv with the shared weight */
    bool ok = (t[0] = scale_channels(x, s)) != NULL;
    if (ok && up == 1) {
        sx_conv2d_opts o = {.padding = {(int)(k / 2), (int)(k / 2)}};
        y = sx_conv2d(t[0], w, NULL, &o);
    } else if (ok) {
        /* stride-2 transposed conv (output 2H + k - 2), then the FIR with gain 4
         * and the paddings of stylegan2-ada's conv2d_resample: 2H out */
        sx_conv2d_opts o = {.stride = {2, 2}};
        int p0 = (int)(k / 2 + 2 - (k - 1)), p1 = (int)(k / 2 + 1 - (k - 2));
        if ((t[1] = sx_transpose(w, 0, 1)) && (t[2] = sx_conv_transpose2d(t[0], t[1], NULL, &o)))
            y = sg_fir_apply(t[2], 4.0f, 1, 1, p0, p1);
    }
    sg_free_all(3, t);
    return y;
}

/* The demodulation coefficients times dgain (the folded activation gain):
 * d = rsqrt(s^2 @ sum_k(w^2)^T + 1e-8) * dgain, [N, Cout]. */
static sx_tensor *demod_coefs(sx_tensor *w, sx_tensor *s, float dgain)
{
    int dims[2] = {2, 3};
    sx_tensor *t[4] = {0}, *d = NULL;
    bool ok = (t[0] = sx_square(w)) && sg_step(&t[0], sx_sum(t[0], 2, dims, false)) &&
              sg_step(&t[0], sx_transpose(t[0], 0, 1)) && (t[1] = sx_square(s)) && (t[2] = sx_matmul(t[1], t[0])) &&
              (t[3] = sx_add_scalar(t[2], 1e-8f)) && (d = sx_rsqrt(t[3]));
    if (ok && dgain != 1.0f) sg_step(&d, sx_mul_scalar(d, dgain));
    sg_free_all(4, t);
    return d;
}

/* The batched modulated conv, demodulated by demod_coefs(w, s, dgain). */
static sx_tensor *modconv(sx_tensor *x, sx_tensor *w, sx_tensor *s, int up, bool demod, float dgain)
{
    sx_tensor *y = modconv_raw(x, w, s, up);
    if (!y || !demod) return y;
    sx_tensor *d = demod_coefs(w, s, dgain);
    if (!d || !sg_step(&y, scale_channels(y, d))) {
        sx_tensor_free(y);
        y = NULL;
    }
    sx_tensor_free(d);
    return y;
}

sx_tensor *sx_modulated_conv2d(sx_tensor *x, sx_tensor *weight, sx_tensor *styles, int up, bool demodulate)
{
    return modconv(x, weight, styles, up, demodulate, 1.0f);
}

/* A [C] parameter times gain as [C, 1] (broadcasts against [N, C, H*W]). */
static sx_tensor *bias_col(const sx_module *m, float gain)
{
    sx_tensor *b = sg_param_scaled(m, "bias", gain);
    if (b) sg_step(&b, sx_reshape(b, 2, (int64_t[]){b->shape[0], 1}));
    return b;
}

/* y3 [N, C, H*W] back to [N, C, H, W] of `like`'s spatial size. */
static sx_tensor *unplanes(sx_tensor *y3, const sx_tensor *like)
{
    return sx_reshape(y3, 4, (int64_t[]){y3->shape[0], y3->shape[1], like->shape[2], like->shape[3]});
}

/* The layer's epilogue lrelu(y * d[n, c] + nz[n, 0, :] + b[c]) in one pass
 * over y (batch sizes 1 broadcast), for when nothing is recorded: the same
 * float operations in the same order as the op chain of synthesis_layer, so
 * the same bits, without three intermediate activations. y [Ny, C, HW],
 * d [Nd, C], nz [Nn, 1, HW], b [C, 1], all contiguous. */
struct epilogue_ctx {
    const float *y, *d, *nz, *b;
    float *o;
    int64_t C, HW, sy, sd, sn; /* per-image strides of y, d, nz (0 when broadcast) */
};

static void epilogue_rows(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const struct epilogue_ctx *e = vctx;
    for (int64_t r = begin; r < end; r++) {
        int64_t n = r / e->C, c = r % e->C;
        const float *y = e->y + n * e->sy + c * e->HW, *nz = e->nz + n * e->sn;
        float dc = e->d[n * e->sd + c], bc = e->b[c], *o = e->o + r * e->HW;
        for (int64_t i = 0; i < e->HW; i++) {
            float v = y[i] * dc;
            v = v + nz[i];
            v = v + bc;
            o[i] = v > 0 ? v : v * SG_LRELU_SLOPE;
        }
    }
}

static sx_tensor *epilogue_fused(sx_tensor *y3, sx_tensor *d, sx_tensor *nz, sx_tensor *b)
{
    int64_t Ny = y3->shape[0], Nd = d->shape[0], Nn = nz->shape[0], C = y3->shape[1], HW = y3->shape[2];
    int64_t N = Ny > Nd ? Ny : Nd;
    N = N > Nn ? N : Nn;
    sx_tensor *o = sx_tensor_empty(3, (int64_t[]){N, C, HW});
    if (!o) return NULL;
    struct epilogue_ctx e = {.y = sx_tensor_data(y3), .d = sx_tensor_data(d), .nz = sx_tensor_data(nz),
                             .b = sx_tensor_data(b), .o = sx_tensor_data(o), .C = C, .HW = HW,
                             .sy = Ny > 1 ? C * HW : 0, .sd = Nd > 1 ? C : 0, .sn = Nn > 1 ? HW : 0};
    sx_parallel_for(N * C, 32768 / (HW > 0 ? HW : 1) + 1, epilogue_rows, &e);
    return o;
}

static bool epilogue_fusable(sx_tensor *y3, sx_tensor *d, sx_tensor *nz, sx_tensor *b)
{
    sx_tensor *in[4] = {y3, d, nz, b};
    if (sx_needs_record(4, in)) return false;
    for (int i = 0; i < 4; i++)
        if (!sx_tensor_is_contiguous(in[i])) return false;
    int64_t N = y3->shape[0], C = y3->shape[1], HW = y3->shape[2];
    bool batch_ok = (d->shape[0] == N || d->shape[0] == 1 || N == 1) &&
                    (nz->shape[0] == N || nz->shape[0] == 1 || N == 1) &&
                    (nz->shape[0] == d->shape[0] || nz->shape[0] == 1 || d->shape[0] == 1);
    return batch_ok && d->ndim == 2 && d->shape[1] == C && nz->ndim == 3 && nz->shape[1] == 1 &&
           nz->shape[2] == HW && b->ndim == 2 && b->shape[0] == C && b->shape[1] == 1;
}

/* Layer l on x: modconv, noise, bias, lrelu * sqrt 2. noise [N or 1, 1, r, r]. */
static sx_tensor *synthesis_layer(const sx_module *L, sx_tensor *x, sx_tensor *s, sx_tensor *noise, int up)
{
    sx_tensor *w = sg_param_scaled(L, "weight", 1.0f);
    sx_tensor *y = w ? modconv_raw(x, w, s, up) : NULL;
    sx_tensor *d = y ? demod_coefs(w, s, SG_SQRT2) : NULL;
    sx_tensor *y3 = d ? planes(y) : NULL, *n3 = y3 ? planes(noise) : NULL;
    sx_tensor *ns = n3 ? sg_param_scaled(L, "noise_strength", SG_SQRT2) : NULL;
    sx_tensor *nz = ns ? sx_mul(n3, ns) : NULL;
    sx_tensor *b = nz ? bias_col(L, SG_SQRT2) : NULL;
    bool ok = b != NULL;
    if (ok && epilogue_fusable(y3, d, nz, b)) {
        ok = sg_step(&y3, epilogue_fused(y3, d, nz, b));
    } else if (ok) {
        sx_tensor *d3 = sx_reshape(d, 3, (int64_t[]){d->shape[0], d->shape[1], 1});
        ok = d3 && sg_step(&y3, sx_mul(y3, d3)) && sg_step(&y3, sx_add(y3, nz)) && sg_step(&y3, sx_add(y3, b)) &&
             sg_step(&y3, sx_leaky_relu(y3, SG_LRELU_SLOPE));
        sx_tensor_free(d3);
    }
    sx_tensor *out = ok ? unplanes(y3, y) : NULL;
    sx_tensor *tmp[] = {w, y, d, y3, n3, ns, nz, b};
    sg_free_all(8, tmp);
    return out;
}

/* toRGB: 1x1 modulated conv without demodulation, + bias. */
static sx_tensor *torgb_layer(const sx_module *L, sx_tensor *x, sx_tensor *s)
{
    sx_tensor *w = sg_param_scaled(L, "weight", 1.0f);
    sx_tensor *y = w ? modconv(x, w, s, 1, false, 1.0f) : NULL;
    sx_tensor *y3 = y ? planes(y) : NULL;
    sx_tensor *b = y3 ? bias_col(L, 1.0f) : NULL;
    sx_tensor *out = b && sg_step(&y3, sx_add(y3, b)) ? unplanes(y3, y) : NULL;
    sx_tensor *tmp[] = {w, y, y3, b};
    sg_free_all(4, tmp);
    return out;
}

/* ---------------------------------------------------------------- layout, styles */

sx_status sx_style_layout_of(const sx_module *G, sx_style_layout *out)
{
    if (!out) return sx_fail(SX_EINVAL, "style_layout: NULL output");
    memset(out, 0, sizeof *out);
    sx_module *S = sg_resolve(G, "SynthesisNetwork", "synthesis", "style_layout");
    if (!S) return SX_EINVAL;
    const sx_stylegan_config *c = &((const sg_model_impl *)S->impl)->cfg;
    out->n_layers = sg_n_layers(c);
    out->n_levels = sg_n_levels(c);
    for (int l = 0; l < out->n_layers; l++) {
        sg_layer_geom(c, l, &out->channels[l], &out->out_channels[l], &out->resolution[l], &out->level[l]);
        sg_layer_name(c, l, out->name[l], sizeof out->name[l]);
        out->offset[l] = out->n_coords;
        out->n_coords += out->channels[l];
    }
    for (int k = 0; k < out->n_levels; k++) out->rgb_channels[k] = c->channels[k];
    return SX_OK;
}

sx_status sx_style_layout_locate(const sx_style_layout *lay, int j, int *layer, int *channel)
{
    if (!lay || j < 0 || j >= lay->n_coords)
        return sx_fail(SX_EINVAL, "style_layout_locate: coordinate %d outside 0 .. %d", j, lay ? lay->n_coords - 1 : -1);
    int l = 0;
    while (l + 1 < lay->n_layers && lay->offset[l + 1] <= j) l++;
    if (layer) *layer = l;
    if (channel) *channel = j - lay->offset[l];
    return SX_OK;
}

void sx_styles_clear(sx_styles *st)
{
    if (!st) return;
    sg_free_all(SX_STYLEGAN_MAX_LAYERS, st->conv);
    sg_free_all(SX_STYLEGAN_MAX_LEVELS, st->rgb);
    memset(st, 0, sizeof *st);
}

/* Checks latent [N, w_dim + n_classes] against the synthesis config. */
static bool check_latent(const sx_stylegan_config *c, sx_tensor *latent, const char *fn)
{
    if (!sx_check_arg(fn, 2, latent)) return false;
    if (latent->ndim != 2 || latent->shape[1] != c->w_dim + c->n_classes || latent->shape[0] < 1) {
        char s[96];
        sx_fail(SX_EINVAL, "%s: latent %s, expected [N, %d] (w_dim %d + n_classes %d)", fn,
                sx_shape_str(latent, s, sizeof s), c->w_dim + c->n_classes, c->w_dim, c->n_classes);
        return false;
    }
    return true;
}

sx_status sx_synthesis_styles(sx_module *G, sx_tensor *latent, sx_styles *out)
{
    const char *fn = "synthesis_styles";
    if (!out) return sx_fail(SX_EINVAL, "%s: NULL output", fn);
    memset(out, 0, sizeof *out);
    sx_module *S = sg_resolve(G, "SynthesisNetwork", "synthesis", fn);
    if (!S) return SX_EINVAL;
    const sx_stylegan_config *c = &((const sg_model_impl *)S->impl)->cfg;
    if (!check_latent(c, latent, fn)) return SX_EINVAL;
    out->n_layers = sg_n_layers(c);
    out->n_levels = sg_n_levels(c);
    bool ok = true;
    for (int l = 0; l < out->n_layers && ok; l++)
        ok = (out->conv[l] = sx_linear_layer_forward(sx_module_child(layer_module(S, l), "affine"), latent)) != NULL;
    for (int k = 0; k < out->n_levels && ok; k++)
        ok = (out->rgb[k] = sx_linear_layer_forward(sx_module_child(rgb_module(S, k), "affine"), latent)) != NULL;
    if (!ok) {
        sx_styles_clear(out);
        return sx_last_status();
    }
    return SX_OK;
}

sx_tensor *sx_styles_flat(const sx_styles *st)
{
    if (!st || st->n_layers < 1 || st->n_layers > SX_STYLEGAN_MAX_LAYERS) {
        sx_fail(SX_EINVAL, "styles_flat: no styles");
        return NULL;
    }
    for (int l = 0; l < st->n_layers; l++)
        if (!st->conv[l]) {
            sx_fail(SX_EINVAL, "styles_flat: layer %d has no styles", l);
            return NULL;
        }
    return sx_cat(st->n_layers, st->conv, 1);
}

sx_status sx_styles_set_flat(const sx_module *G, sx_styles *st, sx_tensor *flat)
{
    const char *fn = "styles_set_flat";
    sx_style_layout lay;
    if (!st) return sx_fail(SX_EINVAL, "%s: NULL styles", fn);
    if (sx_style_layout_of(G, &lay) != SX_OK || !sx_check_arg(fn, 3, flat)) return sx_last_status();
    if (flat->ndim != 2 || flat->shape[1] != lay.n_coords || flat->shape[0] < 1) {
        char s[96];
        return sx_fail(SX_EINVAL, "%s: flat styles %s, expected [N, %d]", fn, sx_shape_str(flat, s, sizeof s),
                       lay.n_coords);
    }
    sx_tensor *parts[SX_STYLEGAN_MAX_LAYERS] = {0};
    for (int l = 0; l < lay.n_layers; l++)
        if (!(parts[l] = sx_narrow(flat, 1, lay.offset[l], lay.channels[l]))) {
            sg_free_all(lay.n_layers, parts);
            return sx_last_status();
        }
    for (int l = 0; l < lay.n_layers; l++) {
        sx_tensor_free(st->conv[l]);
        st->conv[l] = parts[l];
    }
    st->n_layers = lay.n_layers;
    st->n_levels = lay.n_levels;
    return SX_OK;
}

/* Rows [start, start + length) of t (shared as-is when its batch is 1). */
static sx_tensor *rows_of(sx_tensor *t, int64_t start, int64_t length)
{
    if (!t) return NULL;
    if (t->shape[0] == 1 && !(start == 0 && length == 1)) return sx_tensor_retain(t);
    return sx_narrow(t, 0, start, length);
}

sx_status sx_styles_narrow(const sx_styles *src, int64_t start, int64_t length, sx_styles *dst)
{
    if (!src || !dst || src == dst) return sx_fail(SX_EINVAL, "styles_narrow: bad arguments");
    sx_styles o = {.n_layers = src->n_layers, .n_levels = src->n_levels};
    bool ok = true;
    for (int l = 0; l < SX_STYLEGAN_MAX_LAYERS && ok; l++)
        ok = !src->conv[l] || (o.conv[l] = rows_of(src->conv[l], start, length));
    for (int k = 0; k < SX_STYLEGAN_MAX_LEVELS && ok; k++)
        ok = !src->rgb[k] || (o.rgb[k] = rows_of(src->rgb[k], start, length));
    if (!ok) {
        sx_styles_clear(&o);
        return sx_last_status();
    }
    *dst = o;
    return SX_OK;
}

sx_status sx_styles_share(const sx_styles *src, sx_styles *dst)
{
    if (!src || !dst || src == dst) return sx_fail(SX_EINVAL, "styles_share: bad arguments");
    *dst = *src;
    for (int l = 0; l < SX_STYLEGAN_MAX_LAYERS; l++) sx_tensor_retain(dst->conv[l]);
    for (int k = 0; k < SX_STYLEGAN_MAX_LEVELS; k++) sx_tensor_retain(dst->rgb[k]);
    return SX_OK;
}

sx_status sx_styles_mix(const sx_styles *a, const sx_styles *b, int cutoff, sx_styles *out)
{
    if (!a || !b || !out || out == a || out == b || a->n_layers != b->n_layers || a->n_levels != b->n_levels)
        return sx_fail(SX_EINVAL, "styles_mix: needs two style sets of the same network and a separate output");
    if (cutoff < 1 || cutoff > a->n_layers)
        return sx_fail(SX_EINVAL, "styles_mix: cutoff %d outside 1 .. %d", cutoff, a->n_layers);
    sx_styles o = {.n_layers = a->n_layers, .n_levels = a->n_levels};
    for (int l = 0; l < a->n_layers; l++) o.conv[l] = sx_tensor_retain(l >= cutoff ? b->conv[l] : a->conv[l]);
    for (int k = 0; k < a->n_levels; k++) o.rgb[k] = sx_tensor_retain(2 * k + 1 >= cutoff ? b->rgb[k] : a->rgb[k]);
    *out = o;
    return SX_OK;
}

/* ---------------------------------------------------------------- cache, noise */

void sx_synthesis_cache_clear(sx_synthesis_cache *c)
{
    if (!c) return;
    sg_free_all(SX_STYLEGAN_MAX_LAYERS, c->x);
    sg_free_all(SX_STYLEGAN_MAX_LEVELS, c->img);
    memset(c, 0, sizeof *c);
}

sx_status sx_synthesis_cache_narrow(const sx_synthesis_cache *src, int64_t start, int64_t length,
                                    sx_synthesis_cache *dst)
{
    if (!src || !dst || src == dst) return sx_fail(SX_EINVAL, "synthesis_cache_narrow: bad arguments");
    sx_synthesis_cache o = {.n_layers = src->n_layers, .n_levels = src->n_levels};
    bool ok = true;
    for (int l = 0; l < SX_STYLEGAN_MAX_LAYERS && ok; l++) ok = !src->x[l] || (o.x[l] = rows_of(src->x[l], start, length));
    for (int k = 0; k < SX_STYLEGAN_MAX_LEVELS && ok; k++)
        ok = !src->img[k] || (o.img[k] = rows_of(src->img[k], start, length));
    if (!ok) {
        sx_synthesis_cache_clear(&o);
        return sx_last_status();
    }
    *dst = o;
    return SX_OK;
}

sx_status sx_synthesis_noise(const sx_module *G, int64_t n, sx_tensor **out)
{
    sx_style_layout lay;
    if (!out) return sx_fail(SX_EINVAL, "synthesis_noise: NULL output");
    if (sx_style_layout_of(G, &lay) != SX_OK) return sx_last_status();
    if (n < 1 || n > ((int64_t)1 << 24)) return sx_fail(SX_EINVAL, "synthesis_noise: batch %lld", (long long)n);
    for (int l = 0; l < lay.n_layers; l++) {
        int64_t r = lay.resolution[l];
        if (!(out[l] = sx_tensor_randn(4, (int64_t[]){n, 1, r, r}))) {
            sg_free_all(l, out);
            return sx_last_status();
        }
    }
    return SX_OK;
}

/* ---------------------------------------------------------------- from styles */

/* Folds t's batch into *n (1 broadcasts); false with an error naming what. */
static bool batch_of(const char *fn, const char *what, int idx, sx_tensor *t, int64_t *n)
{
    int64_t b = t->shape[0];
    if (b == 1 || b == *n) return true;
    if (*n == 1) {
        *n = b;
        return true;
    }
    char s[96];
    sx_fail(SX_EINVAL, "%s: %s[%d] %s has batch %lld, others have %lld (each must be the batch or 1)", fn, what, idx,
            sx_shape_str(t, s, sizeof s), (long long)b, (long long)*n);
    return false;
}

/* t must be [b, d1, d2, d3] (nd dims given) with any batch b >= 1. */
static bool check_entry(const char *fn, const char *what, int idx, const sx_tensor *t, int nd, int64_t d1,
                        int64_t d2, int64_t d3)
{
    char s[96];
    if (!t) return sx_fail(SX_EINVAL, "%s: %s[%d] is missing", fn, what, idx), false;
    int64_t want[3] = {d1, d2, d3};
    bool ok = t->ndim == nd && t->shape[0] >= 1;
    for (int i = 1; i < nd && ok; i++) ok = t->shape[i] == want[i - 1];
    if (!ok) {
        if (nd == 2)
            sx_fail(SX_EINVAL, "%s: %s[%d] is %s, expected [N, %lld]", fn, what, idx, sx_shape_str(t, s, sizeof s),
                    (long long)d1);
        else
            sx_fail(SX_EINVAL, "%s: %s[%d] is %s, expected [N, %lld, %lld, %lld]", fn, what, idx,
                    sx_shape_str(t, s, sizeof s), (long long)d1, (long long)d2, (long long)d3);
    }
    return ok;
}

sx_tensor *sx_synthesis_from_styles(sx_module *G, const sx_styles *st, sx_tensor *const *noise, int from,
                                    const sx_synthesis_cache *cache, sx_synthesis_cache *cache_out)
{
    const char *fn = "synthesis_from_styles";
    if (cache_out) memset(cache_out, 0, sizeof *cache_out);
    sx_module *S = sg_resolve(G, "SynthesisNetwork", "synthesis", fn);
    if (!S) return NULL;
    const sx_stylegan_config *c = &((const sg_model_impl *)S->impl)->cfg;
    sx_style_layout lay;
    sx_style_layout_of(S, &lay);
    const int L = lay.n_layers, K0 = lay.level[from < 0 || from >= L ? 0 : from];
    if (!st) return sx_fail(SX_EINVAL, "%s: NULL styles", fn), NULL;
    if (from < 0 || from >= L) return sx_fail(SX_EINVAL, "%s: from_layer %d outside 0 .. %d", fn, from, L - 1), NULL;
    if (from > 0 && !cache)
        return sx_fail(SX_EINVAL, "%s: from_layer %d needs the cache of a previous pass", fn, from), NULL;
    if (cache_out == cache && cache) return sx_fail(SX_EINVAL, "%s: cache and cache_out must differ", fn), NULL;

    /* check every tensor this pass uses and find the batch */
    int64_t n = 1;
    for (int l = from; l < L; l++) {
        if (!check_entry(fn, "styles.conv", l, st->conv[l], 2, lay.channels[l], 0, 0) ||
            !batch_of(fn, "styles.conv", l, st->conv[l], &n))
            return NULL;
        if (noise && (!check_entry(fn, "noise", l, noise[l], 4, 1, lay.resolution[l], lay.resolution[l]) ||
                      !batch_of(fn, "noise", l, noise[l], &n)))
            return NULL;
    }
    for (int k = K0; k < lay.n_levels; k++)
        if (!check_entry(fn, "styles.rgb", k, st->rgb[k], 2, lay.rgb_channels[k], 0, 0) ||
            !batch_of(fn, "styles.rgb", k, st->rgb[k], &n))
            return NULL;
    if (from > 0) {
        int64_t rin = lay.resolution[from] / (from % 2 == 1 ? 2 : 1);
        if (!check_entry(fn, "cache.x", from, cache->x[from], 4, lay.channels[from], rin, rin) ||
            !batch_of(fn, "cache.x", from, cache->x[from], &n) ||
            !check_entry(fn, "cache.img", K0 - 1, cache->img[K0 - 1], 4, c->img_channels, 4 << (K0 - 1),
                         4 << (K0 - 1)) ||
            !batch_of(fn, "cache.img", K0 - 1, cache->img[K0 - 1], &n))
            return NULL;
    }

    sx_tensor *x = NULL, *img = NULL;
    if (from == 0) {
        sx_param *p = sx_module_param(sx_module_child(S, "b4"), "const");
        x = p ? sx_reshape(p->tensor, 4, (int64_t[]){1, c->channels[0], 4, 4}) : NULL;
        if (!p) sx_fail(SX_ESTATE, "%s: synthesis has no b4.const", fn);
    } else {
        x = sx_tensor_retain(cache->x[from]);
        img = sx_tensor_retain(cache->img[K0 - 1]);
    }
    if (cache_out) {
        cache_out->n_layers = L;
        cache_out->n_levels = lay.n_levels;
        for (int l = 0; l < from; l++) cache_out->x[l] = sx_tensor_retain(cache->x[l]);
        for (int k = 0; k < K0; k++) cache_out->img[k] = sx_tensor_retain(cache->img[k]);
    }
    bool ok = x != NULL;
    for (int l = from; l < L && ok; l++) {
        if (cache_out) cache_out->x[l] = sx_tensor_retain(x);
        sx_tensor *nz = noise ? sx_tensor_retain(noise[l])
                              : sx_tensor_randn(4, (int64_t[]){n, 1, lay.resolution[l], lay.resolution[l]});
        ok = nz && sg_step(&x, synthesis_layer(layer_module(S, l), x, st->conv[l], nz, l % 2 == 1 ? 2 : 1));
        sx_tensor_free(nz);
        if (ok && l % 2 == 0) {
            /* the level's last conv: toRGB, summed into the upsampled skip image */
            int k = lay.level[l];
            sx_tensor *y = torgb_layer(rgb_module(S, k), x, st->rgb[k]);
            ok = y != NULL;
            if (ok && img) {
                sx_tensor *u = sx_upsample2d(img);
                ok = u && sg_step(&y, sx_add(u, y));
                sx_tensor_free(u);
            }
            sg_step(&img, y);
            if (ok && cache_out) cache_out->img[k] = sx_tensor_retain(img);
        }
    }
    sx_tensor_free(x);
    if (!ok) {
        sx_tensor_free(img);
        if (cache_out) sx_synthesis_cache_clear(cache_out);
        return NULL;
    }
    return img;
}

sx_tensor *sx_synthesis_forward(sx_module *G, sx_tensor *latent, sx_tensor *const *noise)
{
    sx_styles st;
    if (sx_synthesis_styles(G, latent, &st) != SX_OK) return NULL;
    sx_tensor *img = sx_synthesis_from_styles(G, &st, noise, 0, NULL, NULL);
    sx_styles_clear(&st);
    return img;
}
