/*
 * stylex/nn.h — modules (named parameter trees), layers, optimisers and EMA.
 *
 * A model is a module tree plus a forward function. An sx_module holds a type
 * name, its own named parameters (trainable leaves) and buffers (state that
 * is saved but not trained), and named child modules. Parameters are listed
 * with dotted names ("block1.conv.weight") in a stable order: a module's own
 * entries in the order they were added, then each child's, depth first, in
 * the order the children were added (PyTorch's order).
 *
 * Equalized learning rate (StyleGAN2): a parameter is stored as `tensor` and
 * used as `tensor * gain`; the layers below fold lr_mul and 1/sqrt(fan_in)
 * into gain, so optimisers see plain leaves and need no special case.
 *
 * Optimisers (SGD with momentum, Adam) update arrays of leaf tensors in place
 * from their ->grad, in parameter groups with their own learning rates; their
 * state exports to and imports from named tensors, for exact resume.
 *
 * Ownership follows tensor.h: functions returning a pointer return a new
 * reference (or NULL with sx_last_error() set); modules are refcounted like
 * tensors. Functions whose comment says "steals" take over the caller's
 * reference, also when they fail.
 */
#ifndef STYLEX_NN_H
#define STYLEX_NN_H

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- named tensors */

/* An ordered list of (name, tensor) pairs: state dicts, parameter lists,
 * optimiser state. Start from {0}; sx_named_tensors_clear frees the contents. */
typedef struct sx_named_tensors {
    int n;
    int cap;
    char **names;         /* [n], owned strings */
    sx_tensor **tensors;  /* [n], owned references */
} sx_named_tensors;

/* Appends (copy of name, t). Steals t. */
sx_status sx_named_tensors_push(sx_named_tensors *nt, const char *name, sx_tensor *t);
/* The tensor called name (borrowed), or NULL (no error set). */
sx_tensor *sx_named_tensors_get(const sx_named_tensors *nt, const char *name);
/* Frees every entry and the arrays; nt is {0} afterwards. */
void sx_named_tensors_clear(sx_named_tensors *nt);
/*
 * Copies src's values into dst's tensors in place, matching by name; fn names
 * the caller in messages. Everything is checked before anything is written:
 * a name of dst missing from src ("missing"), a name of src absent from dst
 * ("unexpected"; both only when strict) and a shape mismatch (always) fail
 * with a message naming the entry and the shapes, leaving dst unchanged.
 */
sx_status sx_named_tensors_assign(const sx_named_tensors *dst, const sx_named_tensors *src, bool strict,
                                  const char *fn);

/* ---------------------------------------------------------------- modules */

typedef struct sx_module sx_module;

/* A single-input forward: returns a new reference or NULL with the error set. */
typedef sx_tensor *(*sx_module_forward_fn)(sx_module *m, sx_tensor *x);

typedef struct sx_param {
    char *name;          /* local name within its module ("weight"); owned */
    sx_tensor *tensor;   /* owned; the stored leaf, shape as the layer documents */
    float lr_mul;        /* learning-rate multiplier, already folded into gain */
    float gain;          /* runtime multiplier: the value the layer uses is tensor * gain */
    bool buffer;         /* saved in state dicts but not trained (requires_grad off) */
} sx_param;

struct sx_module {
    int refcount;
    char *type;                    /* "Linear", "Conv2d", "MappingNetwork", ...; owned */
    int n_params, cap_params;
    sx_param *params;              /* [n_params]: parameters and buffers, in insertion order */
    int n_children, cap_children;
    char **child_names;            /* [n_children], owned */
    sx_module **children;          /* [n_children], owned references */
    sx_module_forward_fn forward;  /* single-input forward, or NULL */
    void *impl;                    /* type-specific configuration (layers: their opts), owned */
    void (*impl_free)(void *impl); /* frees impl (NULL: free()) */
    bool training;                 /* train (true, the default) or eval mode: BatchNorm2d, Dropout */
};

