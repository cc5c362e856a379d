/*
 * lib/models/config.c — the walk over a config descriptor (stylex/config.h):
 * setting fields by key for the readers (JSON configs, Lua options), and
 * checking a config (every field's bounds, then its rules).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stylex/config.h"

static int *int_at(void *cfg, const sx_config_field *f) { return (int *)((char *)cfg + f->offset); }
static const int *cint_at(const void *cfg, const sx_config_field *f)
{
    return (const int *)((const char *)cfg + f->offset);
}

void sx_config_begin(sx_config_build *b, const sx_config_desc *desc, void *cfg)
{
    memset(b, 0, sizeof *b);
    b->desc = desc;
    b->cfg = cfg;
    desc->defaults(cfg);
}

int sx_config_field_index(const sx_config_desc *desc, const char *key)
{
    for (int i = 0; key && i < desc->n_fields; i++)
        if (strcmp(desc->fields[i].key, key) == 0) return i;
    return -1;
}

bool sx_config_given(const sx_config_build *b, int i) { return i >= 0 && (b->given >> i & 1u); }

/* v as an int, or an error naming what (the key, or "key[i]"). */
static sx_status to_int(const char *what, double v, int *out)
{
    if (!(v == floor(v))) return sx_fail(SX_EINVAL, "'%s' = %g is not an integer", what, v);
    if (v < INT_MIN || v > INT_MAX) return sx_fail(SX_EINVAL, "'%s' = %g is out of range", what, v);
    *out = (int)v;
    return SX_OK;
}

sx_status sx_config_set_number(sx_config_build *b, int i, double v)
{
    const sx_config_field *f = &b->desc->fields[i];
    if (f->type == SX_FIELD_INT_LIST) return sx_fail(SX_EINVAL, "'%s' must be a list of integers", f->key);
    if (f->type == SX_FIELD_FLOAT) {
        if (!isfinite(v)) return sx_fail(SX_EINVAL, "'%s' = %g is not a finite number", f->key, v);
        *(float *)((char *)b->cfg + f->offset) = (float)v;
    } else if (to_int(f->key, v, int_at(b->cfg, f)) != SX_OK) {
        return SX_EINVAL;
    }
    b->given |= 1u << i;
    return SX_OK;
}

sx_status sx_config_set_list(sx_config_build *b, int i, const double *v, int n)
{
    const sx_config_field *f = &b->desc->fields[i];
    if (f->type != SX_FIELD_INT_LIST) return sx_fail(SX_EINVAL, "'%s' must be a number", f->key);
    if (n < 1) return sx_fail(SX_EINVAL, "'%s' is empty", f->key);
    if (n > f->max_len) return sx_fail(SX_EINVAL, "'%s' has more than %d entries", f->key, f->max_len);
    int *dst = int_at(b->cfg, f);
    for (int k = 0; k < n; k++) {
        char what[64];
        snprintf(what, sizeof what, "%s[%d]", f->key, k + 1);
        if (to_int(what, v[k], &dst[k]) != SX_OK) return SX_EINVAL;
    }
    b->len[i] = n;
    b->given |= 1u << i;
    return SX_OK;
}

sx_status sx_config_finish(sx_config_build *b)
{
    const sx_config_desc *d = b->desc;
    for (int i = 0; i < d->n_fields; i++)
        if (d->fields[i].required && !sx_config_given(b, i))
            return sx_fail(SX_EINVAL, "%s: no '%s' (it has no default)", d->name, d->fields[i].key);
    if (d->settle && d->settle(b->cfg, b) != SX_OK) return SX_EINVAL;
    return sx_config_check(d, b->cfg);
}

/* ---------------------------------------------------------------- bounds */

static sx_status int_bounds(const sx_config_desc *d, const char *what, const sx_config_field *f, int v)
{
    if (v >= f->lo && v <= f->hi) return SX_OK;
    return sx_fail(SX_EINVAL, "%s: '%s' = %d, expected an integer in %.0f..%.0f", d->name, what, v, f->lo, f->hi);
}

sx_status sx_config_check(const sx_config_desc *d, const void *cfg)
{
    if (!cfg) return sx_fail(SX_EINVAL, "%s: NULL", d->name);
    for (int i = 0; i < d->n_fields; i++) {
        const sx_config_field *f = &d->fields[i];
        if (f->type == SX_FIELD_INT) {
            if (int_bounds(d, f->key, f, *cint_at(cfg, f)) != SX_OK) return SX_EINVAL;
        } else if (f->type == SX_FIELD_FLOAT) {
            double v = *(const float *)((const char *)cfg + f->offset);
            bool ok = (f->lo_open ? v > f->lo : v >= f->lo) && (f->hi_open ? v < f->hi : v <= f->hi);
            if (!ok)
                return sx_fail(SX_EINVAL, "%s: '%s' = %g outside %c%g, %g%c", d->name, f->key, v,
                               f->lo_open ? '(' : '[', f->lo, f->hi, f->hi_open ? ')' : ']');
        } else {
            int n = d->list_len(cfg, f);
            for (int k = 0; k < n; k++) {
                char what[64];
                snprintf(what, sizeof what, "%s[%d]", f->key, k + 1);
                if (int_bounds(d, what, f, cint_at(cfg, f)[k]) != SX_OK) return SX_EINVAL;
            }
        }
    }
    return d->rules(cfg);
}
