/*
 * stylex/image.h — pictures for reports and for users' own data: resizing,
 * value-range mapping, text in a small built-in bitmap font, and grids of
 * captioned cells (the counterfactual figures). PNG files themselves are
 * read and written by stylex/io.h.
 *
 * None of these functions is differentiable: results are new tensors with no
 * graph, whatever the inputs. Inputs may have any strides. Returned tensors
 * are new references (free them with sx_tensor_free) or NULL with the error
 * set (sx_last_error(), messages start with the function's name without the
 * sx_ prefix, e.g. "image_grid: ...").
 *
 * The font: printable ASCII (0x20..0x7E) drawn on a 5x8 pixel grid (capitals
 * and digits 7 rows high, descenders in the 8th), advancing 6 pixels per
 * character, 9 pixels per line, times `scale`. Any other character (one per
 * UTF-8 sequence; tabs included) is drawn as a box; '\r' is ignored and '\n'
 * starts a new line under the first.
 */
#ifndef STYLEX_IMAGE_H
#define STYLEX_IMAGE_H

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest image side the resampling functions accept or produce. */
#define SX_IMAGE_MAX_SIDE ((int64_t)1 << 24)
/* Largest text scale. */
#define SX_IMAGE_MAX_TEXT_SCALE 64

/* Font metrics, in unscaled pixels. */
#define SX_FONT_GLYPH_W 5  /* ink columns of a glyph */
#define SX_FONT_GLYPH_H 8  /* ink rows of a glyph (the last for descenders) */
#define SX_FONT_ADVANCE 6  /* horizontal step from one character to the next */
#define SX_FONT_LINE 9     /* vertical step from one line to the next */

/*
 * x is [C, h, w] or [N, C, h, w]; returns the same layout at H x W. Each axis
 * is resampled on its own (the filters are separable):
 *   - shrinking (H < h): area averaging. Output row i covers the source
 *     interval [i*h/H, (i+1)*h/H) and is the mean of the source rows over it,
 *     weighted by how much of each lies inside, so a 2x shrink is the exact
 *     mean of each 2x2 block and a constant image stays constant;
 *   - enlarging (H > h): bilinear interpolation between pixel centres
 *     (half-pixel alignment: source coordinate (i + 0.5)*h/H - 0.5, clamped
 *     at the borders);
 *   - equal sizes: a copy.
 * Sides are 1..SX_IMAGE_MAX_SIDE. Sums are taken in double precision.
 */
sx_tensor *sx_image_resize(const sx_tensor *x, int64_t H, int64_t W);

/* Nearest-neighbour upscale by an integer factor k >= 1 (each pixel becomes
 * a k x k block) of a [C, h, w] or [N, C, h, w] tensor. */
sx_tensor *sx_image_upscale(const sx_tensor *x, int k);

/* (x - lo) / (hi - lo) clamped to [0, 1], any shape; NaN becomes 0. lo and
 * hi must be finite and different (hi < lo inverts). */
sx_tensor *sx_image_to_unit(const sx_tensor *x, float lo, float hi);

/*
 * Draws text into img ([C, H, W], modified in place; must not require grad)
 * with its top-left corner at pixel (x, y), 0-based column and row, in the
 * built-in font magnified by scale (1..SX_IMAGE_MAX_TEXT_SCALE). Ink pixels
 * get color[c] in channel c (color has C entries); other pixels are left
 * alone. Text falling outside the image is clipped; x and y may be negative.
 * Nothing is written outside the text's box (sx_image_text_width x
 * sx_image_text_height from (x, y)).
 */
sx_status sx_image_draw_text(sx_tensor *img, int64_t x, int64_t y, const char *text, const float *color,
                             int scale);

/* Width in pixels of the widest line of text: (6*chars - 1)*scale, 0 for no
 * characters. Height: (9*lines - 1)*scale, lines = 1 + number of '\n', and 0
 * for "". Both are 0 for NULL text or a scale below 1. */
int64_t sx_image_text_width(const char *text, int scale);
int64_t sx_image_text_height(const char *text, int scale);

/*
 * Lays n images out in rows of ncol cells and returns one [C, H', W'] image
 * filled with pad_value between and around the cells.
 *
 *   images    [n] tensors [C_i, h_i, w_i], borrowed. Either all C_i are equal
 *             (then C = C_i) or each is 1 or 3 (then C = 3 and grey images
 *             are repeated into the three channels).
 *   ncol      cells per row; <= 0 means ceil(sqrt(n)); more than n means n.
 *   pad       pixels between cells and around the border (0..65536).
 *   captions  NULL, or [n] strings (NULL or "" for none), each drawn under
 *             its cell; lines separated by '\n'.
 *   text_color  C values for the captions' ink, or NULL: 1 where pad_value
 *             is below 0.5, else 0 (for images in [0, 1]).
 *   text_scale  font magnification (1..SX_IMAGE_MAX_TEXT_SCALE).
 *
 * Layout: every cell is CW x CH with CW = max(max w_i, widest caption) and
 * CH = max h_i; an image is centred in its cell, the rest of the cell is
 * pad_value. If any caption has text, every cell gets a strip of
 * S = tallest caption height + 2*text_scale rows under it, holding its
 * caption text_scale rows below the cell, centred as a block (its lines left
 * aligned). Rows = ceil(n / ncol);
 *   W' = pad + ncol * (CW + pad),   H' = pad + rows * (CH + S + pad).
 */
sx_tensor *sx_image_grid(int n, const sx_tensor *const *images, int ncol, int pad, float pad_value,
                         const char *const *captions, const float *text_color, int text_scale);

#ifdef __cplusplus
}
#endif
#endif
