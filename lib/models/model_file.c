/*
 * lib/models/model_file.c — the shipped model files (classifier.safetensors,
 * stylex.safetensors) read into modules: the safetensors reader of lib/io,
 * the config JSON read with lib/io's pull reader, the network built from it
 * and the tensors copied in strictly by name. See include/stylex/model_file.h.
 *
 * The configs are read with lib/io's JSON pull reader (stylex/json.h, the
 * one the safetensors header is parsed with) over the config descriptors
 * (stylex/config.h), which the Lua options go through too.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stylex/autograd.h"
#include "stylex/io.h"
#include "stylex/json.h"
#include "stylex/model_file.h"

/* ---------------------------------------------------------------- meta */

const char *sx_model_meta_get(const sx_model_meta *meta, const char *key)
{
    if (!meta || !key) return NULL;
    for (int i = 0; i < meta->n; i++)
        if (strcmp(meta->keys[i], key) == 0) return meta->values[i];
    return NULL;
}

void sx_model_meta_clear(sx_model_meta *meta)
{
    if (!meta) return;
    for (int i = 0; i < meta->n; i++) {
        free(meta->keys[i]);
        free(meta->values[i]);
    }
    free(meta->keys);
    free(meta->values);
    memset(meta, 0, sizeof *meta);
}

