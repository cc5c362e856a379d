/*
 * lib/nn/module.c — named tensor lists and the module tree: parameters,
 * buffers and children with dotted names, state dicts, twins and EMA.
 *
 * The tree is walked depth first (own entries, then children in insertion
 * order), which is the stable order every listing here uses, so a parameter
 * list, a state dict and an optimiser's positional state always agree.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/autograd.h"
#include "stylex/ops.h"
#include "stylex/nn.h"

/* Longest dotted name handled (deeper trees are refused with an error). */
#define DOTTED_MAX 512

/* ---------------------------------------------------------------- named tensors */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

sx_status sx_named_tensors_push(sx_named_tensors *nt, const char *name, sx_tensor *t)
{
    if (!nt || !name || !t) {
        sx_tensor_free(t);
        return sx_fail(SX_EINVAL, "named_tensors_push: NULL argument");
    }
    if (nt->n == nt->cap) {
        int cap = nt->cap ? nt->cap * 2 : 16;
        char **names = realloc(nt->names, (size_t)cap * sizeof *names);
        if (names) nt->names = names;
        sx_tensor **ts = names ? realloc(nt->tensors, (size_t)cap * sizeof *ts) : NULL;
        if (!ts) {
            sx_tensor_free(t);
            return sx_fail(SX_ENOMEM, "named_tensors_push: out of memory");
        }
        nt->tensors = ts;
        nt->cap = cap;
    }
    char *d = dup_str(name);
    if (!d) {
        sx_tensor_free(t);
        return sx_fail(SX_ENOMEM, "named_tensors_push: out of memory");
    }
    nt->names[nt->n] = d;
    nt->tensors[nt->n++] = t;
    return SX_OK;
}

sx_tensor *sx_named_tensors_get(const sx_named_tensors *nt, const char *name)
{
    for (int i = 0; nt && i < nt->n; i++)
        if (strcmp(nt->names[i], name) == 0) return nt->tensors[i];
    return NULL;
}

/* Drops entries from index n0 on (used to undo a failed append). */
static void truncate_to(sx_named_tensors *nt, int n0)
{
    while (nt->n > n0) {
        nt->n--;
        free(nt->names[nt->n]);
        sx_tensor_free(nt->tensors[nt->n]);
    }
}

void sx_named_tensors_clear(sx_named_tensors *nt)
{
    if (!nt) return;
    truncate_to(nt, 0);
    free(nt->names);
    free(nt->tensors);
    *nt = (sx_named_tensors){0};
}

sx_status sx_named_tensors_assign(const sx_named_tensors *dst, const sx_named_tensors *src, bool strict,
                                  const char *fn)
{
    if (!dst || !src) return sx_fail(SX_EINVAL, "%s: NULL argument", fn);
    char s1[96], s2[96];
    for (int i = 0; i < dst->n; i++) {
        sx_tensor *s = sx_named_tensors_get(src, dst->names[i]);
        if (!s) {
            if (strict) return sx_fail(SX_EINVAL, "%s: missing entry '%s' (expected shape %s)", fn, dst->names[i],
                                       sx_shape_str(dst->tensors[i], s1, sizeof s1));
            continue;
        }
        if (!sx_tensor_same_shape(dst->tensors[i], s))
            return sx_fail(SX_EINVAL, "%s: entry '%s' has shape %s, expected %s", fn, dst->names[i],
                           sx_shape_str(s, s1, sizeof s1), sx_shape_str(dst->tensors[i], s2, sizeof s2));
    }
    if (strict)
        for (int i = 0; i < src->n; i++)
            if (!sx_named_tensors_get(dst, src->names[i]))
                return sx_fail(SX_EINVAL, "%s: unexpected entry '%s' (shape %s)", fn, src->names[i],
                               sx_shape_str(src->tensors[i], s1, sizeof s1));
    for (int i = 0; i < dst->n; i++) {
        sx_tensor *s = sx_named_tensors_get(src, dst->names[i]);
        if (s && sx_tensor_assign(dst->tensors[i], s) != SX_OK) return sx_last_status();
    }
    return SX_OK;
}