/* An empty module of the given type name (refcount 1). */
sx_module *sx_module_new(const char *type);
sx_module *sx_module_retain(sx_module *m);
/* Drops one reference; the last one frees parameters, children and impl. */
void sx_module_free(sx_module *m);

/* Adds a trainable parameter. Steals t, which must be a contiguous leaf; its
 * requires_grad is turned on. name: non-empty, no '.', unique in m. */
sx_status sx_module_add_param(sx_module *m, const char *name, sx_tensor *t, float lr_mul, float gain);
/* Adds a buffer (saved and loaded, not trained; e.g. a running average). Steals t. */
sx_status sx_module_add_buffer(sx_module *m, const char *name, sx_tensor *t);
/* Adds a child module. Steals child. A NULL child (a failed constructor
 * passed straight in) fails keeping the constructor's error message. */
sx_status sx_module_add_child(sx_module *m, const char *name, sx_module *child);

/* m's own parameter or buffer called name (no dots), borrowed; NULL if none
 * (no error set). Valid until the next add to m. */
sx_param *sx_module_param(const sx_module *m, const char *name);
/* m's child called name, borrowed, or NULL (no error set). */
sx_module *sx_module_child(const sx_module *m, const char *name);
/* The parameter or buffer with a dotted name anywhere in the tree, borrowed;
 * NULL with an error naming the path if absent. */
sx_param *sx_module_find_param(const sx_module *m, const char *dotted);
/* The value a layer uses: p->tensor * p->gain, differentiable (new reference;
 * p->tensor itself, retained, when the gain is 1). */
sx_tensor *sx_param_value(const sx_param *p);

/* Number of trainable parameter tensors in the tree, and their total elements. */
int sx_module_param_count(const sx_module *m);
int64_t sx_module_param_numel(const sx_module *m);

/* Appends the trainable parameters (dotted names, the live tensors retained —
 * not copies) to out, in the stable order. */
sx_status sx_module_parameters(const sx_module *m, sx_named_tensors *out);
/* Appends parameters and buffers, as live tensors (for in-place loading). */
sx_status sx_module_state_refs(const sx_module *m, sx_named_tensors *out);
/* Appends parameters and buffers as detached contiguous copies (a snapshot). */
sx_status sx_module_state_dict(const sx_module *m, sx_named_tensors *out);
/* Loads values by name in place (sx_named_tensors_assign; see there for the
 * strict rules). All-or-nothing. */
sx_status sx_module_load_state_dict(sx_module *m, const sx_named_tensors *sd, bool strict);
/* Drops the ->grad of every parameter. */
void sx_module_zero_grad(sx_module *m);
/* Copies every parameter and buffer of src into dst (a twin: same names and shapes). */
sx_status sx_module_copy_params(sx_module *dst, const sx_module *src);
/* EMA of a twin: for parameters ema = beta*ema + (1-beta)*param; buffers are copied. */
sx_status sx_module_ema_update(sx_module *ema, const sx_module *m, float beta);
/* m->forward(m, x), or an error if the module has no single-input forward. */
sx_tensor *sx_module_forward(sx_module *m, sx_tensor *x);

/* ---------------------------------------------------------------- layers */

/*
 * Initialisation (global RNG, so sx_manual_seed makes it reproducible), with
 * s = init_std if set, and fan_in = in (Linear) or in/groups*k*k (Conv2d):
 *   equalized:     weight ~ N(0, (s or 1)^2) / lr_mul, gain = lr_mul / sqrt(fan_in);
 *   not equalized: weight ~ U(-sqrt(3)*s', sqrt(3)*s') / lr_mul with s' = s or
 *                  sqrt(2 / fan_in) (He, uniform), gain = lr_mul;
 *   bias stored as bias_init / lr_mul, gain lr_mul (so its initial value is bias_init).
 * With lr_mul = 1 and no equalization, the gains are 1: a plain layer.
 */
