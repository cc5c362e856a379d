/*
 * tests/c/test_io.c — the file formats (lib/io): IDX, PNG and safetensors.
 *
 * Valid files round-trip exactly; every kind of damage the readers promise to
 * catch (truncation, trailing bytes, bad magic, bad CRC, header lengths past
 * the end, overlapping / overrunning / gapped offsets, malformed JSON, ...)
 * gives the right status and a message naming the file; random damage never
 * crashes (run under `make asan` to catch out-of-bounds reads); and a save
 * that fails or is killed part way leaves the previous file intact. The real
 * Fashion-MNIST test set is read when the Debian package is installed.
 */
#include <dirent.h>
#include <png.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"


static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    if (!g) return;
    if (n) gzwrite(g, data, (unsigned)n);
    gzclose(g);
}

/* A deterministic byte generator for the damage tests. */
static uint32_t rng_state = 12345;
static uint32_t next_rand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* ================================================================ IDX */

/* An IDX image file: magic 0x00000803, n images of h x w, pixel i = i % 251. */
static size_t make_idx(unsigned char *buf, int n, int h, int w, int extra)
{
    unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, (unsigned char)h,
                             0, 0, 0, (unsigned char)w};
    memcpy(buf, hdr, 16);
    size_t len = 16 + (size_t)(n * h * w + extra);
    for (size_t i = 16; i < len; i++) buf[i] = (unsigned char)((i - 16) % 251);
    return len;
}

static void test_idx_valid(void)
{
    unsigned char buf[256];
    size_t n = make_idx(buf, 2, 3, 3, 0);
    const char *gz = tmp_path("ok-idx3.gz"), *raw = tmp_path("ok-idx3");
    write_gz(gz, buf, n);
    write_bytes(raw, buf, n);
    for (int k = 0; k < 2; k++) {
        sx_tensor *t = NULL;
        CHECK_OK(sx_idx_read(k ? raw : gz, &t));
        if (!t) continue;
        CHECK(t->ndim == 3 && t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 3);
        const float *d = sx_tensor_data(t);
        CHECK(d[0] == 0.0f && d[17] == 17.0f);
        sx_tensor_free(t);
    }

    /* other element types: int16 and float32, big-endian */
    unsigned char s16[] = {0, 0, 0x0B, 1, 0, 0, 0, 3, 0xFF, 0xFE, 0x01, 0x00, 0x7F, 0xFF};
    write_gz(tmp_path("s16.gz"), s16, sizeof s16);
    sx_tensor *t = NULL;
    CHECK_OK(sx_idx_read(tmp_path("s16.gz"), &t));
    if (t) {
        const float *d = sx_tensor_data(t);
        CHECK(t->ndim == 1 && t->shape[0] == 3 && d[0] == -2.0f && d[1] == 256.0f && d[2] == 32767.0f);
        sx_tensor_free(t);
    }
    unsigned char f32[] = {0, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0x3F, 0xC0, 0, 0}; /* 1.5 */
    write_bytes(tmp_path("f32.idx"), f32, sizeof f32);
    CHECK_OK(sx_idx_read(tmp_path("f32.idx"), &t));
    if (t) {
        CHECK(t->ndim == 2 && sx_tensor_data(t)[0] == 1.5f);
        sx_tensor_free(t);
    }
}

static void expect_idx_error(const char *path, sx_status want, const char *needle)
{
    sx_tensor *t = (sx_tensor *)&t;
    sx_status st = sx_idx_read(path, &t);
    CHECK_MSG(st == want, "%s: status %d, want %d (%s)", path, st, want, sx_last_error());
    CHECK(t == NULL);
    CHECK_MSG(has(sx_last_error(), path) && has(sx_last_error(), needle), "'%s' lacks '%s'", sx_last_error(),
              needle);
}

static void test_idx_truncated(void)
{
    unsigned char buf[256];
    size_t n = make_idx(buf, 2, 3, 3, 0);
    const char *p = tmp_path("short-idx3.gz");
    write_gz(p, buf, n - 1);
    expect_idx_error(p, SX_EFORMAT, "truncated");
    expect_idx_error(p, SX_EFORMAT, "18 data bytes");
    expect_idx_error(p, SX_EFORMAT, "found 17");
    expect_idx_error(p, SX_EFORMAT, "[2, 3, 3]");

    write_gz(p, buf, 2);
    expect_idx_error(p, SX_EFORMAT, "truncated header");
    write_gz(p, buf, 10); /* magic says 3 dims, only 1.5 sizes present */
    expect_idx_error(p, SX_EFORMAT, "3 dimension sizes");
    write_gz(p, buf, 0);
    expect_idx_error(p, SX_EFORMAT, "truncated header");

    /* the compressed stream itself cut short */
    unsigned char big[4096 + 16];
    unsigned char hdr[12] = {0, 0, 8, 2, 0, 0, 0, 64, 0, 0, 0, 64};
    memcpy(big, hdr, 12);
    for (int i = 12; i < 4096 + 12; i++) big[i] = (unsigned char)next_rand();
    write_gz(p, big, 4096 + 12);
    size_t gn;
    unsigned char *gzb = read_bytes(p, &gn);
    write_bytes(p, gzb, gn / 2);
    sx_tensor *t = NULL;
    CHECK(sx_idx_read(p, &t) == SX_EFORMAT && t == NULL);
    CHECK(has(sx_last_error(), p));
    free(gzb);
}

static void test_idx_trailing(void)
{
    unsigned char buf[256];
    size_t n = make_idx(buf, 2, 3, 3, 5);
    const char *p = tmp_path("long-idx3.gz");
    write_gz(p, buf, n);
    expect_idx_error(p, SX_EFORMAT, "5 bytes of trailing data");
}

