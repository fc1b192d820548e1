/* The commands of the `lrnnx` tool, callable from tests.
 *
 * Each command takes its own arguments (argv[0] is the command name), writes its normal output to
 * out and its diagnostics to err, and returns the process exit code: 0 on success, 1 when the
 * work failed (the message from lr_last_error() goes to err), 2 for bad usage.
 */
#ifndef LR_TOOLS_H
#define LR_TOOLS_H

#include <stdio.h>

/* `lrnnx ARGS...`: dispatches argv[1] to a command; argv[0] is the program name. */
int lr_tool_main(int argc, char **argv, FILE *out, FILE *err);

/* `lrnnx info`: version, CUDA, devices, the op table. */
int lr_tool_info(int argc, char **argv, FILE *out, FILE *err);
/* `lrnnx bench matmul [--sizes 256,512] [--reps N]`: lr_matmul against cblas_sgemm. */
int lr_tool_bench(int argc, char **argv, FILE *out, FILE *err);
/* `lrnnx bench ops [--device cpu|cuda] [--n N] [--sizes ...] [--reps N]`: GB/s of elementwise ops and
 * reductions against a copy, TFLOP/s of lr_matmul against bare BLAS (tools/bench_ops.c). */
int lr_tool_bench_ops(int argc, char **argv, FILE *out, FILE *err);
/* `lrnnx bench scan [--device cpu|cuda] [--B n] [--D n] [--L n] [--N n] [--reps n] [--stat min|median]`: scan kernels' time and
 * bandwidth against a copy, per variant (tools/bench_scan.c). */
int lr_tool_bench_scan(int argc, char **argv, FILE *out, FILE *err);
/* `lrnnx bench models [--device cpu|cuda] [--grid small|lrnnx|all] [--shape B,L,H[,N]] [--models LIST]
 * [--reps N] [--warmup N] [--gen-reps N] [--what all|train|gen]`: every model's training step and generation time next to lrnnx's
 * anchors (tools/bench_models.c). */
int lr_tool_bench_models(int argc, char **argv, FILE *out, FILE *err);
/* `lrnnx safetensors FILE...`: the tensors of each file (name, dtype, shape) and its metadata. */
int lr_tool_safetensors(int argc, char **argv, FILE *out, FILE *err);
/* `lrnnx layer --model NAME --args JSON --weights W --io IO --out OUT [--device cpu|cuda]
 * [--mode forward|step]`: one registered model (nn/registry.h) on an io file, the contract of
 * ../shared/fixtures/lrnnx/FORMAT.md; see tools/layer.c. */
int lr_tool_layer(int argc, char **argv, FILE *out, FILE *err);

/* Parses "256,512,1024" into at most max positive sizes <= limit; returns the count, or -1 with a
 * message in err naming the bad entry. */
int lr_tool_parse_sizes(const char *s, long *sizes, int max, long limit, FILE *err);

#endif
