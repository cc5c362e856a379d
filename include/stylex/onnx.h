/*
 * stylex/onnx.h — ONNX classifiers, run on stylex's autograd engine.
 *
 * sx_onnx_load parses a .onnx file with protobuf-c and the ONNX schema that
 * Debian's libonnx-dev ships (compiled by protoc-c at build time), and turns
 * its graph into a classifier (stylex/classifier.h) whose forward is made of
 * stylex's differentiable ops, so the StylEx losses and Grad-CAM get
 * gradients through it. The weights are constants (they require no grad).
 *
 * What is accepted: opsets 11 to 17 of the default domain; one float input
 * [N, C, H, W] with C (1 or 3), H, W fixed and at most 1024 (N may be
 * symbolic); no value larger than 32 Mi floats per image; the first output
 * [N, K], the logits, K >= 2. Operators: Conv (groups, strides, pads,
 * auto_pad; dilation 1), Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu,
 * Sigmoid, Tanh, Clip, MaxPool, AveragePool, GlobalAveragePool,
 * BatchNormalization (inference), Flatten, Reshape, Concat,
 * Softmax, Pad (constant), Resize (nearest, linear), Constant, Identity,
 * Dropout, ReduceMean, and the shape arithmetic torch.onnx writes for
 * F.pad and x.view(x.size(0), -1): Shape, Gather, Unsqueeze, Squeeze,
 * ConstantOfShape, Slice, Transpose, Cast (integers travel as float tensors,
 * exact up to 2^24). Anything else is refused at load with a message naming the
 * operator and the node; the whole graph is also run once at load on zeros,
 * so a shape error is found then and names its node.
 *
 * Layers: every 4-d value the graph computes, by its ONNX name (torch.onnx
 * names them like "/layer2/Relu_1_output_0"). Defaults, each overridable:
 * the perceptual layers are, for each spatial size larger than 1x1, the last
 * activation (Relu, Clip, LeakyRelu, Sigmoid, Tanh) output of that size;
 * Grad-CAM's layer is the last of them; the penultimate features are the
 * input of the last Gemm/MatMul (else the logits).
 *
 * Preprocessing (the GAN's [-1, 1] images to the network's input) and class
 * names come from the options below, over a sidecar JSON file
 * (<model>.json beside <model>.onnx, if it exists):
 *   {"class_names": ["cat", "dog"], "range": [0, 1], "mean": [0.485, 0.456, 0.406],
 *    "std": [0.229, 0.224, 0.225], "resize": true, "perceptual": ["..."],
 *    "gradcam_layer": "...", "penultimate": "..."}
 * Without either: range [0, 1] (torchvision's ToTensor), no mean/std, resize
 * on, class names "0", "1", ... Unknown keys are an error.
 */
#ifndef STYLEX_ONNX_H
#define STYLEX_ONNX_H

#include "stylex/classifier.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options; start from {0}. Each set field overrides the sidecar's. Strings
 * are borrowed (copied by the load). */
typedef struct sx_onnx_opts {
    const char *sidecar;                /* NULL: <path minus .onnx>.json if it exists; "": none */
    int n_class_names;                  /* 0 = unset */
    const char *const *class_names;
    bool set_range;
    float range[2];
    int n_norm;                         /* 0 = unset; else mean/std per channel */
    float mean[3], std[3];
    int resize;                         /* 0 unset, 1 resize other sizes, -1 refuse them */
    int n_perceptual;                   /* 0 = unset */
    const char *const *perceptual;
    const char *gradcam_layer;          /* NULL = unset */
    const char *penultimate;            /* NULL = unset */
} sx_onnx_opts;

/* Loads path into *out (a new classifier). opts may be NULL. A file that is
 * not ONNX or is truncated: SX_EFORMAT; an unsupported operator or opset, an
 * input shape that is dynamic or not [N, C, H, W], a bad sidecar: SX_EINVAL;
 * a file that cannot be read: SX_EIO; each with one line naming the file and
 * the cause. */
sx_status sx_onnx_load(const char *path, const sx_onnx_opts *opts, sx_classifier **out);

#ifdef __cplusplus
}
#endif
#endif