static void test_idx_bad_magic(void)
{
    unsigned char buf[256];
    size_t n = make_idx(buf, 2, 3, 3, 0);
    const char *p = tmp_path("magic.gz");
    /* one header byte changed at a time (the others as made) */
    struct { int at; unsigned char v; const char *msg; } bad[] = {
        {0, 1, "bad magic number 0x01000803"},
        {2, 0x07, "bad magic"}, /* no such element type */
        {3, 0, "0 dimensions"},
        {3, 9, "9 dimensions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned char was = buf[bad[i].at];
        buf[bad[i].at] = bad[i].v;
        write_gz(p, buf, n);
        expect_idx_error(p, SX_EFORMAT, bad[i].msg);
        buf[bad[i].at] = was;
    }
}

static void test_idx_wrong_counts(void)
{
    unsigned char buf[256];
    size_t n = make_idx(buf, 2, 3, 3, 0);
    const char *p = tmp_path("counts.gz");
    buf[7] = 3; /* claims 3 images, holds 2 */
    write_gz(p, buf, n);
    expect_idx_error(p, SX_EFORMAT, "27 data bytes");
    buf[7] = 1; /* claims 1 image, holds 2 */
    write_gz(p, buf, n);
    expect_idx_error(p, SX_EFORMAT, "9 bytes of trailing data");
    /* an absurd shape is refused from the header, before any allocation */
    unsigned char huge[16] = {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 1, 0};
    write_gz(p, huge, sizeof huge);
    expect_idx_error(p, SX_EFORMAT, "absurd shape");
    /* large but representable: refused as truncated without allocating 4 GiB */
    unsigned char large[16] = {0, 0, 8, 3, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0}; /* [65536, 256, 256] */
    write_gz(p, large, sizeof large);
    expect_idx_error(p, SX_EFORMAT, "found 0 bytes");
}

static void test_idx_missing(void)
{
    const char *p = tmp_path("no-such-file.gz");
    expect_idx_error(p, SX_EIO, "No such file");
    sx_tensor *t;
    CHECK(sx_idx_read(NULL, &t) == SX_EINVAL);
    CHECK(sx_idx_read(p, NULL) == SX_EINVAL);
}

static void test_idx_damage_never_crashes(void)
{
    unsigned char buf[256];
    size_t n = make_idx(buf, 2, 5, 5, 0);
    const char *p = tmp_path("damaged.gz");
    write_gz(p, buf, n);
    size_t gn;
    unsigned char *good = read_bytes(p, &gn);
    int ok = 0, failed = 0;
    for (int trial = 0; trial < 300; trial++) {
        unsigned char copy[512];
        memcpy(copy, good, gn);
        size_t len = gn;
        if (trial % 3 == 0)
            len = next_rand() % gn;
        else
            for (int k = 0; k < 1 + trial % 4; k++) copy[next_rand() % gn] ^= (unsigned char)(1 + next_rand() % 255);
        write_bytes(p, copy, len);
        sx_tensor *t = NULL;
        sx_status st = sx_idx_read(p, &t);
        if (st == SX_OK) {
            ok++;
            CHECK(t != NULL);
        } else {
            failed++;
            CHECK(t == NULL && (st == SX_EFORMAT || st == SX_EIO) && sx_last_error()[0]);
        }
        sx_tensor_free(t);
    }
    CHECK(failed > 200);
    free(good);
}

static void test_fashion_mnist(void)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char lab[256], img[256];
    snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte.gz", dir);
    snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz", dir);
    if (access(lab, R_OK) != 0 || access(img, R_OK) != 0) {
        printf("skip test_fashion_mnist: %s not installed (Debian package dataset-fashion-mnist)\n", dir);
        return;
    }
    sx_tensor *y = NULL, *x = NULL;
    CHECK_OK(sx_idx_read(lab, &y));
    CHECK_OK(sx_idx_read(img, &x));
    if (y) {
        CHECK(y->ndim == 1 && y->shape[0] == 10000);
        int counts[10] = {0}, bad = 0;
        const float *d = sx_tensor_data(y);
        for (int i = 0; i < 10000; i++) {
            int c = (int)d[i];
            if (c < 0 || c > 9 || (float)c != d[i])
                bad++;
            else
                counts[c]++;
        }
        CHECK(bad == 0);
        for (int c = 0; c < 10; c++) CHECK_MSG(counts[c] == 1000, "class %d: %d", c, counts[c]);
    }
    if (x) {
        CHECK(x->ndim == 3 && x->shape[0] == 10000 && x->shape[1] == 28 && x->shape[2] == 28);
        const float *d = sx_tensor_data(x);
        float lo = 1e9f, hi = -1e9f;
        for (int64_t i = 0; i < sx_tensor_numel(x); i++) {
            if (d[i] < lo) lo = d[i];
            if (d[i] > hi) hi = d[i];
        }
        CHECK(lo == 0.0f && hi == 255.0f);
    }
    sx_tensor_free(x);
    sx_tensor_free(y);
}

/* ================================================================ PNG */

/* Writes a PNG with libpng directly, for the reader's colour types. */
static bool raw_png(const char *path, int w, int h, int color, int depth, bool interlace, unsigned char *const *rows,
                    const png_color *pal, int npal, const unsigned char *trns, int ntrns)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return false;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    png_write_image(png, (png_bytepp)rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return true;
}

static sx_tensor *from_values(int ndim, const int64_t *shape, unsigned seed)
{
    sx_tensor *t = sx_tensor_empty(ndim, shape);
    float *d = sx_tensor_data(t);
    rng_state = seed;
    for (int64_t i = 0; i < sx_tensor_numel(t); i++) d[i] = (float)(next_rand() % 256) / 255.0f;
    return t;
}

