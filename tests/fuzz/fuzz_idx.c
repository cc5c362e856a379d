/* tests/fuzz/fuzz_idx.c — libFuzzer target: sx_idx_read on any bytes (plain; gzip'd when they start with 1f 8b). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".idx");
    sx_tensor *t = NULL;
    sx_status st = sx_idx_read(path, &t);
    fuzz_check_tensor(st, t, t && sx_tensor_numel(t) >= 0);
    return 0;
}
