/* Command dispatch and usage of the `lrnnx` tool. */
#include <stdlib.h>
#include <string.h>

#include "tensor/version.h"
#include "tools/tools.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv, FILE *out, FILE *err);
  const char *args, *help;
} command;

/* `bench ops` lives in bench_ops.c, the other benchmarks in bench.c. */
static int bench_any(int argc, char **argv, FILE *out, FILE *err) {
  if (argc >= 2 && !strcmp(argv[1], "ops")) return lr_tool_bench_ops(argc, argv, out, err);
  if (argc >= 2 && !strcmp(argv[1], "scan")) return lr_tool_bench_scan(argc, argv, out, err);
  if (argc >= 2 && !strcmp(argv[1], "models")) return lr_tool_bench_models(argc, argv, out, err);
  return lr_tool_bench(argc, argv, out, err);
}

static const command commands[] = {
    {"info", lr_tool_info, "", "version, CUDA support, devices and the table of registered ops"},
    {"bench", bench_any,
     "matmul [--sizes 256,512,1024,2048] [--reps N]\n        | ops [--device cpu|cuda] [--n N] [--sizes 1024,2048,4096] [--reps N]\n"
     "        | scan [--device cpu|cuda] [--B 8] [--D 2048] [--L 4096] [--N 16] [--reps N]\n"
     "        | models [--device cpu|cuda] [--grid small|lrnnx|all] [--shape B,L,H[,N]]\n                 [--models S5,LRU,Mamba,...] [--reps N] [--warmup N]\n"
     "                 [--gen-reps N] [--what all|train|gen]",
     "matmul: GFLOP/s of lr_matmul against cblas_sgemm on square f32 matrices; ops: GB/s of elementwise ops and\n"
     "      reductions against a copy, TFLOP/s of lr_matmul against bare sgemm (cuBLAS or OpenBLAS);\n"
     "      scan: forward/backward ms and GB/s of the scan kernels per variant against a copy (CPU: speed-up over 1 thread);\n"
     "      models: each model's training step (forward + backward) and generation time on lrnnx's grid, next to lrnnx's\n"
     "      figures (../shared/anchors.md); CPU default grid B 8, L 512, H 128, CUDA default lrnnx's four points"},
    {"safetensors", lr_tool_safetensors, "FILE...", "list the tensors (name, dtype, shape) and metadata of a file"},
    {"layer", lr_tool_layer,
     "--model NAME --args JSON --weights W --io IO --out OUT [--device cpu|cuda] [--mode forward|step]",
     "run a registered model on the x of IO with weights W; write y (and grad.x, grad.<param> when IO has g) to OUT"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "lrnnx %s: linear RNNs in C\n\nusage: lrnnx COMMAND [ARGS]\n\ncommands:\n", LR_VERSION);
  for (int i = 0; i < N_COMMANDS; i++) {
    fprintf(f, "  %s%s%s\n      %s\n", commands[i].name, *commands[i].args ? " " : "", commands[i].args, commands[i].help);
  }
  fprintf(f, "\n  lrnnx COMMAND --help   help for one command\n  lrnnx --version        the version\n");
}

int lr_tool_main(int argc, char **argv, FILE *out, FILE *err) {
  if (argc < 2) {
    usage(err);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(out);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    fprintf(out, "lrnnx %s\n", LR_VERSION);
    return 0;
  }
  for (int i = 0; i < N_COMMANDS; i++)
    if (!strcmp(cmd, commands[i].name)) {
      for (int k = 2; k < argc; k++)
        if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
          fprintf(out, "usage: lrnnx %s%s%s\n  %s\n", commands[i].name, *commands[i].args ? " " : "", commands[i].args,
                  commands[i].help);
          return 0;
        }
      return commands[i].run(argc - 1, argv + 1, out, err);
    }
  fprintf(err, "lrnnx: unknown command \"%s\"\n\n", cmd);
  usage(err);
  return 2;
}

int lr_tool_parse_sizes(const char *s, long *sizes, int max, long limit, FILE *err) {
  int n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v <= 0 || v > limit || (*end && *end != ',')) {
      fprintf(err, "lrnnx: bad size \"%.*s\" in \"%s\": expected positive integers <= %ld separated by commas\n",
              (int)strcspn(p, ","), p, s, limit);
      return -1;
    }
    if (n == max) {
      fprintf(err, "lrnnx: more than %d sizes in \"%s\"\n", max, s);
      return -1;
    }
    sizes[n++] = v;
    p = *end ? end + 1 : end;
    if (*end && !*p) {
      fprintf(err, "lrnnx: trailing comma in \"%s\"\n", s);
      return -1;
    }
  }
  if (n == 0) fprintf(err, "lrnnx: no sizes in \"%s\"\n", s);
  return n ? n : -1;
}