static void test_png_roundtrip(void)
{
    for (int c = 1; c <= 3; c += 2) {
        sx_tensor *x = from_values(3, SHAPE(c, 5, 7), 7u + (unsigned)c);
        const char *p = tmp_path(c == 1 ? "grey.png" : "rgb.png");
        CHECK_OK(sx_png_write(p, x));
        sx_tensor *y = NULL;
        CHECK_OK(sx_png_read(p, &y));
        if (y) {
            CHECK(y->ndim == 3 && y->shape[0] == c && y->shape[1] == 5 && y->shape[2] == 7);
            CHECK_MSG(max_abs_diff(x, y) == 0.0, "diff %g", max_abs_diff(x, y));
        }
        sx_tensor_free(x);
        sx_tensor_free(y);
    }
    /* [H, W] is written as grey; a non-contiguous view is fine */
    sx_tensor *x = from_values(2, SHAPE(6, 4), 3);
    sx_tensor *xt = sx_transpose(x, 0, 1);
    CHECK_OK(sx_png_write(tmp_path("hw.png"), xt));
    sx_tensor *y = NULL;
    CHECK_OK(sx_png_read(tmp_path("hw.png"), &y));
    if (y) {
        CHECK(y->ndim == 3 && y->shape[0] == 1 && y->shape[1] == 4 && y->shape[2] == 6);
        CHECK(sx_tensor_get(y, SHAPE(0, 1, 2)) == sx_tensor_get(x, SHAPE(2, 1)));
    }
    sx_tensor_free(x);
    sx_tensor_free(xt);
    sx_tensor_free(y);
}

static void test_png_clamp(void)
{
    float v[4] = {-1.0f, 2.0f, NAN, 0.5f};
    sx_tensor *x = sx_tensor_from_data(3, SHAPE(1, 1, 4), v);
    CHECK_OK(sx_png_write(tmp_path("clamp.png"), x));
    sx_tensor *y = NULL;
    CHECK_OK(sx_png_read(tmp_path("clamp.png"), &y));
    if (y) {
        const float *d = sx_tensor_data(y);
        CHECK(d[0] == 0.0f && d[1] == 1.0f && d[2] == 0.0f && d[3] == 128.0f / 255.0f);
    }
    sx_tensor_free(x);
    sx_tensor_free(y);
}

static void test_png_color_types(void)
{
    unsigned char r0[32], r1[32];
    unsigned char *rows[2] = {r0, r1};
    sx_tensor *t = NULL;

    /* RGBA: alpha dropped */
    for (int i = 0; i < 8; i++) r0[i] = r1[i] = (unsigned char)(i * 30);
    CHECK(raw_png(tmp_path("rgba.png"), 2, 2, PNG_COLOR_TYPE_RGBA, 8, false, rows, NULL, 0, NULL, 0));
    CHECK_OK(sx_png_read(tmp_path("rgba.png"), &t));
    if (t) {
        CHECK(t->shape[0] == 3 && t->shape[1] == 2 && t->shape[2] == 2);
        CHECK(sx_tensor_get(t, SHAPE(2, 0, 1)) == 180.0f / 255.0f); /* pixel 1: bytes 4..7 = R G B A */
        CHECK(sx_tensor_get(t, SHAPE(0, 1, 0)) == 0.0f);
        sx_tensor_free(t);
    }

    /* grey + alpha: one channel */
    r0[0] = 10, r0[1] = 0, r0[2] = 250, r0[3] = 255;
    CHECK(raw_png(tmp_path("ga.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, false, rows, NULL, 0, NULL, 0));
    CHECK_OK(sx_png_read(tmp_path("ga.png"), &t));
    if (t) {
        CHECK(t->shape[0] == 1 && t->shape[1] == 1 && t->shape[2] == 2);
        CHECK(sx_tensor_data(t)[0] == 10.0f / 255.0f && sx_tensor_data(t)[1] == 250.0f / 255.0f);
        sx_tensor_free(t);
    }

    /* palette (with transparency, 4-bit indices): RGB */
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 51}};
    unsigned char trns[3] = {0, 128, 255};
    r0[0] = 0x12, r0[1] = 0x00; /* indices 1, 2, 0, 0 */
    CHECK(raw_png(tmp_path("pal.png"), 3, 1, PNG_COLOR_TYPE_PALETTE, 4, false, rows, pal, 3, trns, 3));
    CHECK_OK(sx_png_read(tmp_path("pal.png"), &t));
    if (t) {
        CHECK(t->shape[0] == 3 && t->shape[1] == 1 && t->shape[2] == 3);
        CHECK(sx_tensor_get(t, SHAPE(1, 0, 0)) == 1.0f && sx_tensor_get(t, SHAPE(0, 0, 0)) == 0.0f);
        CHECK(sx_tensor_get(t, SHAPE(2, 0, 1)) == 0.2f && sx_tensor_get(t, SHAPE(0, 0, 2)) == 1.0f);
        sx_tensor_free(t);
    }

    /* 16-bit RGB: scaled to 8 bits */
    unsigned char px16[6] = {0x00, 0x00, 0xFF, 0xFF, 0x80, 0x80};
    rows[0] = px16;
    CHECK(raw_png(tmp_path("rgb16.png"), 1, 1, PNG_COLOR_TYPE_RGB, 16, false, rows, NULL, 0, NULL, 0));
    CHECK_OK(sx_png_read(tmp_path("rgb16.png"), &t));
    if (t) {
        const float *d = sx_tensor_data(t);
        CHECK(d[0] == 0.0f && d[1] == 1.0f && d[2] == 128.0f / 255.0f);
        sx_tensor_free(t);
    }
    rows[0] = r0;

    /* 1-bit grey: 0 and 1 */
    r0[0] = 0xA0; /* 1 0 1 0 */
    CHECK(raw_png(tmp_path("g1.png"), 4, 1, PNG_COLOR_TYPE_GRAY, 1, false, rows, NULL, 0, NULL, 0));
    CHECK_OK(sx_png_read(tmp_path("g1.png"), &t));
    if (t) {
        const float *d = sx_tensor_data(t);
        CHECK(t->shape[0] == 1 && d[0] == 1.0f && d[1] == 0.0f && d[2] == 1.0f && d[3] == 0.0f);
        sx_tensor_free(t);
    }

    /* interlaced (Adam7) RGB */
    unsigned char big[9][27];
    unsigned char *brows[9];
    for (int y = 0; y < 9; y++) {
        brows[y] = big[y];
        for (int i = 0; i < 27; i++) big[y][i] = (unsigned char)(y * 27 + i);
    }
    CHECK(raw_png(tmp_path("adam7.png"), 9, 9, PNG_COLOR_TYPE_RGB, 8, true, brows, NULL, 0, NULL, 0));
    CHECK_OK(sx_png_read(tmp_path("adam7.png"), &t));
    if (t) {
        CHECK(t->shape[0] == 3 && t->shape[1] == 9 && t->shape[2] == 9);
        CHECK(sx_tensor_get(t, SHAPE(1, 4, 5)) == big[4][5 * 3 + 1] / 255.0f);
        CHECK(sx_tensor_get(t, SHAPE(2, 8, 8)) == big[8][8 * 3 + 2] / 255.0f);
        sx_tensor_free(t);
    }
}

/* Offset of the first chunk of the given type in a PNG, or 0. */
static size_t find_chunk(const unsigned char *b, size_t n, const char *type)
{
    size_t p = 8;
    while (p + 12 <= n) {
        uint32_t len = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 | (uint32_t)b[p + 2] << 8 | b[p + 3];
        if (memcmp(b + p + 4, type, 4) == 0) return p;
        p += 12 + len;
    }
    return 0;
}

static void expect_png_error(const char *path, sx_status want, const char *needle)
{
    sx_tensor *t = (sx_tensor *)&t;
    sx_status st = sx_png_read(path, &t);
    CHECK_MSG(st == want, "%s: status %d, want %d (%s)", path, st, want, sx_last_error());
    CHECK(t == NULL);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "png: %s: ", path);
    CHECK_MSG(strncmp(sx_last_error(), prefix, strlen(prefix)) == 0 && has(sx_last_error(), needle),
              "'%s' lacks '%s'", sx_last_error(), needle);
}

