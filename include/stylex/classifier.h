/*
 * stylex/classifier.h — the classifier StylEx explains, as one interface.
 *
 * Training (the KL and perceptual terms), AttFind's effect table, Grad-CAM,
 * the evaluation and the report use a classifier only through this header:
 * logits, named feature maps, what input the network takes, class names.
 * Two implementations ship: the built-in CNN (stylex/cnn.h, a module, wrapped
 * by sx_classifier_from_cnn) and an ONNX graph run on the autograd engine
 * (stylex/onnx.h); a C host may add its own through sx_classifier_new.
 *
 * Images handed to a classifier are the GAN's: [N, C, H, W] in [-1, 1]. The
 * classifier maps them to what its network takes (sx_classifier_prep): when
 * prep.resize allows, the channel count (grey replicated to RGB, RGB averaged
 * to grey) and the size (bilinear, as PyTorch's F.interpolate(align_corners=
 * False)); always the value range and per-channel (v - mean) / std. Every step is a
 * differentiable op, so gradients reach the images.
 *
 * Ownership: classifiers are refcounted; sx_classifier_new and the loaders
 * give one reference, sx_classifier_retain adds one, sx_classifier_free drops
 * one. Strings in the info are owned by the classifier.
 */
#ifndef STYLEX_CLASSIFIER_H
#define STYLEX_CLASSIFIER_H

#include "stylex/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sx_classifier sx_classifier;

/* From the GAN's images to the network's input. */
typedef struct sx_classifier_prep {
    int channels;            /* the network's input channels (1 or 3) */
    int height, width;       /* the network's input size */
    bool resize;             /* other sizes and channel counts are converted; false: refused */
    float range[2];          /* [-1, 1] maps linearly onto [range[0], range[1]] */
    int n_norm;              /* 0, or channels: then v = (v - mean[c]) / std[c] */
    float mean[3], std[3];
} sx_classifier_prep;

typedef struct sx_classifier_info {
    const char *kind;        /* "cnn", "onnx", or the host's name; static */
    int n_classes;
    char **class_names;      /* [n_classes] */
    sx_classifier_prep prep;
    int n_layers;
    char **layers;           /* [n_layers] every feature map one may ask for, in graph order */
    int n_perceptual;
    char **perceptual;       /* [n_perceptual] the layers of the perceptual distance */
    char *gradcam_layer;     /* Grad-CAM's default layer (a 4-d map) */
    char *penultimate;       /* the features of the Fréchet distance ([N, D] or a map) */
} sx_classifier_info;

/* What an implementation provides. run: x is the network's own input
 * [N, prep.channels, prep.height, prep.width] (already prepared); it returns
 * new references in *logits ([N, n_classes]) and in maps[k] for each of the
 * n names (each one of info.layers or info.penultimate), eval mode, recorded
 * for autograd when grad mode is on. On failure the outputs are NULL. */
typedef struct sx_classifier_vtable {
    const char *kind;
    sx_status (*run)(void *impl, sx_tensor *x, int n, const char *const *names, sx_tensor **maps,
                     sx_tensor **logits);
    void (*free_impl)(void *impl);
    /* the trainable tensors (for freezing), or NULL when there are none: fills
     * out with borrowed pointers, at most cap; returns how many there are */
    int (*parameters)(void *impl, sx_tensor **out, int cap);
} sx_classifier_vtable;

/* A classifier over impl. Steals impl (freed with vt->free_impl, also on
 * failure) and the contents of *info (its strings; *info is zeroed). Checks
 * the info: n_classes >= 2, prep fields in range, the named layers listed. */
sx_classifier *sx_classifier_new(const sx_classifier_vtable *vt, void *impl, sx_classifier_info *info);
sx_classifier *sx_classifier_retain(sx_classifier *c);
void sx_classifier_free(sx_classifier *c);
/* Frees the strings of an info that was not handed to sx_classifier_new. */
void sx_classifier_info_clear(sx_classifier_info *info);

/* Borrowed; valid while c lives. */
const sx_classifier_info *sx_classifier_info_of(const sx_classifier *c);

/* SX_OK if images [N, channels, h, w] can be given to c; else SX_EINVAL with
 * "<fn>: <what> are [N, c, h, w], expected [N, C, H, W] (the classifier's input)". */
sx_status sx_classifier_accepts(const sx_classifier *c, const char *fn, const char *what, int channels, int h, int w);

/* The prepared network input of GAN images x ([-1, 1]); differentiable. */
sx_tensor *sx_classifier_prepare(const sx_classifier *c, sx_tensor *x);

/* Logits [N, n_classes] of GAN images x. */
sx_tensor *sx_classifier_logits(sx_classifier *c, sx_tensor *x);

/* Logits and the maps of n named layers (new references; logits may be NULL
 * when not wanted). An unknown name is SX_EINVAL naming it and the layers. */
sx_status sx_classifier_forward(sx_classifier *c, sx_tensor *x, int n, const char *const *names, sx_tensor **maps,
                                sx_tensor **logits);

/* The StylEx perceptual distance on info.perceptual (the LPIPS recipe on the
 * classifier's own features): per layer, features unit-normalised over
 * channels, squared difference summed over channels, mean over space; summed
 * over layers. a, b [N, C, H, W] -> [N], differentiable. */
sx_tensor *sx_classifier_perceptual(sx_classifier *c, sx_tensor *a, sx_tensor *b);

/* Turns grad on or off for every trainable tensor (the built-in CNN's
 * parameters; an ONNX graph has none). */
void sx_classifier_set_requires_grad(sx_classifier *c, bool on);
/* The trainable tensors, borrowed (at most cap written; out may be NULL
 * with cap 0); returns how many there are. */
int sx_classifier_parameters(sx_classifier *c, sx_tensor **out, int cap);

/* The built-in CNN as a classifier (retains m, a "Classifier" module of
 * stylex/cnn.h). Layers: "block0" .. "block<B-1>" (each block's last ReLU map,
 * before pooling; all of them are the perceptual layers, the last one
 * Grad-CAM's) and "penultimate" [N, hidden]. class_names NULL gives "0",
 * "1", ...; else n_classes strings, copied. The input range is [-1, 1], no
 * resize. */
sx_classifier *sx_classifier_from_cnn(sx_module *m, const char *const *class_names);
/* The CNN module behind c (borrowed), or NULL for another kind. */
sx_module *sx_classifier_module(const sx_classifier *c);

/* Bilinear resize of x [N, C, H, W] to [N, C, h, w], pixel centres aligned
 * (PyTorch's F.interpolate(mode="bilinear", align_corners=False) without
 * antialiasing); two matmuls, differentiable. */
sx_tensor *sx_resize_bilinear(sx_tensor *x, int h, int w);

#ifdef __cplusplus
}
#endif
#endif