/* ---------------------------------------------------------------- modules */

sx_module *sx_module_new(const char *type)
{
    sx_module *m = calloc(1, sizeof *m);
    char *ty = dup_str(type ? type : "Module");
    if (!m || !ty) {
        free(m);
        free(ty);
        sx_fail(SX_ENOMEM, "module_new: out of memory");
        return NULL;
    }
    m->refcount = 1;
    m->type = ty;
    m->training = true;
    return m;
}

void sx_module_set_training(sx_module *m, bool training)
{
    if (!m) return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++) sx_module_set_training(m->children[i], training);
}

sx_module *sx_module_retain(sx_module *m)
{
    if (m) m->refcount++;
    return m;
}

void sx_module_free(sx_module *m)
{
    if (!m || --m->refcount > 0) return;
    for (int i = 0; i < m->n_params; i++) {
        free(m->params[i].name);
        sx_tensor_free(m->params[i].tensor);
    }
    free(m->params);
    for (int i = 0; i < m->n_children; i++) {
        free(m->child_names[i]);
        sx_module_free(m->children[i]);
    }
    free(m->child_names);
    free(m->children);
    if (m->impl) {
        if (m->impl_free) m->impl_free(m->impl);
        else free(m->impl);
    }
    free(m->type);
    free(m);
}

sx_param *sx_module_param(const sx_module *m, const char *name)
{
    for (int i = 0; m && i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
    return NULL;
}

sx_module *sx_module_child(const sx_module *m, const char *name)
{
    for (int i = 0; m && i < m->n_children; i++)
        if (strcmp(m->child_names[i], name) == 0) return m->children[i];
    return NULL;
}

/* A new local name must be non-empty, dot-free and unused in m. */
static sx_status check_name(const sx_module *m, const char *name, const char *fn)
{
    if (!m || !name) return sx_fail(SX_EINVAL, "%s: NULL argument", fn);
    if (!name[0] || strchr(name, '.'))
        return sx_fail(SX_EINVAL, "%s: name '%s' must be non-empty and contain no '.'", fn, name);
    if (strlen(name) >= 128) return sx_fail(SX_EINVAL, "%s: name '%.32s...' is too long", fn, name);
    if (sx_module_param(m, name) || sx_module_child(m, name))
        return sx_fail(SX_EINVAL, "%s: %s already has an entry called '%s'", fn, m->type, name);
    return SX_OK;
}

static sx_status add_entry(sx_module *m, const char *name, sx_tensor *t, float lr_mul, float gain, bool buffer,
                           const char *fn)
{
    sx_status st = check_name(m, name, fn);
    /* a NULL tensor is usually a failed constructor: keep its message */
    if (st == SX_OK && !t)
        st = sx_last_status() != SX_OK ? sx_last_status() : sx_fail(SX_EINVAL, "%s: tensor for '%s' is NULL", fn, name);
    if (st == SX_OK && (t->grad_fn || !sx_tensor_is_contiguous(t)))
        st = sx_fail(SX_EINVAL, "%s: '%s' must be a contiguous leaf tensor (got %s)", fn, name,
                     t->grad_fn ? "the output of an op" : "a non-contiguous view");
    if (st == SX_OK && !(isfinite(gain) && isfinite(lr_mul)))
        st = sx_fail(SX_EINVAL, "%s: gain and lr_mul of '%s' must be finite", fn, name);
    if (st == SX_OK && m->n_params == m->cap_params) {
        int cap = m->cap_params ? m->cap_params * 2 : 4;
        sx_param *p = realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) st = sx_fail(SX_ENOMEM, "%s: out of memory", fn);
        else {
            m->params = p;
            m->cap_params = cap;
        }
    }
    char *d = st == SX_OK ? dup_str(name) : NULL;
    if (st == SX_OK && !d) st = sx_fail(SX_ENOMEM, "%s: out of memory", fn);
    if (st != SX_OK) {
        sx_tensor_free(t);
        return st;
    }
    sx_tensor_set_requires_grad(t, !buffer);
    m->params[m->n_params++] = (sx_param){d, t, lr_mul, gain, buffer};
    return SX_OK;
}