static void test_png_corrupt(void)
{
    sx_tensor *x = from_values(3, SHAPE(3, 16, 16), 5);
    const char *good = tmp_path("good.png"), *bad = tmp_path("bad.png");
    CHECK_OK(sx_png_write(good, x));
    sx_tensor_free(x);
    size_t n;
    unsigned char *b = read_bytes(good, &n);
    size_t idat = find_chunk(b, n, "IDAT"), ihdr = find_chunk(b, n, "IHDR");
    CHECK(idat > 0 && ihdr == 8);

    /* one flipped byte inside IDAT's data: the chunk's CRC no longer matches */
    size_t mid = idat + 8 + (b[idat + 2] << 8 | b[idat + 3]) / 2;
    b[mid] ^= 0x40;
    write_bytes(bad, b, n);
    expect_png_error(bad, SX_EFORMAT, "CRC error");
    b[mid] ^= 0x40;

    b[ihdr + 8 + 1] ^= 0x01;
    write_bytes(bad, b, n);
    expect_png_error(bad, SX_EFORMAT, "CRC error");
    b[ihdr + 8 + 1] ^= 0x01;

    write_bytes(bad, b, n / 2);
    expect_png_error(bad, SX_EFORMAT, "truncated");
    write_bytes(bad, b, 5);
    expect_png_error(bad, SX_EFORMAT, "not a PNG");
    write_bytes(bad, "hello, world, not a png", 23);
    expect_png_error(bad, SX_EFORMAT, "not a PNG");
    expect_png_error(tmp_path("missing.png"), SX_EIO, "cannot open");

    /* random damage: errors, never a crash */
    int failed = 0;
    for (int trial = 0; trial < 300; trial++) {
        unsigned char *c = malloc(n);
        memcpy(c, b, n);
        size_t len = n;
        if (trial % 3 == 0)
            len = 8 + next_rand() % (n - 8);
        else
            for (int k = 0; k < 1 + trial % 3; k++) c[8 + next_rand() % (n - 8)] ^= (unsigned char)(1 + next_rand() % 255);
        write_bytes(bad, c, len);
        free(c);
        sx_tensor *t = NULL;
        sx_status st = sx_png_read(bad, &t);
        if (st != SX_OK) {
            failed++;
            CHECK(t == NULL && has(sx_last_error(), "png: "));
        }
        sx_tensor_free(t);
    }
    CHECK(failed > 250);
    free(b);
}

static void test_png_bad_args(void)
{
    sx_tensor *x = sx_tensor_zeros(3, SHAPE(2, 4, 4));
    CHECK(sx_png_write(tmp_path("x.png"), x) == SX_EINVAL && has(sx_last_error(), "[2, 4, 4]"));
    sx_tensor_free(x);
    x = sx_tensor_zeros(1, SHAPE(4));
    CHECK(sx_png_write(tmp_path("x.png"), x) == SX_EINVAL && has(sx_last_error(), "[4]"));
    sx_tensor_free(x);
    x = sx_tensor_zeros(3, SHAPE(1, 0, 4));
    CHECK(sx_png_write(tmp_path("x.png"), x) == SX_EINVAL);
    CHECK(sx_png_write(tmp_path("x.png"), NULL) == SX_EINVAL);
    CHECK(access(tmp_path("x.png"), F_OK) != 0);
    sx_tensor_free(x);
    x = sx_tensor_zeros(2, SHAPE(2, 2));
    CHECK(sx_png_write(tmp_path("no-dir/x.png"), x) == SX_EIO && has(sx_last_error(), "cannot create"));
    sx_tensor_free(x);
}

