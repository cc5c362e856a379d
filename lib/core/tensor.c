/*
 * lib/core/tensor.c — storage and tensor lifetimes, creation, views, copies.
 *
 * A tensor owns one reference to its storage, its grad and its grad_fn node;
 * a node owns references to its inputs. Freeing walks that graph with an
 * explicit stack, so a long chain of ops cannot overflow the C stack.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---------------------------------------------------------------- memory accounting */

static atomic_size_t mem_live;
static atomic_size_t mem_since_report;

void sx_mem_note_alloc(size_t bytes)
{
    atomic_fetch_add(&mem_live, bytes);
    atomic_fetch_add(&mem_since_report, bytes);
}

void sx_mem_note_free(size_t bytes) { atomic_fetch_sub(&mem_live, bytes); }

size_t sx_mem_take_allocated(void) { return atomic_exchange(&mem_since_report, 0); }

size_t sx_mem_live(void) { return atomic_load(&mem_live); }

/* ---------------------------------------------------------------- block cache
 *
 * Large storage blocks are kept after their last tensor dies and handed to
 * the next request of the same rounded size: a training step allocates the
 * same shapes every iteration, and fresh pages from the kernel cost a page
 * fault each (about a third of the time of some kernels). The cache holds at
 * most CACHE_BYTES; SX_CACHE_MB overrides (0 disables).
 */
#include <pthread.h>

#define CACHE_MIN_BYTES (64u << 10)
#define CACHE_SLOTS 512
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    float *p;
    size_t bytes;
} cache[CACHE_SLOTS];
static int cache_n;
static size_t cache_bytes;
static size_t cache_limit = (size_t)-1; /* set on first use */
static bool cache_registered;

static void cache_clear_all(void);

static size_t cache_round(size_t bytes) { return (bytes + 4095) & ~(size_t)4095; }

static float *cache_take(size_t bytes)
{
    float *p = NULL;
    pthread_mutex_lock(&cache_mu);
    for (int i = cache_n - 1; i >= 0; i--)
        if (cache[i].bytes == bytes) {
            p = cache[i].p;
            cache_bytes -= bytes;
            cache[i] = cache[--cache_n];
            break;
        }
    pthread_mutex_unlock(&cache_mu);
    return p;
}

/* Keeps p for reuse; false if the cache is full (the caller frees it). */
static bool cache_put(float *p, size_t bytes)
{
    bool kept = false;
    pthread_mutex_lock(&cache_mu);
    if (cache_limit == (size_t)-1) {
        const char *env = getenv("SX_CACHE_MB");
        cache_limit = env ? (size_t)atol(env) << 20 : (size_t)2048 << 20;
    }
    if (!cache_registered) {
        cache_registered = true;
        atexit(cache_clear_all);
    }
    while (cache_n > 0 && (cache_n == CACHE_SLOTS || cache_bytes + bytes > cache_limit)) {
        /* evict the oldest to make room */
        free(cache[0].p);
        cache_bytes -= cache[0].bytes;
        cache[0] = cache[--cache_n];
    }
    if (bytes <= cache_limit && cache_n < CACHE_SLOTS) {
        cache[cache_n].p = p;
        cache[cache_n].bytes = bytes;
        cache_n++;
        cache_bytes += bytes;
        kept = true;
    }
    pthread_mutex_unlock(&cache_mu);
    return kept;
}

static void cache_clear_all(void)
{
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < cache_n; i++) free(cache[i].p);
    cache_n = 0;
    cache_bytes = 0;
    pthread_mutex_unlock(&cache_mu);
}

void sx_mem_cache_clear(void) { cache_clear_all(); }

/* ---------------------------------------------------------------- storage */

