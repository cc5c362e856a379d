/*
 * stylex/config.h — model configs described once, as a table of fields.
 *
 * Each model config struct (sx_cnn_config, sx_stylegan_config) has a
 * descriptor: its fields (key, offset, type, bounds), its defaults and its
 * check. Everything that reads a config from outside walks the descriptor:
 * the JSON configs of the model files (lib/models/model_file.c) and the Lua
 * options tables (lib/lua/config.c) both go through sx_config_set_* and
 * sx_config_finish, so a key, its type and its rules are written in one
 * place, and the messages are the same from C, JSON and Lua. A config is
 * checked in one place, sx_config_check: every field's bounds, then the
 * descriptor's rules between fields (sx_cnn_config_check and
 * sx_stylegan_config_check are that call).
 *
 * Lists are numbered from 1 in messages ("'channels[2]' = 0"), as in JSON
 * and Lua options.
 */
#ifndef STYLEX_CONFIG_H
#define STYLEX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SX_CONFIG_MAX_FIELDS 16

typedef enum sx_field_type {
    SX_FIELD_INT,      /* int; an integral number */
    SX_FIELD_FLOAT,    /* float */
    SX_FIELD_INT_LIST, /* int[max_len]; its length is the descriptor's list_len */
} sx_field_type;

typedef struct sx_config_build sx_config_build;

typedef struct sx_config_field {
    const char *key;       /* the JSON key and Lua option name */
    size_t offset;         /* of the value in the config struct */
    sx_field_type type;
    double lo, hi;         /* bounds of the value (of each entry of a list) */
    bool lo_open, hi_open; /* a bound is exclusive (FLOAT only) */
    int max_len;           /* INT_LIST: entries the array holds */
    bool required;         /* no default: a reader must be given it */
    bool implied;          /* set from another field (n_blocks from channels): not listed by config() */
} sx_config_field;

typedef struct sx_config_desc {
    const char *name; /* in messages: "classifier", "stylegan config" */
    int n_fields;
    const sx_config_field *fields; /* [n_fields], in the order config() lists them */
    void (*defaults)(void *cfg);
    /* The length the list field f has in cfg (read from the config, clamped
     * to f->max_len). */
    int (*list_len)(const void *cfg, const sx_config_field *f);
    /* Rules on what a reader was given (list lengths, fields that must
     * agree), run by sx_config_finish before the check; may be NULL. */
    sx_status (*settle)(void *cfg, const sx_config_build *b);
    /* The rules between fields, once each field is within its bounds. */
    sx_status (*rules)(const void *cfg);
} sx_config_desc;

extern const sx_config_desc sx_cnn_config_desc;
extern const sx_config_desc sx_stylegan_config_desc;

/* Reading a config from outside: sx_config_begin, then one sx_config_set_*
 * per given key, then sx_config_finish. */
struct sx_config_build {
    const sx_config_desc *desc;
    void *cfg;                    /* the struct being filled (borrowed) */
    uint32_t given;               /* bit i: field i was set */
    int len[SX_CONFIG_MAX_FIELDS]; /* the length a list field was given with */
};

/* Fills cfg with the descriptor's defaults. */
void sx_config_begin(sx_config_build *b, const sx_config_desc *desc, void *cfg);
/* The index of key among the fields, or -1. */
int sx_config_field_index(const sx_config_desc *desc, const char *key);
/* Sets field i (INT or FLOAT) to v: an INT must be integral and fit an int.
 * SX_EINVAL ("'hidden' = 2.5 is not an integer"). Bounds are the check's. */
sx_status sx_config_set_number(sx_config_build *b, int i, double v);
/* Sets list field i to v[0..n): 1 .. max_len integral entries. */
sx_status sx_config_set_list(sx_config_build *b, int i, const double *v, int n);
/* Required fields present, the settle rules, then the check. SX_EINVAL. */
sx_status sx_config_finish(sx_config_build *b);
/* Whether field i was given. */
bool sx_config_given(const sx_config_build *b, int i);

/* The bounds of every field of cfg ("'n_classes' = 1, expected an integer
 * in 2..100000"), then the descriptor's rules. SX_EINVAL. */
sx_status sx_config_check(const sx_config_desc *desc, const void *cfg);

#ifdef __cplusplus
}
#endif
#endif
