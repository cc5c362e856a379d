/* tests/fuzz/fuzz_idx.c — libFuzzer target: sx_idx_read on any bytes (plain; gzip'd when they start with 1f 8b). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".idx");
    sx_tensor *t = NULL;
    sx_status st = sx_idx_read(path, &t);
    fuzz_check_refusal(st);
    if (st == SX_OK) {
        if (!t || sx_tensor_numel(t) < 0) abort();
        sx_tensor_free(t);
    } else if (t) {
        abort();
    }
    return 0;
}
