/* tests/fuzz/fuzz_json.c — libFuzzer target: the JSON pull reader (a whole
 * value skipped, then the end) and the model-config readers built on it
 * (sx_cnn_config_from_json, sx_stylex_config_from_json), on any bytes. */
#include "fuzz_common.h"
#include "stylex/json.h"
#include "stylex/model_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sx_json_reader r;
    sx_json_init(&r, (const char *)data, size);
    if (sx_json_skip(&r)) sx_json_end(&r);
    /* the config readers take a NUL-terminated string */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sx_cnn_config cc;
    fuzz_check_refusal(sx_cnn_config_from_json(text, &cc));
    sx_stylegan_config gc;
    fuzz_check_refusal(sx_stylex_config_from_json(text, &gc));
    free(text);
    return 0;
}
