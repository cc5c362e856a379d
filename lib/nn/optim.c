/*
 * lib/nn/optim.c — SGD (momentum, Nesterov, weight decay) and Adam (L2 or
 * decoupled weight decay) over parameter groups, with exportable state.
 *
 * Updates are plain elementwise loops over contiguous parameter data, outside
 * the autograd graph. A step first gathers and checks every gradient and
 * allocates any missing state, then updates: a failure (non-finite gradient,
 * wrong shape, out of memory) leaves every parameter and its state untouched.
 * The formulas are PyTorch's (torch.optim.SGD with dampening 0, torch.optim.Adam
 * and AdamW), so hyperparameters carry over.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/autograd.h"
#include "stylex/ops.h"
#include "stylex/nn.h"

/* Largest step count a float32 holds exactly. */
#define STEP_MAX ((int64_t)1 << 24)

typedef enum { OPT_SGD, OPT_ADAM } opt_kind;

typedef struct param_state {
    sx_tensor *m1;   /* like the parameter: Adam's exp_avg or SGD's momentum buffer; NULL until used */
    sx_tensor *m2;   /* like the parameter: Adam's exp_avg_sq; NULL until used */
    int64_t step;    /* updates taken by this parameter */
} param_state;

typedef struct opt_group {
    int n;
    sx_tensor **params;  /* [n], retained leaves */
    param_state *st;     /* [n] */
    float lr;
} opt_group;

struct sx_optim {
    opt_kind kind;
    sx_sgd_opts sgd;
    sx_adam_opts adam;
    int n_groups;
    opt_group *groups;   /* [n_groups] */
};

/* ---------------------------------------------------------------- construction */

void sx_optim_free(sx_optim *opt)
{
    if (!opt) return;
    for (int g = 0; g < opt->n_groups; g++) {
        opt_group *gr = &opt->groups[g];
        for (int i = 0; i < gr->n; i++) {
            if (gr->params) sx_tensor_free(gr->params[i]);
            if (gr->st) {
                sx_tensor_free(gr->st[i].m1);
                sx_tensor_free(gr->st[i].m2);
            }
        }
        free(gr->params);
        free(gr->st);
    }
    free(opt->groups);
    free(opt);
}

static bool lr_ok(float lr) { return lr >= 0 && isfinite(lr); }

static sx_optim *optim_new(const char *fn, opt_kind kind, int n_groups, const sx_param_group *groups,
                           float default_lr)
{
    if (n_groups < 1 || !groups) {
        sx_fail(SX_EINVAL, "%s: needs at least one parameter group", fn);
        return NULL;
    }
    for (int g = 0; g < n_groups; g++) {
        const sx_param_group *gr = &groups[g];
        if (gr->n < 0 || (gr->n > 0 && !gr->params)) {
            sx_fail(SX_EINVAL, "%s: group %d has no parameter array", fn, g);
            return NULL;
        }
        if (!lr_ok(gr->lr)) {
            sx_fail(SX_EINVAL, "%s: group %d: lr must be >= 0 and finite (got %g)", fn, g, gr->lr);
            return NULL;
        }
        for (int i = 0; i < gr->n; i++) {
            const sx_tensor *p = gr->params[i];
            if (!p) {
                sx_fail(SX_EINVAL, "%s: group %d parameter %d is NULL", fn, g, i);
                return NULL;
            }
            if (p->grad_fn || !sx_tensor_is_contiguous(p)) {
                sx_fail(SX_EINVAL, "%s: group %d parameter %d must be a contiguous leaf tensor (got %s)", fn, g, i,
                        p->grad_fn ? "the output of an op" : "a non-contiguous view");
                return NULL;
            }
            /* the same tensor twice would be updated twice per step */
            for (int h = 0; h <= g; h++)
                for (int j = 0; j < (h == g ? i : groups[h].n); j++)
                    if (groups[h].params[j] == p || (groups[h].params[j]->storage == p->storage &&
                                                     groups[h].params[j]->offset == p->offset)) {
                        sx_fail(SX_EINVAL, "%s: group %d parameter %d is the same tensor as group %d parameter %d",
                                fn, g, i, h, j);
                        return NULL;
                    }
        }
    }
    sx_optim *opt = calloc(1, sizeof *opt);
    if (opt) opt->groups = calloc((size_t)n_groups, sizeof *opt->groups);
    if (!opt || !opt->groups) {
        free(opt);
        sx_fail(SX_ENOMEM, "%s: out of memory", fn);
        return NULL;
    }
    opt->kind = kind;
    opt->n_groups = n_groups;
    for (int g = 0; g < n_groups; g++) {
        opt_group *gr = &opt->groups[g];
        int n = groups[g].n;
        gr->params = calloc((size_t)n + 1, sizeof *gr->params);
        gr->st = calloc((size_t)n + 1, sizeof *gr->st);
        if (!gr->params || !gr->st) {
            sx_optim_free(opt);
            sx_fail(SX_ENOMEM, "%s: out of memory", fn);
            return NULL;
        }
        gr->n = n;
        gr->lr = groups[g].lr > 0 ? groups[g].lr : default_lr;
        for (int i = 0; i < n; i++) gr->params[i] = sx_tensor_retain(groups[g].params[i]);
    }
    return opt;
}

