/*
 * examples/c_basic.c — the C API on one page: a two-layer network fitted to
 * y = sin(x) with Adam, its second derivative through sx_grad(create_graph),
 * and a safetensors round trip of its weights.
 *
 * Every call that can fail returns NULL or a status other than SX_OK and
 * leaves the reason in sx_last_error(). CHECK prints that reason and jumps to
 * the cleanup at the end of the function, which frees whatever exists
 * (sx_tensor_free(NULL) does nothing, so unset pointers are fine).
 *
 * Usage: c_basic [dir]   (writes dir/c_basic.safetensors; dir defaults to ".")
 */
#include <math.h>
#include <stdio.h>

#include "stylex.h"

#define N 64       /* training points in [-3, 3] */
#define HIDDEN 16  /* width of the hidden layer */
#define STEPS 500  /* Adam steps */

/* A library call that must succeed: on failure, say why and go to `out`. */
#define CHECK(ok)                                                                           \
    do {                                                                                    \
        if (!(ok)) {                                                                        \
            fprintf(stderr, "c_basic:%d: %s: %s\n", __LINE__, #ok, sx_last_error());       \
            goto out;                                                                       \
        }                                                                                   \
    } while (0)

/* f(x) = W2 tanh(W1 x + b1) + b2 for x [n, 1]; p = {W1 [H, 1], b1 [H], W2 [1, H],
 * b2 [1]}. A new reference, or NULL: a NULL passes down the chain untouched,
 * so the message left is the first failure's. */
static sx_tensor *net(sx_tensor *const p[4], sx_tensor *x)
{
    sx_tensor *h = sx_linear(x, p[0], p[1]);
    sx_tensor *a = h ? sx_tanh(h) : NULL;
    sx_tensor *y = a ? sx_linear(a, p[2], p[3]) : NULL;
    sx_tensor_free(h); /* y's graph holds what backward needs */
    sx_tensor_free(a);
    return y;
}

/* f'(x0), and f''(x0) when d2 is not NULL, by differentiating a gradient. */
static sx_status derivatives(sx_tensor *const p[4], float x0, float *d1, float *d2)
{
    bool ok = false;
    sx_tensor *x = NULL, *f = NULL, *g = NULL, *gg = NULL;
    CHECK(x = sx_tensor_full(2, (int64_t[]){1, 1}, x0));
    CHECK(sx_tensor_set_requires_grad(x, true) == SX_OK);
    CHECK(f = net(p, x));
    /* create_graph: g = df/dx carries a graph of its own, so it can be differentiated again */
    CHECK(sx_grad(1, &f, NULL, 1, &x, d2 != NULL, false, &g) == SX_OK);
    CHECK(sx_tensor_item(g, d1) == SX_OK);
    if (d2) {
        CHECK(sx_grad(1, &g, NULL, 1, &x, false, false, &gg) == SX_OK);
        CHECK(sx_tensor_item(gg, d2) == SX_OK);
    }
    ok = true;
out:
    sx_tensor_free(x);
    sx_tensor_free(f);
    sx_tensor_free(g);
    sx_tensor_free(gg);
    return ok ? SX_OK : sx_last_status();
}

int main(int argc, char **argv)
{
    int rc = 1;
    const char *names[4] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    sx_tensor *p[4] = {NULL}, *x = NULL, *y = NULL, *pred = NULL, *loss = NULL, *pred2 = NULL, *loss2 = NULL;
    sx_optim *opt = NULL;
    sx_safetensors *ck = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/c_basic.safetensors", argc > 1 ? argv[1] : ".");

    /* data: N points of sin on [-3, 3], as [N, 1] tensors (from_data copies) */
    float xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = -3.0f + 6.0f * (float)i / (N - 1);
        ys[i] = sinf(xs[i]);
    }
    CHECK(x = sx_tensor_from_data(2, (int64_t[]){N, 1}, xs));
    CHECK(y = sx_tensor_from_data(2, (int64_t[]){N, 1}, ys));

    /* parameters: leaves that require grad; the seed makes the run reproducible */
    sx_manual_seed(1);
    CHECK(p[0] = sx_tensor_randn(2, (int64_t[]){HIDDEN, 1}));
    CHECK(p[1] = sx_tensor_randn(1, (int64_t[]){HIDDEN}));
    CHECK(p[2] = sx_tensor_zeros(2, (int64_t[]){1, HIDDEN}));
    CHECK(p[3] = sx_tensor_zeros(1, (int64_t[]){1}));
    for (int i = 0; i < 4; i++) CHECK(sx_tensor_set_requires_grad(p[i], true) == SX_OK);

    /* Adam over one parameter group (lr 0 there: use the optimiser's lr) */
    sx_adam_opts ao = sx_adam_defaults(); /* every field is used as given */
    ao.lr = 0.02f;
    sx_param_group group = {.n = 4, .params = p, .lr = 0};
    CHECK(opt = sx_adam_new(1, &group, &ao)); /* retains the parameters */

    for (int step = 1; step <= STEPS; step++) {
        CHECK(pred = net(p, x));
        CHECK(loss = sx_mse_loss(pred, y));
        sx_optim_zero_grad(opt);                           /* gradients accumulate otherwise */
        CHECK(sx_backward(loss, NULL, false) == SX_OK);    /* fills p[i]->grad */
        CHECK(sx_optim_step(opt) == SX_OK);
        float l;
        CHECK(sx_tensor_item(loss, &l) == SX_OK);
        if (step % 100 == 0) printf("step %3d  mse %.6f\n", step, l);
        sx_tensor_free(pred); /* the last references: the step's graph goes with them */
        sx_tensor_free(loss);
        pred = loss = NULL;
    }

    /* second derivative, checked against a central difference of the first */
    float x0 = 0.5f, h = 1e-2f, d1, d2, up, down;
    CHECK(derivatives(p, x0, &d1, &d2) == SX_OK);
    CHECK(derivatives(p, x0 + h, &up, NULL) == SX_OK);
    CHECK(derivatives(p, x0 - h, &down, NULL) == SX_OK);
    float fd = (up - down) / (2 * h);
    printf("f'(%.1f)  = %+.4f  (cos:  %+.4f)\n", x0, d1, cosf(x0));
    printf("f''(%.1f) = %+.4f  (-sin: %+.4f, finite difference of f': %+.4f)\n", x0, d2, -sinf(x0), fd);
    if (!(fabsf(d2 - fd) < 1e-2f)) {
        fprintf(stderr, "c_basic: f'' from sx_grad and from differences disagree\n");
        goto out;
    }

    /* save, load, and check the reloaded weights give the same loss */
    const char *keys[1] = {"example"}, *values[1] = {"c_basic"};
    CHECK(sx_safetensors_save(path, 4, names, p, 1, keys, values) == SX_OK);
    CHECK(sx_safetensors_load(path, &ck) == SX_OK);
    sx_tensor *q[4]; /* borrowed from ck: valid until sx_safetensors_free(ck) */
    for (int i = 0; i < 4; i++) {
        q[i] = sx_safetensors_get(ck, names[i]);
        if (!q[i]) { /* a lookup miss sets no error: say what is missing */
            fprintf(stderr, "c_basic: %s has no tensor '%s'\n", path, names[i]);
            goto out;
        }
    }
    float before, after;
    CHECK(pred = net(p, x));
    CHECK(loss = sx_mse_loss(pred, y));
    CHECK(pred2 = net(q, x));
    CHECK(loss2 = sx_mse_loss(pred2, y));
    CHECK(sx_tensor_item(loss, &before) == SX_OK && sx_tensor_item(loss2, &after) == SX_OK);
    printf("saved %s (metadata example=%s); mse %.6f before, %.6f after reloading\n", path,
           sx_safetensors_meta(ck, "example"), before, after);
    if (before != after) {
        fprintf(stderr, "c_basic: the reloaded weights give a different loss\n");
        goto out;
    }
    rc = 0;
out:
    sx_safetensors_free(ck); /* drops the loaded tensors (q[]) too */
    sx_optim_free(opt);
    for (int i = 0; i < 4; i++) sx_tensor_free(p[i]);
    sx_tensor_free(x);
    sx_tensor_free(y);
    sx_tensor_free(pred);
    sx_tensor_free(loss);
    sx_tensor_free(pred2);
    sx_tensor_free(loss2);
    return rc;
}
