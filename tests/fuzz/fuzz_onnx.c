/* tests/fuzz/fuzz_onnx.c — libFuzzer target: sx_onnx_load on any bytes (no
 * sidecar); a model that loads runs once on zeros of its input size, with
 * its Grad-CAM layer. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".onnx");
    sx_onnx_opts o = {.sidecar = ""};
    sx_classifier *C = NULL;
    sx_status s = sx_onnx_load(path, &o, &C);
    fuzz_check_refusal(s);
    if (s != SX_OK) {
        if (C) abort();
        return 0;
    }
    const sx_classifier_info *in = sx_classifier_info_of(C);
    if (!C || !in) abort();
    /* a tiny batch only: a fuzzed graph may be wide */
    if ((int64_t)in->prep.channels * in->prep.height * in->prep.width <= (1 << 16)) {
        sx_tensor *x = sx_tensor_zeros(4, (int64_t[]){1, in->prep.channels, in->prep.height, in->prep.width});
        const char *names[1] = {in->gradcam_layer};
        sx_tensor *map = NULL, *logits = NULL;
        fuzz_check_refusal(sx_classifier_forward(C, x, in->gradcam_layer ? 1 : 0, names, &map, &logits));
        sx_tensor_free(map);
        sx_tensor_free(logits);
        sx_tensor_free(x);
    }
    sx_classifier_free(C);
    return 0;
}