sx_optim *sx_sgd_new(int n_groups, const sx_param_group *groups, const sx_sgd_opts *o)
{
    const char *fn = "SGD";
    if (!o) {
        sx_fail(SX_EINVAL, "%s: NULL options", fn);
        return NULL;
    }
    if (!lr_ok(o->lr) || !(o->momentum >= 0 && o->momentum < 1) || !(o->weight_decay >= 0) ||
        !isfinite(o->weight_decay)) {
        sx_fail(SX_EINVAL, "%s: needs lr >= 0, 0 <= momentum < 1, weight_decay >= 0 (got %g, %g, %g)", fn, o->lr,
                o->momentum, o->weight_decay);
        return NULL;
    }
    if (o->nesterov && o->momentum <= 0) {
        sx_fail(SX_EINVAL, "%s: nesterov needs momentum > 0", fn);
        return NULL;
    }
    sx_optim *opt = optim_new(fn, OPT_SGD, n_groups, groups, o->lr);
    if (opt) opt->sgd = *o;
    return opt;
}

sx_adam_opts sx_adam_defaults(void)
{
    return (sx_adam_opts){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
}

sx_optim *sx_adam_new(int n_groups, const sx_param_group *groups, const sx_adam_opts *opts)
{
    const char *fn = "Adam";
    if (!opts) {
        sx_fail(SX_EINVAL, "%s: NULL options", fn);
        return NULL;
    }
    sx_adam_opts o = *opts;
    if (!lr_ok(o.lr) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) ||
        !(o.eps > 0 && isfinite(o.eps)) || !(o.weight_decay >= 0 && isfinite(o.weight_decay))) {
        sx_fail(SX_EINVAL,
                "%s: needs lr >= 0, betas in [0, 1), eps > 0, weight_decay >= 0 (got lr %g, betas %g %g, eps %g, "
                "weight_decay %g)",
                fn, o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
        return NULL;
    }
    sx_optim *opt = optim_new(fn, OPT_ADAM, n_groups, groups, o.lr);
    if (opt) opt->adam = o;
    return opt;
}

/* ---------------------------------------------------------------- queries */

const char *sx_optim_name(const sx_optim *opt) { return !opt ? "" : opt->kind == OPT_SGD ? "SGD" : "Adam"; }

int sx_optim_num_groups(const sx_optim *opt) { return opt ? opt->n_groups : 0; }

sx_tensor *const *sx_optim_group_params(const sx_optim *opt, int group, int *n)
{
    if (!opt || group < 0 || group >= opt->n_groups) {
        if (n) *n = 0;
        sx_fail(SX_EINVAL, "optim_group_params: no group %d", group);
        return NULL;
    }
    if (n) *n = opt->groups[group].n;
    return opt->groups[group].params;
}

float sx_optim_get_lr(const sx_optim *opt, int group)
{
    if (!opt || group < 0 || group >= opt->n_groups) return NAN;
    return opt->groups[group].lr;
}

sx_status sx_optim_set_lr(sx_optim *opt, int group, float lr)
{
    if (!opt) return sx_fail(SX_EINVAL, "optim_set_lr: NULL optimiser");
    if (group < -1 || group >= opt->n_groups)
        return sx_fail(SX_EINVAL, "optim_set_lr: group %d does not exist (%d groups)", group, opt->n_groups);
    if (!lr_ok(lr)) return sx_fail(SX_EINVAL, "optim_set_lr: lr must be >= 0 and finite (got %g)", lr);
    for (int g = 0; g < opt->n_groups; g++)
        if (group < 0 || g == group) opt->groups[g].lr = lr;
    return SX_OK;
}

void sx_optim_zero_grad(sx_optim *opt)
{
    for (int g = 0; opt && g < opt->n_groups; g++)
        for (int i = 0; i < opt->groups[g].n; i++) sx_tensor_zero_grad(opt->groups[g].params[i]);
}

/* ---------------------------------------------------------------- step */

static void sgd_update(const sx_sgd_opts *o, float lr, float *p, const float *g, param_state *s, int64_t n)
{
    float wd = o->weight_decay, mom = o->momentum;
    float *buf = s->m1 ? sx_tensor_data(s->m1) : NULL;
    bool first = s->step == 0;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (buf) {
            buf[i] = first ? d : mom * buf[i] + d;
            d = o->nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

static void adam_update(const sx_adam_opts *o, float lr, float *p, const float *g, param_state *s, int64_t n)
{
    float b1 = o->beta1, b2 = o->beta2, wd = o->weight_decay, eps = o->eps;
    float *m = sx_tensor_data(s->m1), *v = sx_tensor_data(s->m2);
    double t = (double)s->step;
    float step_size = (float)(lr / (1.0 - pow(b1, t)));
    float inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(b2, t)));
    float decay = o->decoupled ? 1.0f - lr * wd : 1.0f;
    float l2 = o->decoupled ? 0.0f : wd;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + l2 * p[i];
        p[i] *= decay;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
}

/* A state tensor like p, zero-filled, unless already there. */
static bool ensure(sx_tensor **slot, const sx_tensor *p)
{
    if (!*slot) *slot = sx_tensor_zeros_like(p);
    return *slot != NULL;
}

sx_status sx_optim_step(sx_optim *opt)
{
    if (!opt) return sx_fail(SX_EINVAL, "optim_step: NULL optimiser");
    const char *fn = sx_optim_name(opt);
    int total = 0;
    for (int g = 0; g < opt->n_groups; g++) total += opt->groups[g].n;
    sx_tensor **grads = calloc((size_t)total + 1, sizeof *grads);
    if (!grads) return sx_fail(SX_ENOMEM, "%s step: out of memory", fn);

    /* pass 1: contiguous gradients, checks, state allocation */
    sx_status st = SX_OK;
    char s1[96], s2[96];
    for (int g = 0, k = 0; g < opt->n_groups && st == SX_OK; g++) {
        opt_group *gr = &opt->groups[g];
        for (int i = 0; i < gr->n && st == SX_OK; i++, k++) {
            sx_tensor *p = gr->params[i], *gd = p->grad;
            if (!gd) continue;
            if (!sx_tensor_same_shape(gd, p)) {
                st = sx_fail(SX_EINVAL, "%s step: group %d parameter %d: gradient %s does not match parameter %s", fn,
                             g, i, sx_shape_str(gd, s1, sizeof s1), sx_shape_str(p, s2, sizeof s2));
                break;
            }
            grads[k] = sx_tensor_as_contiguous(gd);
            if (!grads[k]) {
                st = sx_last_status();
                break;
            }
            const float *d = sx_tensor_data(grads[k]);
            int64_t n = sx_tensor_numel(p);
            for (int64_t j = 0; j < n; j++)
                if (!isfinite(d[j])) {
                    st = sx_fail(SX_EINVAL,
                                 "%s step: group %d parameter %d %s has a non-finite gradient (%g at element %lld); "
                                 "step not taken",
                                 fn, g, i, sx_shape_str(p, s1, sizeof s1), d[j], (long long)j);
                    break;
                }
            if (st != SX_OK) break;
            param_state *s = &gr->st[i];
            bool ok = opt->kind == OPT_ADAM ? ensure(&s->m1, p) && ensure(&s->m2, p)
                                            : opt->sgd.momentum == 0 || ensure(&s->m1, p);
            if (!ok) st = sx_last_status();
            if (st == SX_OK && opt->kind == OPT_ADAM && s->step >= STEP_MAX)
                st = sx_fail(SX_ESTATE, "%s step: group %d parameter %d has taken %lld steps, the most supported", fn,
                             g, i, (long long)s->step);
        }
    }

    /* pass 2: the updates */
    for (int g = 0, k = 0; g < opt->n_groups && st == SX_OK; g++) {
        opt_group *gr = &opt->groups[g];
        for (int i = 0; i < gr->n; i++, k++) {
            if (!grads[k]) continue;
            sx_tensor *p = gr->params[i];
            param_state *s = &gr->st[i];
            int64_t n = sx_tensor_numel(p);
            if (opt->kind == OPT_ADAM) {
                s->step++;
                adam_update(&opt->adam, gr->lr, sx_tensor_data(p), sx_tensor_data(grads[k]), s, n);
            } else {
                sgd_update(&opt->sgd, gr->lr, sx_tensor_data(p), sx_tensor_data(grads[k]), s, n);
                s->step++;
            }
        }
    }
    for (int k = 0; k < total; k++) sx_tensor_free(grads[k]);
    free(grads);
    return st;
}

/* ---------------------------------------------------------------- state */

static sx_status push_scalar(sx_named_tensors *out, const char *name, float v)
{
    sx_tensor *t = sx_tensor_full(1, (int64_t[]){1}, v);
    return t ? sx_named_tensors_push(out, name, t) : sx_last_status();
}

static sx_status push_copy(sx_named_tensors *out, const char *name, const sx_tensor *src)
{
    sx_tensor *t = sx_tensor_copy(src);
    return t ? sx_named_tensors_push(out, name, t) : sx_last_status();
}

sx_status sx_optim_state(const sx_optim *opt, sx_named_tensors *out)
{
    if (!opt || !out) return sx_fail(SX_EINVAL, "optim_state: NULL argument");
    int n0 = out->n;
    sx_status st = SX_OK;
    char name[96];
    for (int g = 0; g < opt->n_groups && st == SX_OK; g++) {
        const opt_group *gr = &opt->groups[g];
        snprintf(name, sizeof name, "group%d.lr", g);
        st = push_scalar(out, name, gr->lr);
        for (int i = 0; i < gr->n && st == SX_OK; i++) {
            const param_state *s = &gr->st[i];
            if (s->step == 0) continue;
            if (opt->kind == OPT_ADAM) {
                snprintf(name, sizeof name, "group%d.param%d.step", g, i);
                st = push_scalar(out, name, (float)s->step);
                snprintf(name, sizeof name, "group%d.param%d.exp_avg", g, i);
                if (st == SX_OK) st = push_copy(out, name, s->m1);
                snprintf(name, sizeof name, "group%d.param%d.exp_avg_sq", g, i);
                if (st == SX_OK) st = push_copy(out, name, s->m2);
            } else if (s->m1) {
                snprintf(name, sizeof name, "group%d.param%d.momentum_buffer", g, i);
                st = push_copy(out, name, s->m1);
            }
        }
    }
    /* on failure, leave out as it was */
    while (st != SX_OK && out->n > n0) {
        out->n--;
        free(out->names[out->n]);
        sx_tensor_free(out->tensors[out->n]);
    }
    return st;
}

enum { F_LR, F_STEP, F_EXP_AVG, F_EXP_AVG_SQ, F_MOMENTUM };

/* Parses "group<g>.lr" or "group<g>.param<i>.<field>"; false if neither. */
static bool parse_name(const char *name, int *g, int *i, int *field)
{
    int end = 0;
    *i = -1;
    if (sscanf(name, "group%d.lr%n", g, &end) == 1 && end > 0 && name[end] == '\0') {
        *field = F_LR;
        return true;
    }
    char f[24];
    end = 0;
    if (sscanf(name, "group%d.param%d.%23[a-z_]%n", g, i, f, &end) != 3 || end == 0 || name[end] != '\0')
        return false;
    static const struct {
        const char *s;
        int f;
    } fields[] = {{"step", F_STEP}, {"exp_avg", F_EXP_AVG}, {"exp_avg_sq", F_EXP_AVG_SQ},
                  {"momentum_buffer", F_MOMENTUM}};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        if (strcmp(f, fields[k].s) == 0) {
            *field = fields[k].f;
            return true;
        }
    return false;
}

/* The value of a one-element tensor, or NAN. */
static float scalar_of(const sx_tensor *t)
{
    float v;
    return sx_tensor_numel(t) == 1 && sx_tensor_item(t, &v) == SX_OK ? v : NAN;
}

sx_status sx_optim_load_state(sx_optim *opt, const sx_named_tensors *st_in)
{
    const char *fn = "optim_load_state";
    if (!opt || !st_in) return sx_fail(SX_EINVAL, "%s: NULL argument", fn);
    bool adam = opt->kind == OPT_ADAM;
    char s1[96], s2[96];

    /* validate every entry first */
    for (int k = 0; k < st_in->n; k++) {
        const char *name = st_in->names[k];
        const sx_tensor *t = st_in->tensors[k];
        int g, i, f;
        if (!parse_name(name, &g, &i, &f) || (adam && f == F_MOMENTUM) || (!adam && f != F_LR && f != F_MOMENTUM))
            return sx_fail(SX_EINVAL, "%s: unexpected entry '%s' for %s", fn, name, sx_optim_name(opt));
        if (g < 0 || g >= opt->n_groups)
            return sx_fail(SX_EINVAL, "%s: entry '%s': the optimiser has %d groups", fn, name, opt->n_groups);
        if (f == F_LR) {
            if (!lr_ok(scalar_of(t)))
                return sx_fail(SX_EINVAL, "%s: entry '%s' must hold one lr >= 0 (shape %s)", fn, name,
                               sx_shape_str(t, s1, sizeof s1));
            continue;
        }
        const opt_group *gr = &opt->groups[g];
        if (i < 0 || i >= gr->n)
            return sx_fail(SX_EINVAL, "%s: entry '%s': group %d has %d parameters", fn, name, g, gr->n);
        if (f == F_STEP) {
            float v = scalar_of(t);
            if (!(v >= 1 && v <= (float)STEP_MAX && v == floorf(v)))
                return sx_fail(SX_EINVAL, "%s: entry '%s' must hold one whole step count >= 1", fn, name);
            char other[96];
            snprintf(other, sizeof other, "group%d.param%d.exp_avg", g, i);
            bool has_m = sx_named_tensors_get(st_in, other) != NULL;
            snprintf(other, sizeof other, "group%d.param%d.exp_avg_sq", g, i);
            if (!has_m || !sx_named_tensors_get(st_in, other))
                return sx_fail(SX_EINVAL, "%s: '%s' needs exp_avg and exp_avg_sq beside it", fn, name);
            continue;
        }
        if (!sx_tensor_same_shape(t, gr->params[i]))
            return sx_fail(SX_EINVAL, "%s: entry '%s' has shape %s, the parameter is %s", fn, name,
                           sx_shape_str(t, s1, sizeof s1), sx_shape_str(gr->params[i], s2, sizeof s2));
        if (adam) {
            char other[96];
            snprintf(other, sizeof other, "group%d.param%d.step", g, i);
            if (!sx_named_tensors_get(st_in, other))
                return sx_fail(SX_EINVAL, "%s: '%s' needs '%s' beside it", fn, name, other);
        }
    }

    /* build the new state aside, then swap it in */
    int total = 0;
    for (int g = 0; g < opt->n_groups; g++) total += opt->groups[g].n;
    param_state *fresh = calloc((size_t)total + 1, sizeof *fresh);
    if (!fresh) return sx_fail(SX_ENOMEM, "%s: out of memory", fn);
    sx_status st = SX_OK;
    for (int k = 0; k < st_in->n && st == SX_OK; k++) {
        int g, i, f;
        parse_name(st_in->names[k], &g, &i, &f);
        if (f == F_LR) continue;
        int base = 0;
        for (int h = 0; h < g; h++) base += opt->groups[h].n;
        param_state *s = &fresh[base + i];
        const sx_tensor *t = st_in->tensors[k];
        sx_tensor **slot = f == F_EXP_AVG_SQ ? &s->m2 : &s->m1;
        if (f == F_STEP) {
            s->step = (int64_t)scalar_of(t);
            continue;
        }
        if (!adam) s->step = 1;
        sx_tensor_free(*slot);
        *slot = sx_tensor_copy(t);
        if (!*slot) st = sx_last_status();
    }
    if (st == SX_OK)
        for (int k = 0; k < st_in->n; k++) {
            int g, i, f;
            parse_name(st_in->names[k], &g, &i, &f);
            if (f == F_LR) opt->groups[g].lr = scalar_of(st_in->tensors[k]);
        }
    for (int g = 0, k = 0; g < opt->n_groups; g++)
        for (int i = 0; i < opt->groups[g].n; i++, k++) {
            param_state *s = &opt->groups[g].st[i];
            if (st == SX_OK) {
                param_state old = *s;
                *s = fresh[k];
                fresh[k] = old;
            }
            sx_tensor_free(fresh[k].m1);
            sx_tensor_free(fresh[k].m2);
        }
    free(fresh);
    return st;
}