/* ================================================================ safetensors */

static bool same_bits(const sx_tensor *a, const sx_tensor *b)
{
    if (!sx_tensor_same_shape(a, b)) return false;
    int64_t n = sx_tensor_numel(a);
    float *x = malloc((size_t)n * 4 + 4), *y = malloc((size_t)n * 4 + 4);
    sx_tensor_copy_to(a, x);
    sx_tensor_copy_to(b, y);
    bool same = memcmp(x, y, (size_t)n * 4) == 0;
    free(x);
    free(y);
    return same;
}

static void test_st_roundtrip(void)
{
    sx_tensor *w = RANDN(1, 4, 3, 3, 3);
    float special[8] = {0.0f, -0.0f, INFINITY, -INFINITY, 1e-45f, -3.4e38f, 1.0f, 0.0f};
    uint32_t nan_bits = 0x7FC01234u;
    memcpy(&special[7], &nan_bits, 4);
    sx_tensor *s = sx_tensor_from_data(1, SHAPE(8), special);
    sx_tensor *scalar = sx_tensor_scalar(42.5f);
    sx_tensor *empty = sx_tensor_zeros(2, SHAPE(0, 3));
    sx_tensor *m = RANDN(2, 5, 6);
    sx_tensor *mt = sx_transpose(m, 0, 1); /* non-contiguous: written as its values */
    const char *names[] = {"net.conv.weight", "special", "step \"quoted\" \\ é", "empty", "transposed"};
    sx_tensor *ts[] = {w, s, scalar, empty, mt};
    const char *keys[] = {"config", "step", "odd"};
    const char *vals[] = {"{\"w_dim\": 128, \"lr\": 0.002}", "1000", "tab\tnewline\nctl\x01 ünïcødé"};
    const char *p = tmp_path("ckpt.safetensors");
    CHECK_OK(sx_safetensors_save(p, 5, names, ts, 3, keys, vals));

    size_t n;
    unsigned char *b = read_bytes(p, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    uint64_t data = (uint64_t)(108 * 4 + 8 * 4 + 4 + 0 + 30 * 4);
    CHECK(hlen % 8 == 0 && b[8] == '{' && n == 8 + hlen + data);
    /* the first tensor's bytes follow the header, little-endian float32 */
    float first;
    memcpy(&first, b + 8 + hlen, 4);
    CHECK(first == sx_tensor_data(w)[0]);
    free(b);

    sx_safetensors *c = NULL;
    CHECK_OK(sx_safetensors_load(p, &c));
    if (c) {
        CHECK(c->n == 5 && c->n_meta == 3);
        for (int i = 0; i < 5 && i < c->n; i++) {
            CHECK(strcmp(c->names[i], names[i]) == 0); /* file order = data order = given order */
            sx_tensor *got = sx_safetensors_get(c, names[i]);
            CHECK_MSG(got && same_bits(got, ts[i]), "tensor %s", names[i]);
            CHECK(got && sx_tensor_is_contiguous(got));
        }
        CHECK(sx_safetensors_get(c, "special") && sx_safetensors_get(c, "special")->ndim == 1);
        CHECK(sx_safetensors_get(c, names[2])->ndim == 0);
        CHECK(sx_safetensors_get(c, "nope") == NULL);
        for (int i = 0; i < 3; i++) CHECK(sx_safetensors_meta(c, keys[i]) && strcmp(sx_safetensors_meta(c, keys[i]), vals[i]) == 0);
        /* a retained tensor outlives its file */
        sx_tensor *keep = sx_tensor_retain(sx_safetensors_get(c, "special"));
        sx_safetensors_free(c);
        CHECK(same_bits(keep, s));
        sx_tensor_free(keep);
    }

    /* no tensors, no metadata */
    CHECK_OK(sx_safetensors_save(tmp_path("empty.safetensors"), 0, NULL, NULL, 0, NULL, NULL));
    CHECK_OK(sx_safetensors_load(tmp_path("empty.safetensors"), &c));
    if (c) CHECK(c->n == 0 && c->n_meta == 0);
    sx_safetensors_free(c);
    sx_tensor *all[] = {w, s, scalar, empty, m, mt};
    for (int i = 0; i < 6; i++) sx_tensor_free(all[i]);
}

/* Writes a safetensors file from a header text and data bytes. hlen_override
 * (if nonzero) replaces the true header length in the prefix. */
static void craft(const char *path, const char *header, const void *data, size_t ndata, uint64_t hlen_override)
{
    size_t hl = strlen(header);
    uint64_t v = hlen_override ? hlen_override : hl;
    unsigned char *b = malloc(8 + hl + ndata + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    memcpy(b + 8, header, hl);
    if (ndata) memcpy(b + 8 + hl, data, ndata);
    write_bytes(path, b, 8 + hl + ndata);
    free(b);
}

static void expect_st_error(const char *path, sx_status want, const char *needle)
{
    sx_safetensors *c = (sx_safetensors *)&c;
    sx_status st = sx_safetensors_load(path, &c);
    CHECK_MSG(st == want, "status %d, want %d (%s)", st, want, sx_last_error());
    CHECK(c == NULL);
    CHECK_MSG(has(sx_last_error(), path) && has(sx_last_error(), needle), "'%s' lacks '%s'", sx_last_error(), needle);
}

static void test_st_header_length(void)
{
    const char *p = tmp_path("hdr.safetensors");
    float d[2] = {1, 2};
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    craft(p, h, d, 8, 0);
    sx_safetensors *c = NULL;
    CHECK_OK(sx_safetensors_load(p, &c));
    sx_safetensors_free(c);

    craft(p, h, d, 8, strlen(h) + 9); /* one byte past the end */
    expect_st_error(p, SX_EFORMAT, "runs past the end of the file");
    craft(p, h, d, 8, (uint64_t)1 << 62);
    expect_st_error(p, SX_EFORMAT, "absurd");
    craft(p, h, d, 8, 200u * 1000 * 1000);
    expect_st_error(p, SX_EFORMAT, "absurd");
    write_bytes(p, "\x10\0\0", 3);
    expect_st_error(p, SX_EFORMAT, "too short");
    write_bytes(p, "", 0);
    expect_st_error(p, SX_EFORMAT, "too short");
    expect_st_error(tmp_path("missing.safetensors"), SX_EIO, "cannot open");
}

static void test_st_offsets(void)
{
    const char *p = tmp_path("off.safetensors");
    float d[4] = {1, 2, 3, 4};
#define ENTRY(name, shape, begin, end) \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":[" shape "],\"data_offsets\":[" #begin "," #end "]}"
    /* a header, the data bytes after it, and what the reader says */
    static const struct { const char *header; size_t n; const char *msg; } bad[] = {
        {"{" ENTRY("a", "2", 0, 8) "," ENTRY("b", "2", 4, 12) "}", 12, "overlaps"},
        {"{" ENTRY("a", "2", 0, 8) "," ENTRY("b", "2", 8, 16) "}", 12, "overrun"},
        {"{" ENTRY("a", "4", 0, 16) "}", 12, "overrun"},
        {"{" ENTRY("a", "1", 0, 4) "," ENTRY("b", "1", 8, 12) "}", 12, "gap of 4 bytes"},
        {"{" ENTRY("a", "2", 0, 8) "}", 16, "8 bytes after the last tensor"},
        {"{" ENTRY("a", "3", 0, 8) "}", 8, "needs 12 bytes"},
        {"{" ENTRY("a", "4294967296,4294967296,4294967296", 0, 8) "}", 8, "needs more than"},
        {"{" ENTRY("a", "2", 8, 0) "}", 8, "begin > end"},
        {"{" ENTRY("a", "2", 0, 8) "," ENTRY("a", "2", 8, 16) "}", 16, "duplicate tensor name 'a'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        craft(p, bad[i].header, d, bad[i].n, 0);
        expect_st_error(p, SX_EFORMAT, bad[i].msg);
    }
    /* zero-size tensors may sit anywhere on the boundaries */
    craft(p, "{" ENTRY("z", "0,5", 4, 4) "," ENTRY("a", "1", 0, 4) "," ENTRY("b", "", 4, 8) "}", d, 8, 0);
#undef ENTRY
    sx_safetensors *c = NULL;
    CHECK_OK(sx_safetensors_load(p, &c));
    if (c) {
        CHECK(c->n == 3 && strcmp(c->names[0], "a") == 0);
        CHECK(sx_safetensors_get(c, "b")->ndim == 0 && sx_tensor_data(sx_safetensors_get(c, "b"))[0] == 2.0f);
        CHECK(sx_tensor_numel(sx_safetensors_get(c, "z")) == 0);
    }
    sx_safetensors_free(c);
}

static void test_st_malformed(void)
{
    const char *p = tmp_path("json.safetensors");
    float d[1] = {1};
    static const char *const bad[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}",
        "{\"a\": }",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x",
        "[1, 2, 3]",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}",
        "{\"a\\q\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\n\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
        "",
        "   ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        craft(p, bad[i], d, 4, 0);
        expect_st_error(p, SX_EFORMAT, "malformed JSON header at byte");
    }
    /* well-formed JSON that is not a valid safetensors header */
    struct { const char *h; const char *needle; } wrong[] = {
        {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", "unsupported dtype \"F8_E4M3\""},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "no \"dtype\""},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "no \"shape\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "no \"data_offsets\""},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "twice"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", "more than 8 dimensions"},
        {"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "NUL"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"__metadata__\":{\"k\":1}}",
         "value of 'k' is not a string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}",
         "duplicate metadata key 'k'"},
        {"{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"__metadata__\":{}}",
         "appears twice"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        craft(p, wrong[i].h, d, 4, 0);
        expect_st_error(p, SX_EFORMAT, wrong[i].needle);
    }
    /* unknown fields are skipped, escapes decoded, white space allowed */
    craft(p, " { \"a\\u00e9\\n\" : { \"extra\": {\"x\": [1, -2.5e3, true, null]}, \"dtype\" : \"F32\", "
             "\"shape\" : [ 1 ] , \"data_offsets\" : [ 0 , 4 ] } , \"__metadata__\": {\"k\": \"v\\\"\"} }   ",
          d, 4, 0);
    sx_safetensors *c = NULL;
    CHECK_OK(sx_safetensors_load(p, &c));
    if (c) {
        CHECK(c->n == 1 && strcmp(c->names[0], "a\xc3\xa9\n") == 0);
        CHECK(strcmp(sx_safetensors_meta(c, "k"), "v\"") == 0);
    }
    sx_safetensors_free(c);
}