sx_status sx_module_add_param(sx_module *m, const char *name, sx_tensor *t, float lr_mul, float gain)
{
    return add_entry(m, name, t, lr_mul, gain, false, "module_add_param");
}

sx_status sx_module_add_buffer(sx_module *m, const char *name, sx_tensor *t)
{
    return add_entry(m, name, t, 1.0f, 1.0f, true, "module_add_buffer");
}

/* True if `needle` is m or in m's subtree (adding it as a child would loop). */
static bool contains(const sx_module *m, const sx_module *needle)
{
    if (m == needle) return true;
    for (int i = 0; i < m->n_children; i++)
        if (contains(m->children[i], needle)) return true;
    return false;
}

sx_status sx_module_add_child(sx_module *m, const char *name, sx_module *child)
{
    const char *fn = "module_add_child";
    sx_status st = check_name(m, name, fn);
    if (st == SX_OK && !child)
        st = sx_last_status() != SX_OK ? sx_last_status() : sx_fail(SX_EINVAL, "%s: child '%s' is NULL", fn, name);
    if (st == SX_OK && contains(child, m))
        st = sx_fail(SX_EINVAL, "%s: adding '%s' would make the module tree a cycle", fn, name);
    if (st == SX_OK && m->n_children == m->cap_children) {
        int cap = m->cap_children ? m->cap_children * 2 : 4;
        char **names = realloc(m->child_names, (size_t)cap * sizeof *names);
        if (names) m->child_names = names;
        sx_module **cs = names ? realloc(m->children, (size_t)cap * sizeof *cs) : NULL;
        if (!cs) st = sx_fail(SX_ENOMEM, "%s: out of memory", fn);
        else {
            m->children = cs;
            m->cap_children = cap;
        }
    }
    char *d = st == SX_OK ? dup_str(name) : NULL;
    if (st == SX_OK && !d) st = sx_fail(SX_ENOMEM, "%s: out of memory", fn);
    if (st != SX_OK) {
        sx_module_free(child);
        return st;
    }
    m->child_names[m->n_children] = d;
    m->children[m->n_children++] = child;
    return SX_OK;
}

sx_param *sx_module_find_param(const sx_module *m, const char *dotted)
{
    if (!m || !dotted) {
        sx_fail(SX_EINVAL, "module_find_param: NULL argument");
        return NULL;
    }
    const sx_module *cur = m;
    const char *rest = dotted;
    for (;;) {
        const char *dot = strchr(rest, '.');
        if (!dot) {
            sx_param *p = sx_module_param(cur, rest);
            if (!p) sx_fail(SX_EINVAL, "module_find_param: %s has no parameter '%s'", m->type, dotted);
            return p;
        }
        char part[128];
        size_t len = (size_t)(dot - rest);
        if (len >= sizeof part) break;
        memcpy(part, rest, len);
        part[len] = '\0';
        cur = sx_module_child(cur, part);
        if (!cur) break;
        rest = dot + 1;
    }
    sx_fail(SX_EINVAL, "module_find_param: %s has no parameter '%s'", m->type, dotted);
    return NULL;
}

sx_tensor *sx_param_value(const sx_param *p)
{
    if (!p || !p->tensor) {
        sx_fail(SX_EINVAL, "param_value: NULL parameter");
        return NULL;
    }
    if (p->gain == 1.0f) return sx_tensor_retain(p->tensor);
    return sx_mul_scalar(p->tensor, p->gain);
}

/* ---------------------------------------------------------------- walking the tree */

/* What to list: trainable parameters, buffers, or both; live or copied. */
enum { WANT_PARAMS = 1, WANT_BUFFERS = 2 };

