/*
 * lib/models/onnx_info.c — the classifier info of a loaded ONNX graph
 * (include/stylex/onnx.h): the default layer lists, found from the slot
 * shapes of the run at load; the JSON sidecar beside the model (class
 * names, range, mean/std, resize, layers); the caller's options. Each
 * overrides the one before.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"
#include "stylex/json.h"

static bool is_activation(const onnx_graph *g, int s)
{
    int p = g->slots[s].producer;
    if (p < 0) return false;
    op_kind k = g->nodes[p].op;
    return k == OP_RELU || k == OP_CLIP || k == OP_LEAKY_RELU || k == OP_SIGMOID || k == OP_TANH;
}

static bool spatial(const slot *s) { return s->ndim == 4 && s->shape[2] * s->shape[3] > 1; }

static char *dup(loader *L, const char *s)
{
    char *d = strdup(s);
    if (!d) onnx_lfail(L, "out of memory");
    return d;
}

/* info's layer lists from the slot shapes; the defaults of onnx.h. */
static bool default_layers(loader *L, sx_classifier_info *in)
{
    onnx_graph *g = L->g;
    in->layers = calloc((size_t)g->n_slots, sizeof(char *));
    in->perceptual = calloc((size_t)g->n_slots, sizeof(char *));
    if (!in->layers || !in->perceptual) return onnx_lfail(L, "out of memory");
    int last_act = -1, last_map = -1;
    for (int s = 0; s < g->n_slots; s++) {
        const slot *sl = &g->slots[s];
        if (sl->producer < 0 || sl->ndim != 4) continue;
        if (!(in->layers[in->n_layers] = dup(L, sl->name))) return false;
        in->n_layers++;
        if (!spatial(sl)) continue;
        last_map = s;
        if (is_activation(g, s)) last_act = s;
        /* the last activation of its size: no later activation of the same size */
        if (!is_activation(g, s)) continue;
        bool later = false;
        for (int q = s + 1; q < g->n_slots && !later; q++)
            later = g->slots[q].producer >= 0 && g->slots[q].ndim == 4 && is_activation(g, q) &&
                    g->slots[q].shape[2] == sl->shape[2] && g->slots[q].shape[3] == sl->shape[3];
        if (!later && !(in->perceptual[in->n_perceptual++] = dup(L, sl->name))) return false;
    }
    int cam = last_act >= 0 ? last_act : last_map;
    if (cam >= 0 && !(in->gradcam_layer = dup(L, g->slots[cam].name))) return false;
    if (in->n_perceptual == 0 && cam >= 0 && !(in->perceptual[in->n_perceptual++] = dup(L, g->slots[cam].name)))
        return false;
    int pen = g->output;
    const node *last = &g->nodes[g->slots[g->output].producer];
    if ((last->op == OP_GEMM || last->op == OP_MATMUL) && last->in[0] >= 0) pen = last->in[0];
    if (!(in->penultimate = dup(L, g->slots[pen].name))) return false;
    if (g->slots[pen].producer < 0 && pen != g->input) return onnx_lfail(L, "the penultimate features are a constant");
    return true;
}

/* Options read from the sidecar (owned strings). */
typedef struct side_opts {
    int n_names;
    char **names;
    bool set_range;
    float range[2];
    int n_mean, n_std;
    float mean[3], std[3];
    int resize;
    int n_perc;
    char **perc;
    char *gradcam, *pen;
} side_opts;

static void side_clear(side_opts *s)
{
    for (int i = 0; i < s->n_names; i++) free(s->names[i]);
    for (int i = 0; i < s->n_perc; i++) free(s->perc[i]);
    free(s->names);
    free(s->perc);
    free(s->gradcam);
    free(s->pen);
    memset(s, 0, sizeof *s);
}

static bool json_strings(sx_json_reader *r, char ***out, int *n)
{
    if (!sx_json_expect(r, '[')) return false;
    int cap = 0;
    if (sx_json_accept(r, ']')) return true;
    do {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **v = realloc(*out, sizeof(char *) * (size_t)cap);
            if (!v) return false;
            *out = v;
        }
        size_t len;
        if (!sx_json_string(r, &(*out)[*n], &len)) return false;
        (*n)++;
    } while (sx_json_accept(r, ','));
    return sx_json_expect(r, ']');
}

