/* tests/fuzz/fuzz_png.c — libFuzzer target: sx_png_read on any bytes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".png");
    sx_tensor *t = NULL;
    sx_status st = sx_png_read(path, &t);
    fuzz_check_tensor(st, t, t && t->ndim == 3);
    return 0;
}