static sx_storage *storage_new(int64_t size)
{
    if (size < 0 || size > SX_MAX_NUMEL) {
        sx_fail(SX_ENOMEM, "tensor of %lld elements is too large (limit %lld)", (long long)size,
                (long long)SX_MAX_NUMEL);
        return NULL;
    }
    sx_storage *s = malloc(sizeof *s);
    if (!s) {
        sx_fail(SX_ENOMEM, "out of memory");
        return NULL;
    }
    size_t bytes = (size_t)(size > 0 ? size : 1) * sizeof(float);
    bytes = bytes >= CACHE_MIN_BYTES ? cache_round(bytes) : (bytes + 63) & ~(size_t)63;
    s->data = bytes >= CACHE_MIN_BYTES ? cache_take(bytes) : NULL;
    if (!s->data) s->data = aligned_alloc(64, bytes);
    if (!s->data) {
        free(s);
        sx_fail(SX_ENOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    s->size = size;
    s->refcount = 1;
    sx_mem_note_alloc((size_t)size * sizeof(float));
    return s;
}

static void storage_release(sx_storage *s)
{
    if (s && --s->refcount == 0) {
        sx_mem_note_free((size_t)s->size * sizeof(float));
        size_t bytes = (size_t)(s->size > 0 ? s->size : 1) * sizeof(float);
        if (bytes < CACHE_MIN_BYTES || !cache_put(s->data, cache_round(bytes))) free(s->data);
        free(s);
    }
}

/* ---------------------------------------------------------------- shapes */

int64_t sx_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* The one check every new shape passes (tensors, views, reshapes, the file
 * readers' headers): sizes >= 0, and both the element count and the
 * contiguous strides (the product of the sizes with a 0 counted as 1) at
 * most SX_MAX_NUMEL, so that neither numel nor sx_contiguous_strides can
 * overflow int64 (a shape like [0, 2^32, 2^32] holds no element but its
 * strides would pass 2^63). */
bool sx_shape_check(const char *fn, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > SX_MAX_DIMS) {
        sx_fail(SX_EINVAL, "%s: %d dimensions (at most %d)", fn, ndim, SX_MAX_DIMS);
        return false;
    }
    int64_t span = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            sx_fail(SX_EINVAL, "%s: negative size %lld in dimension %d", fn, (long long)shape[i], i);
            return false;
        }
        if (shape[i] > 0 && span > SX_MAX_NUMEL / shape[i]) {
            sx_fail(SX_ENOMEM, "%s: shape too large (more than %lld elements or strides past that, at dimension %d)",
                    fn, (long long)SX_MAX_NUMEL, i);
            return false;
        }
        if (shape[i] > 0) span *= shape[i];
    }
    return true;
}

void sx_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

int sx_norm_dim(const char *fn, int dim, int ndim)
{
    int d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= ndim) {
        sx_fail(SX_EINVAL, "%s: dimension %d out of range for a %d-d tensor", fn, dim, ndim);
        return -1;
    }
    return d;
}