typedef struct sx_linear_opts {
    int64_t in, out;   /* features */
    bool no_bias;      /* false (the default): y = x W^T + b */
    bool equalized;    /* runtime weight scaling (StyleGAN2's equalized learning rate) */
    float lr_mul;      /* learning-rate multiplier; 0 means 1 */
    float bias_init;   /* initial bias value */
    float init_std;    /* weight init std before the 1/lr_mul; 0 means the default above */
} sx_linear_opts;

/* Type "Linear"; parameters weight [out, in] and bias [out]; impl holds the
 * opts with defaults resolved. */
sx_module *sx_linear_layer_new(const sx_linear_opts *o);
/* x [..., in] -> [..., out] */
sx_tensor *sx_linear_layer_forward(sx_module *m, sx_tensor *x);

typedef struct sx_conv2d_layer_opts {
    int64_t in, out;   /* channels */
    int kernel;        /* square kernel size, >= 1 */
    int stride;        /* 0 means 1 */
    int padding;       /* zero padding on each side */
    int groups;        /* 0 means 1; must divide in and out */
    bool no_bias;
    bool equalized;
    float lr_mul;      /* 0 means 1 */
    float bias_init;
    float init_std;    /* 0 means the default above */
} sx_conv2d_layer_opts;

/* Type "Conv2d"; parameters weight [out, in/groups, k, k] and bias [out]. */
sx_module *sx_conv2d_layer_new(const sx_conv2d_layer_opts *o);
/* x [N, in, H, W] -> [N, out, Ho, Wo] */
sx_tensor *sx_conv2d_layer_forward(sx_module *m, sx_tensor *x);

/* ---------------------------------------------------------------- train / eval */

/* Sets m and every module below it to training (true) or evaluation mode.
 * Layers that behave differently read m->training in their forward:
 * BatchNorm2d (batch statistics vs running ones) and Dropout (active vs
 * the identity). A new module is in training mode, as in PyTorch. */
void sx_module_set_training(sx_module *m, bool training);

/* ---------------------------------------------------------------- torch.nn's small layers */

/* lib/nn/basic_layers.c: the layers a classifier is built from besides
 * Linear and Conv2d, as modules (so Lua's sx.nn.Sequential and a C tree can
 * hold them). */

typedef struct sx_batchnorm2d_opts {
    int64_t channels;  /* C of x [N, C, H, W] */
    float eps;         /* added to the variance; 0 means 1e-5 */
    float momentum;    /* running = (1 - momentum) running + momentum batch; 0 means 0.1 */
    bool no_affine;    /* false (the default): learnable weight [C] (ones) and bias [C] (zeros) */
} sx_batchnorm2d_opts;

/* Type "BatchNorm2d": parameters weight, bias [C] (unless no_affine);
 * buffers running_mean [C] (zeros), running_var [C] (ones),
 * num_batches_tracked [1]. In training mode a forward normalises with the
 * batch's mean and biased variance over N, H, W (differentiably) and updates
 * the running statistics with the unbiased variance, as PyTorch does (it
 * needs more than one value per channel); in eval mode it uses the running
 * statistics. */
sx_module *sx_batchnorm2d_layer_new(const sx_batchnorm2d_opts *o);
sx_tensor *sx_batchnorm2d_layer_forward(sx_module *m, sx_tensor *x);

/* Types "ReLU", "LeakyReLU" (slope), "MaxPool2d" (k x k windows, stride k),
 * "AvgPool2d", "Dropout" (p in [0, 1); the identity in eval mode) and
 * "Flatten" (dimensions start .. end merged, 0-based, negative from the
 * end; PyTorch's default is 1, -1). No parameters. */
sx_module *sx_relu_layer_new(void);
sx_module *sx_leaky_relu_layer_new(float slope);
sx_module *sx_max_pool2d_layer_new(int k);
sx_module *sx_avg_pool2d_layer_new(int k);
sx_module *sx_dropout_layer_new(float p);
sx_module *sx_flatten_layer_new(int start, int end);

/* ---------------------------------------------------------------- optimisers */

