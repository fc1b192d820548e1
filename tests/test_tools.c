/* The lrnnx tool's commands, run in-process with their output captured: dispatch and usage, exit
 * codes, `info` (version, CUDA, cpu threads, the op table), `safetensors` listings and errors,
 * `bench matmul` (argument errors, and one tiny run that checks lr_matmul against sgemm) and
 * `bench models` (argument errors; a tiny training step and an LRU generation on the CPU). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor/safetensors.h"
#include "tensor/version.h"
#include "tools/tools.h"

typedef struct {
  int rc;
  char *out, *err;
} result;

/* Runs `lrnnx ARGS...` (argv without the program name, NULL-terminated). */
static result run(const char *const *args) {
  char *argv[32] = {"lrnnx"};
  int argc = 1;
  while (args[argc - 1]) {
    argv[argc] = (char *)args[argc - 1];
    argc++;
  }
  result r;
  size_t no, ne;
  FILE *out = open_memstream(&r.out, &no), *err = open_memstream(&r.err, &ne);
  cr_assert(out && err);
  r.rc = lr_tool_main(argc, argv, out, err);
  fclose(out);
  fclose(err);
  return r;
}
#define RUN(...) run((const char *const[]){__VA_ARGS__, NULL})

static void done(result r) {
  free(r.out);
  free(r.err);
}

Test(tools, help_and_usage) {
  result r = RUN("--help");
  cr_assert_eq(r.rc, 0);
  cr_assert(strstr(r.out, "usage: lrnnx COMMAND") && strstr(r.out, "bench matmul") && strstr(r.out, "safetensors FILE"),
            "%s", r.out);
  done(r);
  r = run((const char *const[]){NULL});
  cr_assert_eq(r.rc, 2, "no command must fail");
  cr_assert(strstr(r.err, "usage: lrnnx"), "%s", r.err);
  done(r);
  r = RUN("frobnicate", "x");
  cr_assert_eq(r.rc, 2);
  cr_assert(strstr(r.err, "unknown command \"frobnicate\"") && strstr(r.err, "usage: lrnnx"), "%s", r.err);
  done(r);
  r = RUN("--version");
  cr_assert_eq(r.rc, 0);
  cr_assert_str_eq(r.out, "lrnnx " LR_VERSION "\n");
  done(r);
  r = RUN("info", "--help");
  cr_assert_eq(r.rc, 0);
  cr_assert(strstr(r.out, "usage: lrnnx info\n"), "%s", r.out);
  done(r);
}

Test(tools, info) {
  result r = RUN("info");
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_assert(strstr(r.out, "lrnnx 0.1.0\n"), "%s", r.out);
#ifdef LR_CUDA
  cr_assert(strstr(r.out, "CUDA: yes"), "%s", r.out);
  cr_assert(strstr(r.out, "  cuda  "), "%s", r.out); /* a device line, usable or with the reason */
#else
  cr_assert(strstr(r.out, "CUDA: no"), "%s", r.out);
#endif
  cr_assert(strstr(r.out, "  cpu "), "%s", r.out);
  cr_assert(strstr(r.out, "OpenMP threads"), "%s", r.out);
  /* add is in the registry from the foundation on: f32..c128, cpu forward and backward. */
  const char *add = strstr(r.out, "\n  add ");
  cr_assert_not_null(add, "%s", r.out);
  const char *eol = strchr(add + 1, '\n');
  char line[256] = {0};
  memcpy(line, add + 1, eol ? (size_t)(eol - add - 1) : strlen(add + 1));
  cr_assert(strstr(line, "f32 f64 c64 c128"), "%s", line);
  cr_assert(strstr(line, "cpu"), "%s", line);
  done(r);
  r = RUN("info", "extra");
  cr_assert_eq(r.rc, 2);
  done(r);
}

Test(tools, safetensors_listing) {
  char path[128];
  snprintf(path, sizeof path, "/tmp/lr_tools_%d.safetensors", (int)getpid());
  lr_tensor *a, *b;
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3), &a), LR_OK);
  cr_assert_eq(lr_zeros(LR_DTYPE_I64, LR_SHAPE(4), &b), LR_OK);
  cr_assert_eq(lr_safetensors_save(path, 2, (const char *[]){"weight", "ids"}, (const lr_tensor *[]){a, b},
                                   (const char *[]){"format", "pt", NULL}),
               LR_OK, "%s", lr_last_error());
  result r = RUN("safetensors", path);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_assert(strstr(r.out, "2 tensors, 56 data bytes"), "%s", r.out);
  cr_assert(strstr(r.out, "metadata format = pt"), "%s", r.out);
  const char *ids = strstr(r.out, "  ids "), *w = strstr(r.out, "  weight ");
  cr_assert(ids && w && ids < w, "sorted listing expected:\n%s", r.out);
  cr_assert(strstr(w, "F32") && strstr(w, "(2, 3)") && strstr(ids, "I64") && strstr(ids, "(4,)"), "%s", r.out);
  done(r);

  FILE *fp = fopen(path, "wb");
  fwrite("\x04\0\0\0\0\0\0\0{bad", 1, 12, fp);
  fclose(fp);
  r = RUN("safetensors", path);
  cr_assert_eq(r.rc, 1);
  cr_assert(strstr(r.err, "lr_safetensors_open") && strstr(r.err, "not valid JSON"), "%s", r.err);
  done(r);
  unlink(path);
  r = RUN("safetensors");
  cr_assert_eq(r.rc, 2);
  done(r);
}