const char *sx_shape_str(const sx_tensor *t, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

bool sx_check_same_shape(const char *fn, const sx_tensor *a, const sx_tensor *b)
{
    if (sx_tensor_same_shape(a, b)) return true;
    char sa[96], sb[96];
    sx_fail(SX_EINVAL, "%s: shapes differ (%s and %s)", fn, sx_shape_str(a, sa, sizeof sa),
            sx_shape_str(b, sb, sizeof sb));
    return false;
}

bool sx_check_arg(const char *fn, int k, const sx_tensor *t)
{
    if (t) return true;
    sx_fail(SX_EINVAL, "%s: argument #%d is NULL", fn, k);
    return false;
}

/* ---------------------------------------------------------------- creation */

static sx_tensor *tensor_alloc(void)
{
    sx_tensor *t = calloc(1, sizeof *t);
    if (!t) sx_fail(SX_ENOMEM, "out of memory");
    else t->refcount = 1;
    return t;
}

sx_tensor *sx_tensor_empty(int ndim, const int64_t *shape)
{
    if (!sx_shape_check("empty", ndim, shape)) return NULL;
    sx_tensor *t = tensor_alloc();
    if (!t) return NULL;
    t->storage = storage_new(sx_shape_numel(ndim, shape));
    if (!t->storage) {
        free(t);
        return NULL;
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    sx_contiguous_strides(ndim, shape, t->stride);
    return t;
}

sx_tensor *sx_tensor_full(int ndim, const int64_t *shape, float value)
{
    sx_tensor *t = sx_tensor_empty(ndim, shape);
    if (t) sx_tensor_fill(t, value);
    return t;
}

sx_tensor *sx_tensor_zeros(int ndim, const int64_t *shape)
{
    sx_tensor *t = sx_tensor_empty(ndim, shape);
    if (t) memset(t->storage->data, 0, (size_t)t->storage->size * sizeof(float));
    return t;
}

sx_tensor *sx_tensor_ones(int ndim, const int64_t *shape) { return sx_tensor_full(ndim, shape, 1.0f); }

sx_tensor *sx_tensor_zeros_like(const sx_tensor *t) { return sx_tensor_zeros(t->ndim, t->shape); }

sx_tensor *sx_tensor_ones_like(const sx_tensor *t) { return sx_tensor_ones(t->ndim, t->shape); }

sx_tensor *sx_tensor_scalar(float value) { return sx_tensor_full(0, NULL, value); }

sx_tensor *sx_tensor_from_data(int ndim, const int64_t *shape, const float *data)
{
    sx_tensor *t = sx_tensor_empty(ndim, shape);
    if (t) memcpy(t->storage->data, data, (size_t)t->storage->size * sizeof(float));
    return t;
}

sx_tensor *sx_tensor_arange(int64_t n)
{
    sx_tensor *t = sx_tensor_empty(1, &n);
    if (t)
        for (int64_t i = 0; i < n; i++) t->storage->data[i] = (float)i;
    return t;
}

sx_tensor *sx_tensor_rand(int ndim, const int64_t *shape)
{
    sx_tensor *t = sx_tensor_empty(ndim, shape);
    if (t)
        for (int64_t i = 0; i < t->storage->size; i++) t->storage->data[i] = (float)sx_rng_uniform();
    return t;
}

sx_tensor *sx_tensor_randn(int ndim, const int64_t *shape)
{
    sx_tensor *t = sx_tensor_empty(ndim, shape);
    if (t && !sx_rng_fill_normal(t->storage->data, t->storage->size)) {
        sx_fail(SX_ENOMEM, "randn: out of memory for the draws of %lld values", (long long)t->storage->size);
        sx_tensor_free(t);
        return NULL;
    }
    return t;
}

sx_tensor *sx_tensor_view(sx_tensor *base, int ndim, const int64_t *shape, const int64_t *stride,
                          int64_t offset)
{
    sx_tensor *t = tensor_alloc();
    if (!t) return NULL;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->stride[i] = stride[i];
    }
    t->offset = offset;
    t->storage = base->storage;
    t->storage->refcount++;
    return t;
}

/* ---------------------------------------------------------------- lifetime */

sx_tensor *sx_tensor_retain(sx_tensor *t)
{
    if (t) t->refcount++;
    return t;
}

void sx_node_free(sx_node *node)
{
    /* Only called for nodes whose references were already handed to the
     * freeing stack (see sx_tensor_free) or that never got any. */
    free(node->inputs);
    free(node->ivec);
    free(node);
}

void sx_tensor_free(sx_tensor *t)
{
    if (!t) return;
    enum { LOCAL = 64 };
    sx_tensor *local[LOCAL];
    sx_tensor **stack = local;
    size_t cap = LOCAL, n = 0;
    stack[n++] = t;
    while (n > 0) {
        sx_tensor *x = stack[--n];
        if (--x->refcount > 0) continue;
        /* children to release: grad, bw_grad, node inputs and saved tensors */
        sx_node *node = x->grad_fn;
        size_t need = n + 2 + (node ? (size_t)node->n_inputs + SX_NODE_MAX_SAVED : 0);
        if (need > cap) {
            size_t ncap = cap * 2 > need ? cap * 2 : need;
            sx_tensor **ns = malloc(ncap * sizeof *ns);
            if (!ns) {
                /* Out of memory while freeing: fall back to recursion. */
                sx_tensor_free(x->grad);
                sx_tensor_free(x->bw_grad);
                if (node) {
                    for (int i = 0; i < node->n_inputs; i++) sx_tensor_free(node->inputs[i]);
                    for (int i = 0; i < SX_NODE_MAX_SAVED; i++) sx_tensor_free(node->saved[i]);
                    sx_node_free(node);
                }
                storage_release(x->storage);
                free(x);
                continue;
            }
            memcpy(ns, stack, n * sizeof *ns);
            if (stack != local) free(stack);
            stack = ns;
            cap = ncap;
        }
        if (x->grad) stack[n++] = x->grad;
        if (x->bw_grad) stack[n++] = x->bw_grad;
        if (node) {
            for (int i = 0; i < node->n_inputs; i++)
                if (node->inputs[i]) stack[n++] = node->inputs[i];
            for (int i = 0; i < SX_NODE_MAX_SAVED; i++)
                if (node->saved[i]) stack[n++] = node->saved[i];
            sx_node_free(node);
        }
        storage_release(x->storage);
        free(x);
    }
    if (stack != local) free(stack);
}

/* ---------------------------------------------------------------- queries */

int64_t sx_tensor_numel(const sx_tensor *t) { return sx_shape_numel(t->ndim, t->shape); }

bool sx_tensor_is_contiguous(const sx_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool sx_tensor_same_shape(const sx_tensor *a, const sx_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

float *sx_tensor_data(const sx_tensor *t) { return t->storage->data + t->offset; }

float sx_tensor_get(const sx_tensor *t, const int64_t *idx)
{
    int64_t off = t->offset;
    for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
    return t->storage->data[off];
}

sx_status sx_tensor_item(const sx_tensor *t, float *out)
{
    if (sx_tensor_numel(t) != 1) {
        char s[96];
        return sx_fail(SX_EINVAL, "item: tensor of shape %s has %lld elements, not 1",
                       sx_shape_str(t, s, sizeof s), (long long)sx_tensor_numel(t));
    }
    *out = t->storage->data[t->offset];
    return SX_OK;
}

/* Visits elements in row-major order, calling back with runs along the last
 * dimension: (pointer to the run's first element, its stride, length). */
typedef void (*run_fn)(void *ctx, const float *p, int64_t stride, int64_t len);

static void for_each_run(const sx_tensor *t, run_fn fn, void *ctx)
{
    int64_t numel = sx_tensor_numel(t);
    if (numel == 0) return;
    if (t->ndim == 0) {
        fn(ctx, t->storage->data + t->offset, 1, 1);
        return;
    }
    int last = t->ndim - 1;
    int64_t idx[SX_MAX_DIMS] = {0};
    int64_t len = t->shape[last];
    for (int64_t done = 0; done < numel; done += len) {
        int64_t off = t->offset;
        for (int i = 0; i < last; i++) off += idx[i] * t->stride[i];
        fn(ctx, t->storage->data + off, t->stride[last], len);
        for (int i = last - 1; i >= 0; i--) {
            if (++idx[i] < t->shape[i]) break;
            idx[i] = 0;
        }
    }
}

struct copy_ctx {
    float *out;
};

static void copy_run(void *vctx, const float *p, int64_t stride, int64_t len)
{
    struct copy_ctx *c = vctx;
    if (stride == 1) memcpy(c->out, p, (size_t)len * sizeof(float));
    else
        for (int64_t i = 0; i < len; i++) c->out[i] = p[i * stride];
    c->out += len;
}

void sx_tensor_copy_to(const sx_tensor *t, float *out)
{
    if (sx_tensor_is_contiguous(t)) {
        memcpy(out, sx_tensor_data(t), (size_t)sx_tensor_numel(t) * sizeof(float));
        return;
    }
    struct copy_ctx c = {out};
    for_each_run(t, copy_run, &c);
}

sx_tensor *sx_tensor_copy(const sx_tensor *t)
{
    sx_tensor *o = sx_tensor_empty(t->ndim, t->shape);
    if (o) sx_tensor_copy_to(t, o->storage->data);
    return o;
}

sx_tensor *sx_tensor_as_contiguous(sx_tensor *t)
{
    return sx_tensor_is_contiguous(t) ? sx_tensor_retain(t) : sx_tensor_copy(t);
}

/* ---------------------------------------------------------------- grad mode */

static _Thread_local bool grad_mode = true;

bool sx_grad_enabled(void) { return grad_mode; }

bool sx_set_grad_enabled(bool on)
{
    bool prev = grad_mode;
    grad_mode = on;
    return prev;
}

sx_tensor *sx_detach(sx_tensor *t)
{
    if (!sx_check_arg("detach", 1, t)) return NULL;
    return sx_tensor_view(t, t->ndim, t->shape, t->stride, t->offset);
}

struct fill_ctx {
    float v;
};

static void fill_run(void *vctx, const float *p, int64_t stride, int64_t len)
{
    float v = ((struct fill_ctx *)vctx)->v;
    float *q = (float *)p;
    for (int64_t i = 0; i < len; i++) q[i * stride] = v;
}

void sx_tensor_fill(sx_tensor *dst, float value)
{
    struct fill_ctx c = {value};
    for_each_run(dst, fill_run, &c);
}

struct assign_ctx {
    const float *src;
};

static void assign_run(void *vctx, const float *p, int64_t stride, int64_t len)
{
    struct assign_ctx *c = vctx;
    float *q = (float *)p;
    for (int64_t i = 0; i < len; i++) q[i * stride] = c->src[i];
    c->src += len;
}

sx_status sx_tensor_assign(sx_tensor *dst, const sx_tensor *src)
{
    if (!sx_check_same_shape("assign", dst, src)) return SX_EINVAL;
    if (src->storage == dst->storage || !sx_tensor_is_contiguous(src)) {
        sx_tensor *tmp = sx_tensor_copy(src);
        if (!tmp) return sx_last_status();
        struct assign_ctx c = {sx_tensor_data(tmp)};
        for_each_run(dst, assign_run, &c);
        sx_tensor_free(tmp);
        return SX_OK;
    }
    struct assign_ctx c = {sx_tensor_data(src)};
    for_each_run(dst, assign_run, &c);
    return SX_OK;
}