static sx_status walk(const sx_module *m, char *prefix, size_t plen, int want, bool copy, sx_named_tensors *out)
{
    for (int i = 0; i < m->n_params; i++) {
        const sx_param *p = &m->params[i];
        if (!(want & (p->buffer ? WANT_BUFFERS : WANT_PARAMS))) continue;
        if (plen + strlen(p->name) + 1 > DOTTED_MAX)
            return sx_fail(SX_EINVAL, "module: dotted name '%s%s' is too long", prefix, p->name);
        strcpy(prefix + plen, p->name);
        sx_tensor *t = copy ? sx_tensor_copy(p->tensor) : sx_tensor_retain(p->tensor);
        sx_status st = t ? sx_named_tensors_push(out, prefix, t) : sx_last_status();
        prefix[plen] = '\0';
        if (st != SX_OK) return st;
    }
    for (int i = 0; i < m->n_children; i++) {
        size_t cl = strlen(m->child_names[i]);
        if (plen + cl + 2 > DOTTED_MAX)
            return sx_fail(SX_EINVAL, "module: dotted name '%s%s' is too long", prefix, m->child_names[i]);
        memcpy(prefix + plen, m->child_names[i], cl);
        prefix[plen + cl] = '.';
        prefix[plen + cl + 1] = '\0';
        sx_status st = walk(m->children[i], prefix, plen + cl + 1, want, copy, out);
        prefix[plen] = '\0';
        if (st != SX_OK) return st;
    }
    return SX_OK;
}

static sx_status list(const sx_module *m, int want, bool copy, sx_named_tensors *out, const char *fn)
{
    if (!m || !out) return sx_fail(SX_EINVAL, "%s: NULL argument", fn);
    char prefix[DOTTED_MAX + 1] = "";
    int n0 = out->n;
    sx_status st = walk(m, prefix, 0, want, copy, out);
    if (st != SX_OK) truncate_to(out, n0);
    return st;
}

sx_status sx_module_parameters(const sx_module *m, sx_named_tensors *out)
{
    return list(m, WANT_PARAMS, false, out, "module_parameters");
}

sx_status sx_module_state_refs(const sx_module *m, sx_named_tensors *out)
{
    return list(m, WANT_PARAMS | WANT_BUFFERS, false, out, "module_state_refs");
}

sx_status sx_module_state_dict(const sx_module *m, sx_named_tensors *out)
{
    return list(m, WANT_PARAMS | WANT_BUFFERS, true, out, "module_state_dict");
}

sx_status sx_module_load_state_dict(sx_module *m, const sx_named_tensors *sd, bool strict)
{
    sx_named_tensors live = {0};
    sx_status st = list(m, WANT_PARAMS | WANT_BUFFERS, false, &live, "load_state_dict");
    if (st == SX_OK) st = sx_named_tensors_assign(&live, sd, strict, "load_state_dict");
    sx_named_tensors_clear(&live);
    return st;
}

static void count(const sx_module *m, int *n, int64_t *numel)
{
    for (int i = 0; i < m->n_params; i++)
        if (!m->params[i].buffer) {
            (*n)++;
            *numel += sx_tensor_numel(m->params[i].tensor);
        }
    for (int i = 0; i < m->n_children; i++) count(m->children[i], n, numel);
}

int sx_module_param_count(const sx_module *m)
{
    int n = 0;
    int64_t numel = 0;
    if (m) count(m, &n, &numel);
    return n;
}

int64_t sx_module_param_numel(const sx_module *m)
{
    int n = 0;
    int64_t numel = 0;
    if (m) count(m, &n, &numel);
    return numel;
}

void sx_module_zero_grad(sx_module *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) sx_tensor_zero_grad(m->params[i].tensor);
    for (int i = 0; i < m->n_children; i++) sx_module_zero_grad(m->children[i]);
}