Test(tools, parse_sizes) {
  long s[4];
  FILE *err = fopen("/dev/null", "w");
  cr_assert_eq(lr_tool_parse_sizes("256,512,1024", s, 4, 4096, err), 3);
  cr_assert(s[0] == 256 && s[1] == 512 && s[2] == 1024);
  cr_assert_eq(lr_tool_parse_sizes("7", s, 4, 4096, err), 1);
  cr_assert_eq(lr_tool_parse_sizes("", s, 4, 4096, err), -1);
  cr_assert_eq(lr_tool_parse_sizes("0", s, 4, 4096, err), -1);
  cr_assert_eq(lr_tool_parse_sizes("-4", s, 4, 4096, err), -1);
  cr_assert_eq(lr_tool_parse_sizes("8192", s, 4, 4096, err), -1);
  cr_assert_eq(lr_tool_parse_sizes("1,,2", s, 4, 4096, err), -1);
  cr_assert_eq(lr_tool_parse_sizes("1,2,", s, 4, 4096, err), -1);
  cr_assert_eq(lr_tool_parse_sizes("12x", s, 4, 4096, err), -1);
  cr_assert_eq(lr_tool_parse_sizes("1,2,3,4,5", s, 4, 4096, err), -1);
  fclose(err);
}

Test(tools, bench_argument_errors) {
  const char *const *cases[] = {
      (const char *const[]){"bench", NULL},
      (const char *const[]){"bench", "conv", NULL},
      (const char *const[]){"bench", "matmul", "--sizes", NULL},
      (const char *const[]){"bench", "matmul", "--sizes", "12,abc", NULL},
      (const char *const[]){"bench", "matmul", "--reps", "0", NULL},
      (const char *const[]){"bench", "matmul", "--fast", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    result r = run(cases[i]);
    cr_assert_eq(r.rc, 2, "case %zu: rc %d", i, r.rc);
    cr_assert_neq(r.err[0], 0, "case %zu: no message", i);
    done(r);
  }
}

Test(tools, bench_matmul_runs) {
  /* Tiny odd sizes: the run must succeed and lr_matmul must agree with sgemm (rel diff column). */
  result r = RUN("bench", "matmul", "--sizes=8,17", "--reps", "2");
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_assert(strstr(r.out, "median of 2 reps"), "%s", r.out);
  const char *row = strstr(r.out, "\n    17 ");
  cr_assert_not_null(row, "%s", r.out);
  /* Columns: n, ms, GFLOP/s, ms, GFLOP/s, ratio, rel diff. f32 sums of 17 products of values in
   * [-1, 1): any correct order of summation stays within 1e-5 of sgemm relative to the max. */
  double n, t1, g1, t2, g2, ratio, diff;
  cr_assert_eq(sscanf(row, "%lf %lf %lf %lf %lf %lf %lf", &n, &t1, &g1, &t2, &g2, &ratio, &diff), 7, "%s", row);
  cr_assert_lt(diff, 1e-5, "%s", row);
  cr_assert_null(strstr(r.out, "arena grew"), "%s", r.out);
  done(r);
}

Test(tools, bench_models_argument_errors) {
  const char *const *cases[] = {
      (const char *const[]){"bench", "models", "--device", "tpu", NULL},
      (const char *const[]){"bench", "models", "--grid", "huge", NULL},
      (const char *const[]){"bench", "models", "--shape", "2,8", NULL},
      (const char *const[]){"bench", "models", "--reps", "0", NULL},
      (const char *const[]){"bench", "models", "--what", "both", NULL},
      (const char *const[]){"bench", "models", "--fast", "1", NULL},
      (const char *const[]){"bench", "models", "--reps", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    result r = run(cases[i]);
    cr_assert_eq(r.rc, 2, "case %zu: rc %d (%s)", i, r.rc, r.err);
    cr_assert_neq(r.err[0], 0, "case %zu: no message", i);
    done(r);
  }
}

Test(tools, bench_models_runs, .timeout = 120) {
  /* One tiny training step per model (no anchor at this point: "-"), then LRU's generation at the
   * anchor's B 32, H 128, N 16 (its lrnnx column is the H200 figure only on CUDA: "-" here). */
  result r = RUN("bench", "models", "--shape", "2,8,4,4", "--reps", "1", "--warmup", "0", "--what", "train");
  cr_assert_eq(r.rc, 0, "%s", r.err);
  const char *names[] = {"| S5 |", "| LRU |", "| Mamba |", "| S4D |", "| S5-scan |", "| RGLRU |", "| S7 |"};
  for (int i = 0; i < 7; i++) {
    const char *row = strstr(r.out, names[i]);
    cr_assert_not_null(row, "no %s row in\n%s", names[i], r.out);
    cr_assert(!strstr(r.out, "failed"), "%s", r.out);
  }
  cr_assert(strstr(r.out, "| 2 | 8 | 4 | 4 | LRU |"), "%s", r.out);
  done(r);
  r = RUN("bench", "models", "--models", "LRU", "--gen-reps", "1", "--what", "gen");
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_assert(strstr(r.out, "| 128 | LRU |") && strstr(r.out, "| 512 | LRU |") && !strstr(r.out, "failed"), "%s", r.out);
  done(r);
}