/* A parameter group: its tensors (borrowed by the constructor, which retains
 * them) and its learning rate; lr 0 means the optimiser's lr (a group can be
 * frozen later with sx_optim_set_lr(opt, g, 0)). */
typedef struct sx_param_group {
    int n;
    sx_tensor *const *params;  /* [n] contiguous leaves */
    float lr;
} sx_param_group;

/* Every field is used as given. */
typedef struct sx_sgd_opts {
    float lr;            /* lr of the groups that do not set their own */
    float momentum;      /* 0: plain SGD */
    bool nesterov;       /* Nesterov momentum (needs momentum > 0) */
    float weight_decay;  /* L2: grad += weight_decay * param */
} sx_sgd_opts;

/* Every field is used as given (a zero beta is a zero beta): start from
 * sx_adam_defaults() and change what differs. */
typedef struct sx_adam_opts {
    float lr;            /* lr of the groups that do not set their own */
    float beta1, beta2;  /* in [0, 1); StyleGAN2 uses 0 and 0.99 */
    float eps;           /* > 0 */
    float weight_decay;
    bool decoupled;      /* false: L2 (grad += wd*param, torch.optim.Adam);
                            true: AdamW (param -= lr*wd*param, before the Adam step) */
} sx_adam_opts;

/* lr 1e-3, betas 0.9 and 0.999, eps 1e-8, no weight decay (PyTorch's defaults). */
sx_adam_opts sx_adam_defaults(void);

typedef struct sx_optim sx_optim;

/* Each parameter may appear once over all groups. Parameters are retained. */
sx_optim *sx_sgd_new(int n_groups, const sx_param_group *groups, const sx_sgd_opts *o);
sx_optim *sx_adam_new(int n_groups, const sx_param_group *groups, const sx_adam_opts *o);
void sx_optim_free(sx_optim *opt);

/*
 * One update of every parameter that has a ->grad (others are skipped and
 * keep their state). All gradients are checked first: a non-finite value or
 * a wrong shape fails with the step not taken.
 */
sx_status sx_optim_step(sx_optim *opt);
/* Drops the ->grad of every parameter. */
void sx_optim_zero_grad(sx_optim *opt);
/* Sets the learning rate of one group (0-based), or of all with group -1. */
sx_status sx_optim_set_lr(sx_optim *opt, int group, float lr);
float sx_optim_get_lr(const sx_optim *opt, int group);
int sx_optim_num_groups(const sx_optim *opt);
/* Parameters of a group (borrowed) and their number. */
sx_tensor *const *sx_optim_group_params(const sx_optim *opt, int group, int *n);
/* "SGD" or "Adam". */
const char *sx_optim_name(const sx_optim *opt);

/*
 * State as named tensors (copies), appended to out:
 *   "group<g>.lr"                       [1]
 *   "group<g>.param<i>.step"            [1]  (Adam; steps taken by that parameter)
 *   "group<g>.param<i>.exp_avg"         like the parameter (Adam)
 *   "group<g>.param<i>.exp_avg_sq"      like the parameter (Adam)
 *   "group<g>.param<i>.momentum_buffer" like the parameter (SGD with momentum)
 * g and i are 0-based positions, so a resumed run must build its parameter
 * list in the same order (sx_module_parameters guarantees it). Parameters
 * that have never been updated have no entries. Step counts are exact up to
 * 2^24 steps.
 */
sx_status sx_optim_state(const sx_optim *opt, sx_named_tensors *out);
/* Replaces the state (and group learning rates) with st. Unknown names, wrong
 * shapes or bad step counts fail with the optimiser unchanged; a parameter
 * without entries starts fresh. */
sx_status sx_optim_load_state(sx_optim *opt, const sx_named_tensors *st);

/* ---------------------------------------------------------------- EMA */

/* ema[i] = beta * ema[i] + (1 - beta) * params[i], in place, not recorded.
 * Shapes must match; ema tensors must be contiguous. */
sx_status sx_ema_update(int n, sx_tensor *const *ema, sx_tensor *const *params, float beta);

#ifdef __cplusplus
}
#endif
#endif