static void test_st_dtypes(void)
{
    const char *p = tmp_path("dtypes.safetensors");
    unsigned char data[64];
    size_t k = 0;
    uint16_t f16[4] = {0x3C00, 0xC000, 0x7BFF, 0x0001}; /* 1, -2, 65504, 2^-24 */
    memcpy(data + k, f16, 8), k += 8;
    uint16_t bf16[2] = {0x3F80, 0xC0A0}; /* 1, -5 */
    memcpy(data + k, bf16, 4), k += 4;
    double f64[1] = {-0.125};
    memcpy(data + k, f64, 8), k += 8;
    int64_t i64[1] = {-3};
    memcpy(data + k, i64, 8), k += 8;
    unsigned char u8[4] = {200, 0, 1, 255};
    memcpy(data + k, u8, 4), k += 4;
    int32_t i32[1] = {-70000};
    memcpy(data + k, i32, 4), k += 4;
    unsigned char bools[4] = {0, 1, 0, 2};
    memcpy(data + k, bools, 4), k += 4;
    craft(p,
          "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
          "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
          "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[12,20]},"
          "\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[20,28]},"
          "\"u\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[28,32]},"
          "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[32,36]},"
          "\"b\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[36,40]}}",
          data, k, 0);
    sx_safetensors *c = NULL;
    CHECK_OK(sx_safetensors_load(p, &c));
    if (!c) return;
    const float *h = sx_tensor_data(sx_safetensors_get(c, "h"));
    CHECK(h[0] == 1.0f && h[1] == -2.0f && h[2] == 65504.0f && h[3] == ldexpf(1.0f, -24));
    const float *bf = sx_tensor_data(sx_safetensors_get(c, "bf"));
    CHECK(bf[0] == 1.0f && bf[1] == -5.0f);
    CHECK(sx_tensor_data(sx_safetensors_get(c, "d"))[0] == -0.125f);
    CHECK(sx_tensor_data(sx_safetensors_get(c, "l"))[0] == -3.0f);
    const sx_tensor *u = sx_safetensors_get(c, "u");
    CHECK(u->ndim == 2 && sx_tensor_data(u)[0] == 200.0f && sx_tensor_data(u)[3] == 255.0f);
    CHECK(sx_tensor_data(sx_safetensors_get(c, "i"))[0] == -70000.0f);
    const float *b = sx_tensor_data(sx_safetensors_get(c, "b"));
    CHECK(b[0] == 0.0f && b[1] == 1.0f && b[3] == 1.0f);
    sx_safetensors_free(c);
}

