/* tests/fuzz/fuzz_safetensors.c — libFuzzer target: sx_safetensors_load and
 * _load_header on any bytes; what loads can be looked up by name. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".safetensors");
    for (int header_only = 0; header_only < 2; header_only++) {
        sx_safetensors *st = NULL;
        sx_status s = header_only ? sx_safetensors_load_header(path, &st) : sx_safetensors_load(path, &st);
        fuzz_check_refusal(s);
        if (s == SX_OK) {
            if (!st) abort();
            sx_safetensors_get(st, "x");
            sx_safetensors_free(st);
        } else if (st) {
            abort();
        }
    }
    return 0;
}