/* meta = a copy of the file's metadata; false (meta left empty) when out of memory. */
static bool meta_copy(sx_model_meta *meta, const sx_safetensors *st)
{
    memset(meta, 0, sizeof *meta);
    if (st->n_meta == 0) return true;
    meta->keys = calloc((size_t)st->n_meta, sizeof *meta->keys);
    meta->values = calloc((size_t)st->n_meta, sizeof *meta->values);
    if (!meta->keys || !meta->values) {
        free(meta->keys);
        free(meta->values);
        memset(meta, 0, sizeof *meta);
        return false;
    }
    for (int i = 0; i < st->n_meta; i++) {
        meta->keys[i] = strdup(st->meta_keys[i]);
        meta->values[i] = strdup(st->meta_values[i]);
        meta->n = i + 1; /* so that clear frees a partial copy */
        if (!meta->keys[i] || !meta->values[i]) {
            sx_model_meta_clear(meta);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- config JSON */

/* Reading one config object: the pull reader, and the first error's text. */
typedef struct cfg_json {
    sx_json_reader r;
    char err[256];
} cfg_json;

static bool cfg_fail(cfg_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool cfg_fail(cfg_json *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
    return false;
}

/* A reader error (its message says where). */
static bool cfg_syntax(cfg_json *j) { return cfg_fail(j, "%s", j->r.err); }

/* A JSON number of any form, as a double. */
static bool cfg_number(cfg_json *j, const char *key, double *out)
{
    int c = sx_json_peek(&j->r);
    if (c == -1) return cfg_fail(j, "at byte %zu: the text ends before the value of '%s'", j->r.pos, key);
    if (c != '-' && (c < '0' || c > '9')) return cfg_fail(j, "'%s' must be a number", key);
    size_t start = j->r.pos;
    if (!sx_json_skip(&j->r)) return cfg_syntax(j);
    char tok[64];
    size_t n = j->r.pos - start;
    if (n >= sizeof tok) return cfg_fail(j, "'%s': number too long", key);
    memcpy(tok, j->r.text + start, n);
    tok[n] = '\0';
    *out = strtod(tok, NULL);
    if (!isfinite(*out)) return cfg_fail(j, "'%s' = %s is not a finite number", key, tok);
    return true;
}

static bool cfg_bool(cfg_json *j, const char *key, bool *out)
{
    int c = sx_json_peek(&j->r);
    const char *lit = c == 't' ? "true" : c == 'f' ? "false" : NULL;
    size_t n = lit ? strlen(lit) : 0;
    if (!lit || j->r.len - j->r.pos < n || memcmp(j->r.text + j->r.pos, lit, n) != 0)
        return cfg_fail(j, "'%s' must be true or false", key);
    j->r.pos += n;
    *out = c == 't';
    return true;
}

/* The value of field i, through the builder (which checks its type). */
static bool cfg_field(cfg_json *j, sx_config_build *b, int i)
{
    const sx_config_field *f = &b->desc->fields[i];
    double v[SX_STYLEGAN_MAX_LEVELS + SX_CNN_MAX_BLOCKS];
    int n = 0, max = (int)(sizeof v / sizeof *v);
    if (f->type != SX_FIELD_INT_LIST) {
        if (!cfg_number(j, f->key, &v[0])) return false;
        return sx_config_set_number(b, i, v[0]) == SX_OK || cfg_fail(j, "%s", sx_last_error());
    }
    if (!sx_json_accept(&j->r, '[')) return cfg_fail(j, "'%s' must be a list of integers", f->key);
    if (!sx_json_accept(&j->r, ']')) {
        do {
            if (n == max) return cfg_fail(j, "'%s' has more than %d entries", f->key, f->max_len);
            char item[48];
            snprintf(item, sizeof item, "%s[%d]", f->key, n + 1);
            if (!cfg_number(j, item, &v[n++])) return false;
        } while (sx_json_accept(&j->r, ','));
        if (!sx_json_expect(&j->r, ']')) return cfg_syntax(j);
    }
    return sx_config_set_list(b, i, v, n) == SX_OK || cfg_fail(j, "%s", sx_last_error());
}

/* Iterates the keys of the object: call with *first true, then until it
 * returns false with *done set (end of object) or j->err set (error). */
static bool cfg_next_key(cfg_json *j, bool *first, bool *done, char **key)
{
    *key = NULL;
    *done = false;
    if (*first) {
        *first = false;
        if (!sx_json_expect(&j->r, '{')) return cfg_syntax(j);
        if (sx_json_accept(&j->r, '}')) {
            *done = true;
            return false;
        }
    } else if (!sx_json_accept(&j->r, ',')) {
        if (!sx_json_expect(&j->r, '}')) return cfg_syntax(j);
        *done = true;
        return false;
    }
    size_t len;
    if (!sx_json_string(&j->r, key, &len)) return cfg_syntax(j);
    if (!sx_json_expect(&j->r, ':')) {
        free(*key);
        *key = NULL;
        return cfg_syntax(j);
    }
    return true;
}

/* After the object: nothing but white space. */
static bool cfg_end(cfg_json *j)
{
    if (sx_json_peek(&j->r) != -1) return cfg_fail(j, "at byte %zu: text after the config object", j->r.pos);
    return true;
}

/* Reads the config object's keys into b: the descriptor's fields, "baseline"
 * into *baseline when it is given (the StylEx training config), any other key
 * skipped (skip_other: a training hyper-parameter) or refused. */
static bool cfg_fields(cfg_json *j, sx_config_build *b, bool skip_other, bool *baseline)
{
    bool first = true, done = false;
    char *key;
    while (cfg_next_key(j, &first, &done, &key)) {
        int i = sx_config_field_index(b->desc, key);
        bool ok;
        if (i >= 0) ok = cfg_field(j, b, i);
        else if (baseline && strcmp(key, "baseline") == 0) ok = cfg_bool(j, key, baseline);
        else if (skip_other) ok = sx_json_skip(&j->r) || cfg_syntax(j);
        else ok = cfg_fail(j, "unknown key '%s'", key);
        free(key);
        if (!ok) return false;
    }
    return done && cfg_end(j);
}

/* The classifier config (the keys of sx.models.Classifier); false with j->err. */
static bool parse_classifier(cfg_json *j, void *c)
{
    sx_config_build b;
    sx_config_begin(&b, &sx_cnn_config_desc, c);
    if (!cfg_fields(j, &b, false, NULL)) return false;
    return sx_config_finish(&b) == SX_OK || cfg_fail(j, "%s", sx_last_error());
}

/* The StylEx network config (trainer.network_config); false with j->err. */
static bool parse_stylex(cfg_json *j, void *c)
{
    sx_config_build b;
    bool baseline = false;
    sx_config_begin(&b, &sx_stylegan_config_desc, c);
    if (!cfg_fields(j, &b, true, &baseline)) return false;
    if (baseline) ((sx_stylegan_config *)c)->n_classes = 0;
    return sx_config_finish(&b) == SX_OK || cfg_fail(j, "%s", sx_last_error());
}

/* A config of JSON text through parse; SX_EINVAL naming fn. */
static sx_status from_json(const char *fn, const char *json, bool (*parse)(cfg_json *, void *), void *out)
{
    if (!json || !out) return sx_fail(SX_EINVAL, "%s: %s is NULL", fn, json ? "out" : "json");
    cfg_json j;
    sx_json_init(&j.r, json, strlen(json));
    if (!parse(&j, out)) return sx_fail(SX_EINVAL, "%s: %s", fn, j.err);
    return SX_OK;
}

sx_status sx_cnn_config_from_json(const char *json, sx_cnn_config *out)
{
    return from_json("classifier_config_from_json", json, parse_classifier, out);
}

sx_status sx_stylex_config_from_json(const char *json, sx_stylegan_config *out)
{
    return from_json("stylex_config_from_json", json, parse_stylex, out);
}

/* ---------------------------------------------------------------- loading */

/* Re-raises the current error with status st and "fn: path: " in front
 * (sx_fail formats into the buffer sx_last_error points at: copy it first). */
static sx_status refail(sx_status st, const char *fn, const char *path)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sx_last_error());
    return sx_fail(st, "%s: %s: %s", fn, path, msg);
}

/* Reads path and checks its format metadata is one of formats[0..n); the
 * index of the one found goes to *which. */
static sx_status open_file(const char *fn, const char *path, int n, const char *const *formats, int *which,
                           sx_safetensors **st)
{
    sx_status s = sx_safetensors_load(path, st);
    if (s != SX_OK) return s; /* its message names the file */
    const char *fmt = sx_safetensors_meta(*st, "format");
    *which = -1;
    for (int i = 0; fmt && i < n; i++)
        if (strcmp(fmt, formats[i]) == 0) *which = i;
    if (*which >= 0 && sx_safetensors_meta(*st, "config")) return SX_OK;
    char want[160] = "";
    for (int i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s'%s'", i ? " or " : "", formats[i]);
    if (*which >= 0)
        s = sx_fail(SX_EFORMAT, "%s: %s: format '%s' but no 'config' metadata", fn, path, fmt);
    else if (fmt)
        s = sx_fail(SX_EFORMAT, "%s: %s has format '%s', expected %s", fn, path, fmt, want);
    else
        s = sx_fail(SX_EFORMAT, "%s: %s has no 'format' metadata (not a stylex model file; expected %s)", fn, path,
                    want);
    sx_safetensors_free(*st);
    *st = NULL;
    return s;
}

/* open_file, then the file's config read by parse into cfg. */
static sx_status open_model(const char *fn, const char *path, int n, const char *const *formats, int *which,
                            bool (*parse)(cfg_json *, void *), void *cfg, sx_safetensors **st)
{
    sx_status s = open_file(fn, path, n, formats, which, st);
    if (s != SX_OK) return s;
    cfg_json j;
    const char *config = sx_safetensors_meta(*st, "config");
    sx_json_init(&j.r, config, strlen(config));
    if (parse(&j, cfg)) return SX_OK;
    sx_safetensors_free(*st);
    *st = NULL;
    return sx_fail(SX_EFORMAT, "%s: %s: config: %s", fn, path, j.err);
}

/* Copies the file's tensors "<prefix><name>" into m's parameters and buffers
 * "<name>", strictly (every one present, none extra, shapes equal). */
static sx_status fill_module(const char *fn, const char *path, sx_module *m, const sx_safetensors *st,
                             const char *prefix)
{
    sx_named_tensors live = {0}, dst = {0}, src = {0};
    size_t np = strlen(prefix);
    char name[512], who[600];
    sx_status s = sx_module_state_refs(m, &live);
    for (int i = 0; s == SX_OK && i < live.n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, live.names[i]);
        s = sx_named_tensors_push(&dst, name, sx_tensor_retain(live.tensors[i]));
    }
    for (int i = 0; s == SX_OK && i < st->n; i++)
        if (strncmp(st->names[i], prefix, np) == 0)
            s = sx_named_tensors_push(&src, st->names[i], sx_tensor_retain(st->tensors[i]));
    if (s == SX_OK) {
        snprintf(who, sizeof who, "%s: %s", fn, path);
        s = sx_named_tensors_assign(&dst, &src, true, who);
        if (s == SX_EINVAL) { /* the file does not match its config */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", sx_last_error());
            s = sx_fail(SX_EFORMAT, "%s", msg);
        }
    }
    sx_named_tensors_clear(&live);
    sx_named_tensors_clear(&dst);
    sx_named_tensors_clear(&src);
    return s;
}

static sx_status set_trainable(sx_module *m, bool on)
{
    sx_named_tensors p = {0};
    sx_status s = sx_module_parameters(m, &p);
    for (int i = 0; s == SX_OK && i < p.n; i++) s = sx_tensor_set_requires_grad(p.tensors[i], on);
    sx_named_tensors_clear(&p);
    return s;
}

sx_status sx_cnn_load(const char *path, sx_module **out, sx_model_meta *meta)
{
    static const char fn[] = "classifier_load";
    if (meta) memset(meta, 0, sizeof *meta);
    if (!out) return sx_fail(SX_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!path) return sx_fail(SX_EINVAL, "%s: path is NULL", fn);

    static const char *const formats[] = {SX_CLASSIFIER_FORMAT};
    int which;
    sx_safetensors *st = NULL;
    sx_cnn_config cfg;
    sx_status s = open_model(fn, path, 1, formats, &which, parse_classifier, &cfg, &st);
    if (s != SX_OK) return s;
    sx_module *m = NULL;
    uint64_t rng[4];
    sx_rng_get_state(rng); /* the weights drawn here are overwritten */
    m = sx_cnn_new(&cfg);
    sx_rng_set_state(rng);
    if (!m) {
        s = refail(SX_EFORMAT, fn, path);
        goto done;
    }
    s = fill_module(fn, path, m, st, "");
    if (s == SX_OK && meta && !meta_copy(meta, st)) s = sx_fail(SX_ENOMEM, "%s: %s: out of memory", fn, path);
done:
    sx_safetensors_free(st);
    if (s != SX_OK) {
        sx_module_free(m);
        return s;
    }
    *out = m;
    return SX_OK;
}

sx_status sx_stylex_load(const char *path, sx_module **G, sx_module **E, sx_model_meta *meta)
{
    static const char fn[] = "stylex_load";
    if (meta) memset(meta, 0, sizeof *meta);
    if (G) *G = NULL;
    if (E) *E = NULL;
    if (!path) return sx_fail(SX_EINVAL, "%s: path is NULL", fn);

    static const char *const formats[] = {SX_STYLEX_FORMAT, SX_STYLEX_TRAINING_FORMAT};
    static const char *const g_prefix[] = {"G.", "G_ema."};
    int which;
    sx_safetensors *st = NULL;
    sx_stylegan_config cfg;
    sx_status s = open_model(fn, path, 2, formats, &which, parse_stylex, &cfg, &st);
    if (s != SX_OK) return s;
    sx_module *g = NULL, *e = NULL;
    uint64_t rng[4];
    sx_rng_get_state(rng); /* the weights drawn here are overwritten */
    if (G) g = sx_generator_new(&cfg);
    if (E && (g || !G)) e = sx_encoder_new(&cfg);
    sx_rng_set_state(rng);
    if ((G && !g) || (E && !e)) {
        s = refail(SX_EFORMAT, fn, path);
        goto done;
    }
    if (g) s = fill_module(fn, path, g, st, g_prefix[which]);
    if (s == SX_OK && e) s = fill_module(fn, path, e, st, "E.");
    if (s == SX_OK && g) s = set_trainable(g, false);
    if (s == SX_OK && e) s = set_trainable(e, false);
    if (s == SX_OK && meta && !meta_copy(meta, st)) s = sx_fail(SX_ENOMEM, "%s: %s: out of memory", fn, path);
done:
    sx_safetensors_free(st);
    if (s != SX_OK) {
        sx_module_free(g);
        sx_module_free(e);
        return s;
    }
    if (G) *G = g;
    if (E) *E = e;
    return SX_OK;
}

/* The JSON list of strings in text, as n new strings (NULL on any error). */
static char **string_list(const char *text, int n)
{
    if (!text) return NULL;
    sx_json_reader r;
    sx_json_init(&r, text, strlen(text));
    char **v = calloc((size_t)n, sizeof *v);
    int got = 0;
    bool ok = v && sx_json_expect(&r, '[');
    while (ok && got < n) {
        size_t len;
        ok = sx_json_string(&r, &v[got], &len);
        if (ok) got++;
        if (ok && got < n) ok = sx_json_expect(&r, ',');
    }
    ok = ok && sx_json_expect(&r, ']') && sx_json_end(&r);
    if (!ok) {
        for (int i = 0; v && i < got; i++) free(v[i]);
        free(v);
        return NULL;
    }
    return v;
}

sx_status sx_classifier_load(const char *path, const sx_onnx_opts *opts, sx_classifier **out, sx_model_meta *meta)
{
    if (meta) memset(meta, 0, sizeof *meta);
    if (!out || !path) return sx_fail(SX_EINVAL, "classifier_load: path and out are required");
    *out = NULL;
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".onnx") == 0) return sx_onnx_load(path, opts, out);
    sx_model_meta own = {0};
    sx_module *m = NULL;
    sx_status s = sx_cnn_load(path, &m, &own);
    if (s != SX_OK) return s;
    const sx_cnn_config *cfg = sx_cnn_config_of(m);
    char **names = string_list(sx_model_meta_get(&own, "class_names"), cfg->n_classes);
    set_trainable(m, false);
    *out = sx_classifier_from_cnn(m, (const char *const *)names);
    for (int i = 0; names && i < cfg->n_classes; i++) free(names[i]);
    free(names);
    sx_module_free(m);
    if (!*out) {
        sx_model_meta_clear(&own);
        return sx_last_status();
    }
    if (meta) *meta = own;
    else sx_model_meta_clear(&own);
    return SX_OK;
}