/* Both trees listed live; they must be twins (same names and shapes, in order). */
static sx_status twin_lists(const sx_module *a, const sx_module *b, sx_named_tensors *la, sx_named_tensors *lb,
                            const char *fn)
{
    if (!a || !b) return sx_fail(SX_EINVAL, "%s: NULL module", fn);
    sx_status st = list(a, WANT_PARAMS | WANT_BUFFERS, false, la, fn);
    if (st == SX_OK) st = list(b, WANT_PARAMS | WANT_BUFFERS, false, lb, fn);
    if (st == SX_OK && la->n != lb->n)
        st = sx_fail(SX_EINVAL, "%s: modules are not twins (%d and %d entries)", fn, la->n, lb->n);
    char s1[96], s2[96];
    for (int i = 0; st == SX_OK && i < la->n; i++)
        if (strcmp(la->names[i], lb->names[i]) != 0 || !sx_tensor_same_shape(la->tensors[i], lb->tensors[i]))
            st = sx_fail(SX_EINVAL, "%s: modules are not twins: entry %d is '%s' %s vs '%s' %s", fn, i,
                         la->names[i], sx_shape_str(la->tensors[i], s1, sizeof s1), lb->names[i],
                         sx_shape_str(lb->tensors[i], s2, sizeof s2));
    return st;
}

sx_status sx_module_copy_params(sx_module *dst, const sx_module *src)
{
    sx_named_tensors ld = {0}, ls = {0};
    sx_status st = twin_lists(dst, src, &ld, &ls, "module_copy_params");
    for (int i = 0; st == SX_OK && i < ld.n; i++) st = sx_tensor_assign(ld.tensors[i], ls.tensors[i]);
    sx_named_tensors_clear(&ld);
    sx_named_tensors_clear(&ls);
    return st;
}

sx_status sx_module_ema_update(sx_module *ema, const sx_module *m, float beta)
{
    sx_named_tensors le = {0}, lm = {0};
    sx_status st = twin_lists(ema, m, &le, &lm, "module_ema_update");
    for (int i = 0; st == SX_OK && i < le.n; i++) {
        sx_param *p = sx_module_find_param(ema, le.names[i]);
        if (!p) st = sx_last_status();
        else if (p->buffer) st = sx_tensor_assign(le.tensors[i], lm.tensors[i]);
        else st = sx_ema_update(1, &le.tensors[i], &lm.tensors[i], beta);
    }
    sx_named_tensors_clear(&le);
    sx_named_tensors_clear(&lm);
    return st;
}

sx_tensor *sx_module_forward(sx_module *m, sx_tensor *x)
{
    if (!m) {
        sx_fail(SX_EINVAL, "module_forward: NULL module");
        return NULL;
    }
    if (!m->forward) {
        sx_fail(SX_ESTATE, "module_forward: %s has no single-input forward", m->type);
        return NULL;
    }
    return m->forward(m, x);
}

/* ---------------------------------------------------------------- EMA */

sx_status sx_ema_update(int n, sx_tensor *const *ema, sx_tensor *const *params, float beta)
{
    if (n < 0 || (n > 0 && (!ema || !params))) return sx_fail(SX_EINVAL, "ema_update: bad arrays");
    if (!(beta >= 0.0f && beta <= 1.0f)) return sx_fail(SX_EINVAL, "ema_update: beta %g is not in [0, 1]", beta);
    for (int i = 0; i < n; i++) {
        if (!ema[i] || !params[i]) return sx_fail(SX_EINVAL, "ema_update: tensor #%d is NULL", i + 1);
        if (!sx_check_same_shape("ema_update", ema[i], params[i])) return SX_EINVAL;
        if (!sx_tensor_is_contiguous(ema[i]))
            return sx_fail(SX_EINVAL, "ema_update: EMA tensor #%d is not contiguous", i + 1);
    }
    for (int i = 0; i < n; i++) {
        sx_tensor *pc = sx_tensor_is_contiguous(params[i]) ? sx_tensor_retain(params[i]) : sx_tensor_copy(params[i]);
        if (!pc) return sx_last_status();
        float *e = sx_tensor_data(ema[i]);
        const float *p = sx_tensor_data(pc);
        int64_t k = sx_tensor_numel(ema[i]);
        float a = 1.0f - beta;
        for (int64_t j = 0; j < k; j++) e[j] = beta * e[j] + a * p[j];
        sx_tensor_free(pc);
    }
    return SX_OK;
}
