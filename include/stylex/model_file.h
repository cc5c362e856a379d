/*
 * stylex/model_file.h — loading the model files the training scripts write,
 * so that a C host can use a shipped model without Lua:
 *
 *   models/<preset>/classifier.safetensors   metadata format "stylex-classifier-1",
 *       config = the sx.models.Classifier options as JSON ({"n_classes": 2,
 *       "channels": [32, 64, 128], ...}), tensors = the classifier's state
 *       dict (block0.conv0.weight, ..., out.bias);
 *   models/<preset>/stylex.safetensors       metadata format "stylex-model-1",
 *       config = the training config as JSON (lua/stylex/trainer.lua), tensors
 *       "G.<name>" (the EMA generator) and "E.<name>" (the encoder), and
 *       classifier = the path of its classifier, as given to the training
 *       script (relative to the directory training ran in).
 * A training checkpoint (format "stylex-training-1", tensors "G_ema.<name>",
 * "E.<name>", ...) loads through sx_stylex_load too.
 *
 * The JSON configs are read over the config descriptors the Lua options use
 * (stylex/config.h): the keys of sx.models.Classifier{...}; for StylEx, the
 * keys of sx.models.stylegan_config{...} found in the training config (the
 * training scripts write resolution, img_channels, z_dim, w_dim,
 * mapping_layers, channels and n_classes; n_classes is 0 when "baseline" is
 * true), the training hyper-parameters skipped; absent keys take the
 * library defaults.
 *
 * Loading builds the network from the config (the global RNG state is saved
 * and restored around it, so loading does not change a run's random stream),
 * then copies the tensors in by name, strictly: a missing, unexpected or
 * mis-shaped tensor fails. Failures: SX_EIO (the file cannot be read),
 * SX_EFORMAT (corrupt file, wrong format, bad config, tensors that do not
 * match the config), SX_EINVAL (NULL arguments), SX_ENOMEM; the message names
 * the function and the file ("classifier_load: x.safetensors: ...").
 *
 * Ownership: modules come back as new references (sx_module_free) and are
 * NULL on failure; a meta struct is overwritten (clear it first if it held
 * entries) and emptied on failure; its strings are owned by it.
 */
#ifndef STYLEX_MODEL_FILE_H
#define STYLEX_MODEL_FILE_H

#include "stylex/cnn.h"
#include "stylex/onnx.h"
#include "stylex/stylegan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SX_CLASSIFIER_FORMAT "stylex-classifier-1"
#define SX_STYLEX_FORMAT "stylex-model-1"
#define SX_STYLEX_TRAINING_FORMAT "stylex-training-1"

/* A file's string metadata (the safetensors "__metadata__"), copied. */
typedef struct sx_model_meta {
    int n;         /* entries */
    char **keys;   /* [n], in the file's order; owned */
    char **values; /* [n]; owned */
} sx_model_meta;

/* The value for key (borrowed, valid until sx_model_meta_clear), or NULL
 * (no error set). */
const char *sx_model_meta_get(const sx_model_meta *meta, const char *key);
/* Frees the entries; meta is {0} afterwards. NULL and {0} are fine. */
void sx_model_meta_clear(sx_model_meta *meta);

/* The classifier config of a "config" JSON object (the keys of
 * sx.models.Classifier: n_classes (required), resolution, img_channels,
 * channels, n_blocks, convs_per_block, hidden, dropout; absent keys take
 * sx_cnn_default_config's values; an unknown key is an error); the
 * result passed sx_cnn_config_check. SX_EINVAL with the reason
 * ("at byte 12: ...", "'n_classes' = 1, expected an integer in 2..100000"). */
sx_status sx_cnn_config_from_json(const char *json, sx_cnn_config *out);
/* The network config of a StylEx training "config" JSON object (see above);
 * the result passed sx_stylegan_config_check. SX_EINVAL with the reason. */
sx_status sx_stylex_config_from_json(const char *json, sx_stylegan_config *out);

/*
 * Reads a classifier file (format "stylex-classifier-1") into *out, a new
 * Classifier module whose parameters require grad (as sx_cnn_new's
 * do: turn grad mode off for inference, or their flags off to freeze it).
 * meta: NULL, or filled with the file's metadata (dataset, classes,
 * class_names, test_accuracy, ...).
 */
sx_status sx_cnn_load(const char *path, sx_module **out, sx_model_meta *meta);

/*
 * Any classifier file, as the classifier interface (stylex/classifier.h):
 * a path ending in ".onnx" goes to sx_onnx_load (opts: its options, may be
 * NULL; meta gets nothing), anything else is a built-in CNN file
 * (sx_cnn_load; opts must be NULL or {0}), wrapped with the class names of
 * its metadata (the JSON list in "class_names"). The CNN's parameters are
 * frozen (requires_grad off); gradients still reach the images.
 */
sx_status sx_classifier_load(const char *path, const sx_onnx_opts *opts, sx_classifier **out, sx_model_meta *meta);

/*
 * Reads a StylEx model file (format "stylex-model-1", or a training
 * checkpoint "stylex-training-1") into *G (a Generator: the EMA weights) and
 * *E (an Encoder), new references whose parameters do not require grad.
 * G or E may be NULL to skip building that network. meta: NULL, or filled
 * with the file's metadata (config, step, classifier, classes, ...). On
 * failure neither is returned.
 */
sx_status sx_stylex_load(const char *path, sx_module **G, sx_module **E, sx_model_meta *meta);

#ifdef __cplusplus
}
#endif
#endif
