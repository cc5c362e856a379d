/*
 * lib/ops/matmul.c — matrix products on sgemm: matmul and linear.
 *
 * Shapes: a [..., M, K] x b [K, N] (a's leading dims flattened into M), or a
 * batched [B, M, K] x [B, K, N]. An operand that is the transpose of a
 * contiguous matrix (e.g. linear's weight view) goes to sgemm with a
 * transpose flag instead of being copied.
 */
#include <string.h>

#include "../core/internal.h"
#include "stylex/ops.h"

/* How to hand a 2-D (last two dims) operand to sgemm without copying. */
typedef struct {
    const float *p;
    bool trans;
    int64_t ld;
} gemm_arg;

/* Fills g for the matrix [rows, cols] made of t's last two dims (batch
 * stride checked by the caller); false if t must be copied first. */
static bool as_gemm_arg(const sx_tensor *t, gemm_arg *g)
{
    int r = t->ndim - 2, c = t->ndim - 1;
    int64_t rows = t->shape[r], cols = t->shape[c];
    if (t->stride[c] == 1 && (t->stride[r] == cols || rows == 1)) {
        *g = (gemm_arg){sx_tensor_data(t), false, cols > 0 ? cols : 1};
        return true;
    }
    if (t->stride[r] == 1 && (t->stride[c] == rows || cols == 1)) {
        *g = (gemm_arg){sx_tensor_data(t), true, rows > 0 ? rows : 1};
        return true;
    }
    return false;
}

static bool batch_contiguous(const sx_tensor *t)
{
    /* for 3-D operands: matrices must be laid out back to back */
    return t->ndim != 3 || t->shape[0] <= 1 || t->stride[0] == t->shape[1] * t->shape[2];
}

