/*
 * tests/c/test_config.c — the config descriptors (include/stylex/config.h):
 * every field of both descriptors has its bounds enforced by the config's
 * check and named in the message (a value one past each bound, set through
 * the builder the JSON and Lua readers use); the defaults pass; types,
 * lengths, required and agreeing fields are the builder's; and a JSON config
 * is refused with the same words as the builder, since it goes through it.
 */
#include "check.h"

/* A fresh build over d with the required fields given a valid value. */
static void begin(sx_config_build *b, const sx_config_desc *d, void *cfg)
{
    sx_config_begin(b, d, cfg);
    for (int i = 0; i < d->n_fields; i++)
        if (d->fields[i].required) CHECK_OK(sx_config_set_number(b, i, d->fields[i].lo));
}

static void bounds_of(const sx_config_desc *d, void *cfg)
{
    sx_config_build b;
    begin(&b, d, cfg);
    CHECK_MSG(sx_config_finish(&b) == SX_OK, "%s defaults: %s", d->name, sx_last_error());
    for (int i = 0; i < d->n_fields; i++) {
        const sx_config_field *f = &d->fields[i];
        if (f->implied) continue;
        double past[2] = {f->lo - (f->type == SX_FIELD_FLOAT && !f->lo_open ? 0.5 : 1), f->hi + 1};
        if (f->type == SX_FIELD_FLOAT && f->lo_open) past[0] = f->lo;
        for (int side = 0; side < 2; side++) {
            begin(&b, d, cfg);
            char want[64];
            sx_status st;
            if (f->type == SX_FIELD_INT_LIST) {
                /* the first entry out of bounds, as long a list as the config wants */
                double v[16];
                int n = d->list_len(cfg, f);
                for (int k = 0; k < n; k++) v[k] = ((const int *)((const char *)cfg + f->offset))[k];
                v[0] = past[side];
                st = sx_config_set_list(&b, i, v, n);
                snprintf(want, sizeof want, "'%s[1]' = %g", f->key, past[side]);
            } else {
                st = sx_config_set_number(&b, i, past[side]);
                snprintf(want, sizeof want, "'%s' = %g", f->key, past[side]);
            }
            if (st == SX_OK) st = sx_config_finish(&b);
            CHECK_MSG(st == SX_EINVAL && has(sx_last_error(), want), "%s: %s past its bound -> %s", d->name, want,
                      sx_last_error());
        }
    }
}

static void test_bounds_of_every_field(void)
{
    sx_cnn_config c;
    sx_stylegan_config s;
    bounds_of(&sx_cnn_config_desc, &c);
    bounds_of(&sx_stylegan_config_desc, &s);
}

static void test_builder(void)
{
    const sx_config_desc *d = &sx_cnn_config_desc;
    sx_cnn_config c;
    sx_config_build b;
    CHECK(sx_config_field_index(d, "hidden") >= 0 && sx_config_field_index(d, "colour") == -1);
    int hidden = sx_config_field_index(d, "hidden"), channels = sx_config_field_index(d, "channels");
    int n_blocks = sx_config_field_index(d, "n_blocks");

    sx_config_begin(&b, d, &c);
    CHECK(sx_config_finish(&b) == SX_EINVAL && has(sx_last_error(), "no 'n_classes'"));
    begin(&b, d, &c);
    CHECK(sx_config_set_number(&b, hidden, 2.5) == SX_EINVAL && has(sx_last_error(), "'hidden' = 2.5 is not an integer"));
    CHECK(sx_config_set_number(&b, hidden, 1e12) == SX_EINVAL && has(sx_last_error(), "out of range"));
    CHECK(sx_config_set_number(&b, channels, 8) == SX_EINVAL && has(sx_last_error(), "must be a list"));
    CHECK(sx_config_set_list(&b, channels, NULL, 0) == SX_EINVAL && has(sx_last_error(), "'channels' is empty"));
    CHECK(sx_config_set_list(&b, channels, (double[]){1, 2, 3, 4, 5, 6, 7}, 7) == SX_EINVAL &&
          has(sx_last_error(), "more than 6 entries"));

    /* the number of blocks is the length of channels; n_blocks must agree */
    begin(&b, d, &c);
    CHECK_OK(sx_config_set_list(&b, channels, (double[]){4, 8}, 2));
    CHECK_OK(sx_config_finish(&b));
    CHECK(c.n_blocks == 2 && c.channels[1] == 8);
    begin(&b, d, &c);
    CHECK_OK(sx_config_set_number(&b, n_blocks, 2));
    CHECK(sx_config_finish(&b) == SX_EINVAL && has(sx_last_error(), "'n_blocks' = 2 disagrees with 3 channels"));

    /* a StyleGAN channels list has one width per resolution */
    const sx_config_desc *g = &sx_stylegan_config_desc;
    sx_stylegan_config s;
    sx_config_begin(&b, g, &s);
    CHECK_OK(sx_config_set_list(&b, sx_config_field_index(g, "channels"), (double[]){8, 8}, 2));
    CHECK(sx_config_finish(&b) == SX_EINVAL && has(sx_last_error(), "'channels' has 2 widths, expected 4"));
    /* rules between fields come after the bounds */
    sx_config_begin(&b, g, &s);
    CHECK_OK(sx_config_set_number(&b, sx_config_field_index(g, "resolution"), 48));
    CHECK(sx_config_finish(&b) == SX_EINVAL && has(sx_last_error(), "resolution 48 must be a power of two"));
}

/* The JSON reader goes through the builder: the same words. */
static void test_json_says_the_same(void)
{
    sx_cnn_config c;
    CHECK(sx_cnn_config_from_json("{\"n_classes\":2,\"hidden\":0}", &c) == SX_EINVAL);
    CHECK_MSG(has(sx_last_error(), "classifier: 'hidden' = 0, expected an integer in 1..65536"), "%s",
              sx_last_error());
    sx_stylegan_config s;
    CHECK(sx_stylex_config_from_json("{\"mbstd_group\":2000}", &s) == SX_EINVAL);
    CHECK_MSG(has(sx_last_error(), "stylegan config: 'mbstd_group' = 2000, expected an integer in 0..1024"), "%s",
              sx_last_error());
    CHECK(sx_cnn_config_check(NULL) == SX_EINVAL && sx_stylegan_config_check(NULL) == SX_EINVAL);
}

int main(void)
{
    RUN(test_bounds_of_every_field);
    RUN(test_builder);
    RUN(test_json_says_the_same);
    return check_summary("test_config");
}
