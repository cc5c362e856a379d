/*
 * tests/c/test_dist.c — include/stylex/dist.h in a process started without
 * mpirun: one rank, collectives that leave tensors as they are, argument
 * errors, the hash. The 2-rank behaviour is tested by tests/dist (make test-dist).
 */
#include <string.h>

#include "check.h"
#include "stylex.h"


static void test_one_rank(void)
{
    CHECK_OK(sx_dist_init());
    CHECK_OK(sx_dist_init()); /* idempotent */
    CHECK(sx_dist_rank() == 0 && sx_dist_size() == 1);
    float v[3] = {1, 2, 3};
    sx_tensor *a = sx_tensor_from_data(1, (int64_t[]){3}, v);
    for (int op = SX_DIST_SUM; op <= SX_DIST_MIN; op++) CHECK_OK(sx_dist_allreduce(&a, 1, (sx_dist_op)op));
    CHECK(memcmp(sx_tensor_data(a), v, sizeof v) == 0);
    CHECK_OK(sx_dist_broadcast(&a, 1, 0));
    CHECK_OK(sx_dist_barrier());
    sx_tensor *g = sx_dist_allgather(a);
    CHECK(g && g != a && sx_tensor_same_shape(g, a) && memcmp(sx_tensor_data(g), v, sizeof v) == 0);
    CHECK_OK(sx_dist_check_equal(&a, 1, "a"));
    CHECK(sx_dist_bytes() == 0);
    sx_tensor_free(g);
    sx_tensor_free(a);
}

static void test_errors(void)
{
    sx_tensor *a = sx_tensor_zeros(2, (int64_t[]){2, 3});
    sx_tensor *t = sx_transpose(a, 0, 1);
    CHECK(sx_dist_allreduce(&t, 1, SX_DIST_SUM) == SX_EINVAL && has(sx_last_error(), "not contiguous"));
    CHECK(sx_dist_allreduce(&a, 1, (sx_dist_op)9) == SX_EINVAL && has(sx_last_error(), "unknown op"));
    sx_tensor *none = NULL;
    CHECK(sx_dist_allreduce(&none, 1, SX_DIST_SUM) == SX_EINVAL && has(sx_last_error(), "NULL"));
    CHECK(sx_dist_broadcast(&a, 1, 1) == SX_EINVAL && has(sx_last_error(), "root 1"));
    CHECK(sx_dist_allgather(NULL) == NULL && has(sx_last_error(), "NULL"));
    sx_tensor *s = sx_tensor_scalar(1);
    CHECK(sx_dist_allgather(s) == NULL && has(sx_last_error(), "0-d"));
    sx_tensor_free(s);
    sx_tensor_free(t);
    sx_tensor_free(a);
}

static void test_hash(void)
{
    sx_tensor *a = sx_tensor_from_data(1, (int64_t[]){2}, (float[]){1, 2});
    sx_tensor *b = sx_tensor_from_data(1, (int64_t[]){2}, (float[]){1, 2});
    sx_tensor *c = sx_tensor_from_data(1, (int64_t[]){2}, (float[]){1, 2.0000002f});
    CHECK(sx_dist_hash(&a, 1) == sx_dist_hash(&b, 1));
    CHECK(sx_dist_hash(&a, 1) != sx_dist_hash(&c, 1));
    sx_tensor *ab[2] = {a, c}, *ba[2] = {c, a};
    CHECK(sx_dist_hash(ab, 2) != sx_dist_hash(ba, 2));
    sx_tensor_free(a);
    sx_tensor_free(b);
    sx_tensor_free(c);
}

int main(void)
{
    RUN(test_one_rank);
    RUN(test_errors);
    RUN(test_hash);
    sx_dist_finalize();
    return check_summary("test_dist");
}