static bool json_floats(sx_json_reader *r, float *out, int cap, int *n, const char *key, loader *L)
{
    if (!sx_json_expect(r, '[')) return false;
    if (sx_json_accept(r, ']')) return true;
    do {
        double d;
        if (!sx_json_number(r, &d)) return false;
        if (*n >= cap) return onnx_lfail(L, "'%s' has more than %d numbers", key, cap);
        out[(*n)++] = (float)d;
    } while (sx_json_accept(r, ','));
    return sx_json_expect(r, ']');
}

static bool read_sidecar(loader *L, const char *path, side_opts *s)
{
    FILE *f = fopen(path, "rb");
    if (!f) return onnx_lfail(L, "%s: cannot open the sidecar", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *t = cap > (1u << 20) ? NULL : realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return onnx_lfail(L, "%s: larger than 1 MiB", path);
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    sx_json_reader r;
    sx_json_init(&r, text, len);
    bool ok = sx_json_expect(&r, '{');
    bool empty = ok && sx_json_accept(&r, '}');
    while (ok && !empty) {
        char *key = NULL;
        size_t kl;
        ok = sx_json_string(&r, &key, &kl) && sx_json_expect(&r, ':');
        if (ok) {
            if (!strcmp(key, "class_names")) ok = json_strings(&r, &s->names, &s->n_names);
            else if (!strcmp(key, "perceptual")) ok = json_strings(&r, &s->perc, &s->n_perc);
            else if (!strcmp(key, "gradcam_layer")) ok = sx_json_string(&r, &s->gradcam, &kl);
            else if (!strcmp(key, "penultimate")) ok = sx_json_string(&r, &s->pen, &kl);
            else if (!strcmp(key, "range")) {
                int n = 0;
                ok = json_floats(&r, s->range, 2, &n, key, L) && (n == 2 || onnx_lfail(L, "'range' needs 2 numbers"));
                s->set_range = true;
            } else if (!strcmp(key, "mean")) ok = json_floats(&r, s->mean, 3, &s->n_mean, key, L);
            else if (!strcmp(key, "std")) ok = json_floats(&r, s->std, 3, &s->n_std, key, L);
            else if (!strcmp(key, "resize")) {
                int c = sx_json_peek(&r);
                if (c == 't' || c == 'f') {
                    s->resize = c == 't' ? 1 : -1;
                    ok = sx_json_skip(&r);
                } else ok = onnx_lfail(L, "'resize' must be true or false");
            } else if (!strcmp(key, "channels")) ok = sx_json_skip(&r); /* informative: the graph says */
            else ok = onnx_lfail(L, "unknown key '%s' (class_names, range, mean, std, resize, perceptual, gradcam_layer, "
                               "penultimate)", key);
        }
        free(key);
        if (ok && !sx_json_accept(&r, ',')) {
            ok = sx_json_expect(&r, '}');
            break;
        }
    }
    ok = ok && sx_json_end(&r);
    free(text);
    if (!ok) {
        if (!L->err[0]) onnx_lfail(L, "%s", r.err);
        char msg[400];
        snprintf(msg, sizeof msg, "%s", L->err);
        L->err[0] = 0;
        return onnx_lfail(L, "sidecar %s: %s", path, msg);
    }
    if (s->n_mean != s->n_std) return onnx_lfail(L, "sidecar %s: %d mean and %d std values", path, s->n_mean, s->n_std);
    return true;
}

static bool copy_list(loader *L, int n, const char *const *src, char ***dst, int *dn)
{
    *dst = calloc((size_t)n + 1, sizeof(char *));
    if (!*dst) return onnx_lfail(L, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!((*dst)[i] = dup(L, src[i]))) return false;
        *dn = i + 1;
    }
    return true;
}

static void replace(char **dst, char *src)
{
    free(*dst);
    *dst = src;
}