static void test_st_save_args(void)
{
    sx_tensor *a = sx_tensor_zeros(1, SHAPE(2));
    const char *p = tmp_path("args.safetensors");
    sx_tensor *two[] = {a, a};
    const char *dup[] = {"x", "x"}, *meta[] = {"__metadata__"}, *blank[] = {""}, *badutf[] = {"\xc3("};
    CHECK(sx_safetensors_save(p, 2, dup, two, 0, NULL, NULL) == SX_EINVAL && has(sx_last_error(), "duplicate tensor name 'x'"));
    CHECK(sx_safetensors_save(p, 1, meta, two, 0, NULL, NULL) == SX_EINVAL);
    CHECK(sx_safetensors_save(p, 1, blank, two, 0, NULL, NULL) == SX_EINVAL);
    CHECK(sx_safetensors_save(p, 1, badutf, two, 0, NULL, NULL) == SX_EINVAL && has(sx_last_error(), "UTF-8"));
    sx_tensor *none[] = {NULL};
    const char *one[] = {"x"};
    CHECK(sx_safetensors_save(p, 1, one, none, 0, NULL, NULL) == SX_EINVAL);
    const char *k2[] = {"k", "k"}, *v2[] = {"1", "2"};
    CHECK(sx_safetensors_save(p, 1, one, two, 2, k2, v2) == SX_EINVAL && has(sx_last_error(), "duplicate metadata key"));
    CHECK(sx_safetensors_save(NULL, 1, one, two, 0, NULL, NULL) == SX_EINVAL);
    CHECK(access(p, F_OK) != 0);
    CHECK(sx_safetensors_save(tmp_path("no-dir/x.safetensors"), 1, one, two, 0, NULL, NULL) == SX_EIO &&
          has(sx_last_error(), "cannot create"));
    /* rename onto a non-empty directory fails: no temporary file is left behind */
    mkdir(tmp_path("adir"), 0700);
    write_bytes(tmp_path("adir/f"), "x", 1);
    CHECK(sx_safetensors_save(tmp_path("adir"), 1, one, two, 0, NULL, NULL) == SX_EIO &&
          has(sx_last_error(), "cannot rename"));
    char tmpf[300];
    snprintf(tmpf, sizeof tmpf, "%s.tmp-%ld", tmp_path("adir"), (long)getpid());
    CHECK(access(tmpf, F_OK) != 0);
    remove(tmp_path("adir/f"));
    rmdir(tmp_path("adir"));
    sx_tensor_free(a);
}

static void test_st_damage_never_crashes(void)
{
    sx_tensor *a = RANDN(3, 3, 4), *b = RANDN(4, 5);
    const char *names[] = {"alpha", "beta"}, *k[] = {"step"}, *v[] = {"12"};
    sx_tensor *ts[] = {a, b};
    const char *good = tmp_path("fuzz-good.safetensors"), *bad = tmp_path("fuzz.safetensors");
    CHECK_OK(sx_safetensors_save(good, 2, names, ts, 1, k, v));
    size_t n;
    unsigned char *g = read_bytes(good, &n);
    int failed = 0;
    for (int trial = 0; trial < 600; trial++) {
        unsigned char *c = malloc(n);
        memcpy(c, g, n);
        size_t len = n;
        int mode = trial % 4;
        if (mode == 0) {
            len = next_rand() % n;
        } else if (mode == 1) { /* damage the header text */
            for (int j = 0; j < 1 + trial % 3; j++) c[8 + next_rand() % 120] = (unsigned char)(next_rand() % 128);
        } else if (mode == 2) { /* damage the length prefix */
            c[next_rand() % 8] ^= (unsigned char)(1 + next_rand() % 255);
        } else {
            for (int j = 0; j < 3; j++) c[next_rand() % n] ^= (unsigned char)(1 + next_rand() % 255);
        }
        write_bytes(bad, c, len);
        free(c);
        sx_safetensors *st = NULL;
        if (sx_safetensors_load(bad, &st) != SX_OK) {
            failed++;
            CHECK(st == NULL && has(sx_last_error(), "safetensors: "));
        }
        sx_safetensors_free(st);
    }
    CHECK(failed > 300);
    free(g);
    sx_tensor_free(a);
    sx_tensor_free(b);
}

