/*
 * stylex.h — the whole C API of stylex: tensors, autograd, ops, layers and
 * optimisers, file formats, models and the files they are shipped in.
 * See docs/c-api.md. Everything is prefixed sx_; functions return a status
 * (sx_status) or a new reference / NULL, with sx_last_error() saying why.
 */
#ifndef STYLEX_H
#define STYLEX_H

#include "stylex/tensor.h"
#include "stylex/autograd.h"
#include "stylex/ops.h"
#include "stylex/nn.h"
#include "stylex/io.h"
#include "stylex/json.h"
#include "stylex/image.h"
#include "stylex/cnn.h"
#include "stylex/classifier.h"
#include "stylex/onnx.h"
#include "stylex/stylegan.h"
#include "stylex/attfind.h"
#include "stylex/metrics.h"
#include "stylex/model_file.h"
#include "stylex/shapes.h"
#include "stylex/dist.h"

#endif