sx_tensor *sx_matmul(sx_tensor *a, sx_tensor *b)
{
    if (!sx_check_arg("matmul", 1, a) || !sx_check_arg("matmul", 2, b)) return NULL;
    char sa[96], sb[96];
    bool batched = a->ndim == 3 && b->ndim == 3;
    if (a->ndim < 2 || (b->ndim != 2 && !batched)) {
        sx_fail(SX_EINVAL, "matmul: expects [..., M, K] x [K, N] or [B, M, K] x [B, K, N], got %s and %s",
                sx_shape_str(a, sa, sizeof sa), sx_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    int64_t K = a->shape[a->ndim - 1], N = b->shape[b->ndim - 1];
    if (b->shape[b->ndim - 2] != K || (batched && a->shape[0] != b->shape[0])) {
        sx_fail(SX_EINVAL, "matmul: shapes %s and %s do not match (inner sizes %lld and %lld)",
                sx_shape_str(a, sa, sizeof sa), sx_shape_str(b, sb, sizeof sb), (long long)K,
                (long long)b->shape[b->ndim - 2]);
        return NULL;
    }
    int64_t B = batched ? a->shape[0] : 1;
    int64_t M = batched ? a->shape[1] : sx_tensor_numel(a) / (K > 0 ? K : 1);
    if (!batched && K == 0) M = sx_shape_numel(a->ndim - 1, a->shape);

    /* operands as sgemm arguments, copying only when the layout demands */
    sx_tensor *ac = NULL, *bc = NULL;
    gemm_arg ga, gb;
    bool a_flat_ok = batched || a->ndim == 2 || sx_tensor_is_contiguous(a);
    if (!a_flat_ok || !batch_contiguous(a) || !as_gemm_arg(a, &ga)) {
        ac = sx_tensor_copy(a);
        if (!ac) return NULL;
        as_gemm_arg(ac, &ga);
    }
    if (!batch_contiguous(b) || !as_gemm_arg(b, &gb)) {
        bc = sx_tensor_copy(b);
        if (!bc) {
            sx_tensor_free(ac);
            return NULL;
        }
        as_gemm_arg(bc, &gb);
    }
    if (!batched && (ac ? ac : a)->ndim > 2) ga.ld = K > 0 ? K : 1; /* flattened rows */

    int64_t shape[SX_MAX_DIMS];
    int nd = a->ndim;
    memcpy(shape, a->shape, sizeof shape);
    shape[nd - 1] = N;
    /* sgemm with beta 0 writes every element; only K = 0 needs the zeros */
    sx_tensor *o = K > 0 ? sx_tensor_empty(nd, shape) : sx_tensor_zeros(nd, shape);
    if (o && K > 0) {
        float *out = sx_tensor_data(o);
        for (int64_t i = 0; i < B; i++)
            sx_sgemm(ga.trans, gb.trans, M, N, K, 1.0f, ga.p + i * M * K, ga.ld, gb.p + i * K * N, gb.ld, 0.0f,
                     out + i * M * N, N);
    }
    sx_tensor_free(ac);
    sx_tensor_free(bc);
    sx_tensor *in[2] = {a, b};
    sx_record(&o, SX_OP_MATMUL, 2, in);
    return o;
}

sx_status sx_matmul_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *a = n->inputs[0], *b = n->inputs[1];
    bool batched = a->ndim == 3 && b->ndim == 3;
    if (sx_needs_grad(a)) {
        /* ga = g b^T */
        sx_tensor *bt = sx_transpose(b, -1, -2);
        gi[0] = bt ? sx_matmul(g, bt) : NULL;
        sx_tensor_free(bt);
        if (!gi[0]) return sx_last_status();
    }
    if (sx_needs_grad(b)) {
        /* gb = a^T g, with a's leading dims flattened unless batched */
        int64_t K = a->shape[a->ndim - 1], N = g->shape[g->ndim - 1];
        sx_tensor *af = batched ? sx_tensor_retain(a) : sx_reshape(a, 2, (int64_t[]){-1, K});
        sx_tensor *gf = batched ? sx_tensor_retain(g) : sx_reshape(g, 2, (int64_t[]){-1, N});
        sx_tensor *at = af ? sx_transpose(af, -1, -2) : NULL;
        gi[1] = at && gf ? sx_matmul(at, gf) : NULL;
        sx_tensor_free(af);
        sx_tensor_free(gf);
        sx_tensor_free(at);
        if (!gi[1]) return sx_last_status();
    }
    return SX_OK;
}

sx_tensor *sx_linear(sx_tensor *x, sx_tensor *w, sx_tensor *b)
{
    if (!sx_check_arg("linear", 1, x) || !sx_check_arg("linear", 2, w)) return NULL;
    char sx[96], sw[96];
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
        sx_fail(SX_EINVAL, "linear: weight %s does not fit input %s (expects weight [out, in] with in = %lld)",
                sx_shape_str(w, sw, sizeof sw), sx_shape_str(x, sx, sizeof sx),
                (long long)(x->ndim ? x->shape[x->ndim - 1] : 0));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        char sb[96];
        sx_fail(SX_EINVAL, "linear: bias %s does not match weight %s (expects [%lld])",
                sx_shape_str(b, sb, sizeof sb), sx_shape_str(w, sw, sizeof sw), (long long)w->shape[0]);
        return NULL;
    }
    sx_tensor *x2 = x->ndim == 1 ? sx_reshape(x, 2, (int64_t[]){1, x->shape[0]}) : sx_tensor_retain(x);
    sx_tensor *wt = x2 ? sx_transpose(w, 0, 1) : NULL;
    sx_tensor *y = wt ? sx_matmul(x2, wt) : NULL;
    sx_tensor_free(wt);
    sx_tensor_free(x2);
    if (y && b) {
        sx_tensor *yb = sx_add(y, b);
        sx_tensor_free(y);
        y = yb;
    }
    if (y && x->ndim == 1) {
        sx_tensor *y1 = sx_reshape(y, 1, (int64_t[]){w->shape[0]});
        sx_tensor_free(y);
        y = y1;
    }
    return y;
}