/* A save that fails part way (file size limit reached: the disk-full case)
 * or is killed part way (SIGXFSZ's default action) leaves the old file. */
static void test_st_interrupted_save(void)
{
    const char *p = tmp_path("atomic.safetensors");
    sx_tensor *old = RANDN(5, 16);
    const char *name[] = {"w"}, *k[] = {"step"}, *v1[] = {"1"}, *v2[] = {"2"};
    CHECK_OK(sx_safetensors_save(p, 1, name, &old, 1, k, v1));
    sx_tensor *big = RANDN(6, 64, 1024); /* 256 KiB of data */

    struct rlimit saved;
    getrlimit(RLIMIT_FSIZE, &saved);
    struct rlimit lim = {64 * 1024, saved.rlim_max};
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    sx_status st = sx_safetensors_save(p, 1, name, &big, 1, k, v2);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, prev);
    CHECK_MSG(st == SX_EIO && has(sx_last_error(), "write failed"), "%d %s", st, sx_last_error());
    char tmpf[300];
    snprintf(tmpf, sizeof tmpf, "%s.tmp-%ld", p, (long)getpid());
    CHECK(access(tmpf, F_OK) != 0);

    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        setrlimit(RLIMIT_FSIZE, &lim);
        sx_safetensors_save(p, 1, name, &big, 1, k, v2);
        _exit(0); /* not reached: SIGXFSZ kills the child mid-write */
    }
    int wst = 0;
    waitpid(child, &wst, 0);
    CHECK_MSG(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGXFSZ, "child status %d", wst);
    snprintf(tmpf, sizeof tmpf, "%s.tmp-%ld", p, (long)child);
    CHECK(access(tmpf, F_OK) == 0); /* the torn temporary file, never renamed */

    sx_safetensors *c = NULL;
    CHECK_OK(sx_safetensors_load(p, &c));
    if (c) {
        CHECK(c->n == 1 && same_bits(c->tensors[0], old));
        CHECK(strcmp(sx_safetensors_meta(c, "step"), "1") == 0);
    }
    sx_safetensors_free(c);

    /* and without a limit the new content replaces the old; the save removes
     * the dead child's temporary (a live process's would stay) */
    CHECK_OK(sx_safetensors_save(p, 1, name, &big, 1, k, v2));
    CHECK_MSG(access(tmpf, F_OK) != 0, "the stale %s is removed", tmpf);
    CHECK_OK(sx_safetensors_load(p, &c));
    if (c) CHECK(same_bits(c->tensors[0], big) && strcmp(sx_safetensors_meta(c, "step"), "2") == 0);
    sx_safetensors_free(c);
    sx_tensor_free(old);
    sx_tensor_free(big);
}

/* [0, 2^32, 2^32] holds no element, but its contiguous strides pass 2^63
 * (undefined behaviour before sx_shape_check refused it); the same shape in an
 * IDX or safetensors header is refused by the reader, naming the file. */
static void test_shape_overflow(void)
{
    int64_t huge[] = {0, (int64_t)1 << 32, (int64_t)1 << 32};
    sx_tensor *t = sx_tensor_zeros(3, huge);
    CHECK_MSG(!t && has(sx_last_error(), "shape too large"), "%s", sx_last_error());
    int64_t ok[] = {0, 1 << 16, 1 << 16};
    t = sx_tensor_zeros(3, ok);
    CHECK_NOTNULL(t);
    sx_tensor_free(t);

    const char *idx = tmp_path("huge-idx3");
    unsigned char h[16] = {0, 0, 8, 3, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_bytes(idx, h, sizeof h);
    t = NULL;
    sx_status st = sx_idx_read(idx, &t);
    CHECK_MSG(st == SX_EFORMAT && !t && has(sx_last_error(), "absurd shape") && has(sx_last_error(), "huge-idx3"),
              "%d %s", st, sx_last_error());

    const char *stp = tmp_path("huge.safetensors");
    const char *json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,0]}}";
    unsigned char buf[256];
    uint64_t n = strlen(json);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, json, n);
    write_bytes(stp, buf, 8 + n);
    sx_safetensors *c = NULL;
    st = sx_safetensors_load(stp, &c);
    CHECK_MSG(st == SX_EFORMAT && !c && has(sx_last_error(), "absurd shape") && has(sx_last_error(), "'x'"),
              "%d %s", st, sx_last_error());
}

/* ================================================================ */


int main(void)
{
    if (!make_tmpdir("sx_test_io")) return 1;
    RUN(test_idx_valid);
    RUN(test_idx_truncated);
    RUN(test_idx_trailing);
    RUN(test_idx_bad_magic);
    RUN(test_idx_wrong_counts);
    RUN(test_idx_missing);
    RUN(test_idx_damage_never_crashes);
    RUN(test_fashion_mnist);
    RUN(test_png_roundtrip);
    RUN(test_png_clamp);
    RUN(test_png_color_types);
    RUN(test_png_corrupt);
    RUN(test_png_bad_args);
    RUN(test_st_roundtrip);
    RUN(test_st_header_length);
    RUN(test_st_offsets);
    RUN(test_st_malformed);
    RUN(test_st_dtypes);
    RUN(test_st_save_args);
    RUN(test_st_damage_never_crashes);
    RUN(test_st_interrupted_save);
    RUN(test_shape_overflow);
    remove_tmpdir();
    return check_summary("test_io");
}