/* The info: defaults, then the sidecar, then the options. */
static bool build_info(loader *L, const sx_onnx_opts *o, const side_opts *s, sx_classifier_info *in)
{
    onnx_graph *g = L->g;
    const slot *out = &g->slots[g->output];
    if (out->ndim != 2 || out->shape[1] < 2)
        return onnx_lfail(L, "the output '%s' has %d dimensions (K = %" PRId64 "), expected logits [N, K] with K >= 2",
                          out->name, out->ndim, out->ndim >= 2 ? out->shape[1] : 0);
    int K = (int)out->shape[1];
    in->prep = (sx_classifier_prep){.channels = g->channels, .height = g->height, .width = g->width, .resize = true,
                                    .range = {0, 1}};
    if (!default_layers(L, in)) return false;
    /* class names */
    int nn = o && o->n_class_names ? o->n_class_names : s->n_names;
    if (nn && nn != K) return onnx_lfail(L, "%d class names for %d logits", nn, K);
    if (!(in->class_names = calloc((size_t)K, sizeof(char *)))) return onnx_lfail(L, "out of memory");
    in->n_classes = K;
    for (int k = 0; k < K; k++) {
        char num[24];
        snprintf(num, sizeof num, "%d", k);
        const char *name = o && o->n_class_names ? o->class_names[k] : s->n_names ? s->names[k] : num;
        if (!(in->class_names[k] = dup(L, name))) return false;
    }
    /* preprocessing */
    sx_classifier_prep *p = &in->prep;
    if (s->set_range) memcpy(p->range, s->range, sizeof p->range);
    if (o && o->set_range) memcpy(p->range, o->range, sizeof p->range);
    if (s->n_mean) {
        p->n_norm = s->n_mean;
        memcpy(p->mean, s->mean, sizeof p->mean);
        memcpy(p->std, s->std, sizeof p->std);
    }
    if (o && o->n_norm) {
        p->n_norm = o->n_norm;
        memcpy(p->mean, o->mean, sizeof p->mean);
        memcpy(p->std, o->std, sizeof p->std);
    }
    if (p->n_norm == 1 && p->channels == 3) { /* one value for all channels */
        p->n_norm = 3;
        p->mean[1] = p->mean[2] = p->mean[0];
        p->std[1] = p->std[2] = p->std[0];
    }
    int rs = o && o->resize ? o->resize : s->resize;
    if (rs) p->resize = rs > 0;
    /* layers */
    if ((o && o->n_perceptual) || s->n_perc) {
        for (int i = 0; i < in->n_perceptual; i++) free(in->perceptual[i]);
        free(in->perceptual);
        in->perceptual = NULL;
        in->n_perceptual = 0;
        bool ok = o && o->n_perceptual ? copy_list(L, o->n_perceptual, o->perceptual, &in->perceptual, &in->n_perceptual)
                                       : copy_list(L, s->n_perc, (const char *const *)s->perc, &in->perceptual,
                                                   &in->n_perceptual);
        if (!ok) return false;
    }
    const char *cam = o && o->gradcam_layer ? o->gradcam_layer : s->gradcam;
    if (cam) replace(&in->gradcam_layer, dup(L, cam));
    const char *pen = o && o->penultimate ? o->penultimate : s->pen;
    if (pen) replace(&in->penultimate, dup(L, pen));
    return !L->err[0];
}

static char *default_sidecar(const char *path)
{
    size_t n = strlen(path);
    char *s = malloc(n + 6);
    if (!s) return NULL;
    memcpy(s, path, n + 1);
    if (n > 5 && !strcmp(s + n - 5, ".onnx")) s[n - 5] = 0;
    strcat(s, ".json");
    return s;
}

bool onnx_load_info(loader *L, const char *path, const sx_onnx_opts *opts, sx_classifier_info *info)
{
    side_opts side = {0};
    bool ok = true;
    const char *sc = opts ? opts->sidecar : NULL;
    char *def = sc ? NULL : default_sidecar(path);
    if (sc && sc[0]) ok = read_sidecar(L, sc, &side);
    else if (def) {
        FILE *f = fopen(def, "rb");
        if (f) {
            fclose(f);
            ok = read_sidecar(L, def, &side);
        }
    }
    free(def);
    ok = ok && build_info(L, opts, &side, info);
    side_clear(&side);
    return ok;
}
