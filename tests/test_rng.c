/* The Philox RNG: known-answer vectors, the documented stream layout (which the CUDA side must
 * reproduce bit for bit), continuation across calls, strided targets, and the distributions.
 *
 * Statistical bounds are 5 standard errors of the estimator for n = 2^20 samples: a correct
 * generator fails one with probability below 1e-6 for a fresh seed, and the seeds are fixed, so
 * the tests are deterministic. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tensor/rng.h"

#define NS (1 << 20)

/* Random123's kat_vectors for philox4x32_10 (as copied into D. E. Shaw Research's
 * fs123/core123/ut/ut_philox.cpp): counter[4], key[2] -> out[4]. */
Test(rng, philox_known_answers) {
  const uint32_t kat[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
       0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
       0x24126ea1},
  };
  for (int v = 0; v < 3; v++) {
    uint32_t out[4];
    lr_philox4x32_10(kat[v], kat[v] + 4, out);
    for (int j = 0; j < 4; j++)
      cr_expect_eq(out[j], kat[v][6 + j], "vector %d word %d: %08x, expected %08x", v, j, out[j], kat[v][6 + j]);
  }
  uint32_t out[4];
  lr_philox4x32(0, 0, out); /* the seed/counter wrapper with zeros is the first vector */
  cr_expect_eq(out[0], 0x6627e8d5u);
  cr_expect_eq(out[3], 0x9b00dbd8u);
  /* the wrapper's word layout: ctr = (lo, hi, 0, 0), key = (lo, hi) */
  uint64_t seed = 0x299f31d0a4093822ull, ctr = 0x85a308d3243f6a88ull;
  uint32_t ref[4];
  lr_philox4x32(seed, ctr, out);
  lr_philox4x32_10((const uint32_t[]){0x243f6a88, 0x85a308d3, 0, 0}, (const uint32_t[]){0xa4093822, 0x299f31d0}, ref);
  cr_expect_arr_eq(out, ref, sizeof out);
}

static uint32_t draw_ref(uint64_t seed, uint64_t d) {
  uint32_t w[4];
  lr_philox4x32(seed, d / 4, w);
  return w[d % 4];
}

/* The values the documentation in rng.c promises, recomputed here by hand from raw draws. */
Test(rng, documented_layout_uniform) {
  lr_rng r;
  lr_rng_init(&r, 1234);
  r.offset = 6; /* not a multiple of 4: draws straddle blocks */
  lr_tensor *a, *b;
  cr_assert_eq(lr_empty(LR_DTYPE_F32, LR_SHAPE(7), &a), LR_OK);
  cr_assert_eq(lr_rand_uniform_(a, -2.0, 3.0, &r), LR_OK);
  cr_assert_eq(r.offset, 13u);
  for (int i = 0; i < 7; i++) {
    float u = (float)(draw_ref(1234, 6 + i) >> 8) * 0x1p-24f;
    float want = -2.0f + 5.0f * u;
    cr_expect_eq((float)lr_tensor_get(a, i), want, "f32 element %d", i);
  }
  cr_assert_eq(lr_empty(LR_DTYPE_F64, LR_SHAPE(5), &b), LR_OK);
  cr_assert_eq(lr_rand_uniform_(b, 0.0, 1.0, &r), LR_OK);
  cr_assert_eq(r.offset, 23u);
  for (int i = 0; i < 5; i++) {
    uint64_t x = ((uint64_t)draw_ref(1234, 13 + 2 * i + 1) << 32) | draw_ref(1234, 13 + 2 * i);
    cr_expect_eq(lr_tensor_get(b, i), (double)(x >> 11) * 0x1p-53, "f64 element %d", i);
  }
}

Test(rng, documented_layout_normal_bernoulli_int) {
  lr_rng r;
  lr_rng_init(&r, 99);
  lr_tensor *n, *bern, *ri;
  cr_assert_eq(lr_empty(LR_DTYPE_F64, LR_SHAPE(3), &n), LR_OK);
  cr_assert_eq(lr_rand_normal_(n, 1.0, 2.0, &r), LR_OK);
  cr_assert_eq(r.offset, 8u, "3 scalars -> 2 pairs x 4 draws");
  for (int i = 0; i < 3; i++) {
    uint64_t p = (uint64_t)i / 2;
    uint64_t x1 = ((uint64_t)draw_ref(99, 4 * p + 1) << 32) | draw_ref(99, 4 * p);
    uint64_t x2 = ((uint64_t)draw_ref(99, 4 * p + 3) << 32) | draw_ref(99, 4 * p + 2);
    double u1 = (double)((x1 >> 11) + 1) * 0x1p-53, u2 = (double)(x2 >> 11) * 0x1p-53;
    double rr = sqrt(-2 * log(u1)), ang = 2 * M_PI * u2;
    double want = 1.0 + 2.0 * rr * (i % 2 ? sin(ang) : cos(ang));
    /* libm vs the library's own log/sincos: a few ulp apart */
    cr_expect(fabs(lr_tensor_get(n, i) - want) < 1e-13 * (1 + fabs(want)), "normal %d: %.17g vs %.17g", i,
              lr_tensor_get(n, i), want);
  }
  cr_assert_eq(lr_empty(LR_DTYPE_BOOL, LR_SHAPE(9), &bern), LR_OK);
  cr_assert_eq(lr_rand_bernoulli_(bern, 0.4, &r), LR_OK);
  cr_assert_eq(r.offset, 17u);
  for (int i = 0; i < 9; i++)
    cr_expect_eq(lr_tensor_get(bern, i), (double)draw_ref(99, 8 + i) * 0x1p-32 < 0.4 ? 1.0 : 0.0, "bern %d", i);
  cr_assert_eq(lr_empty(LR_DTYPE_I32, LR_SHAPE(6), &ri), LR_OK);
  cr_assert_eq(lr_rand_int_(ri, -5, 12, &r), LR_OK);
  cr_assert_eq(r.offset, 23u);
  for (int i = 0; i < 6; i++)
    cr_expect_eq(lr_tensor_get(ri, i), (double)(-5 + (int64_t)(((uint64_t)draw_ref(99, 17 + i) * 17u) >> 32)));
}

/* The library's log and sin/cos (no libm, for bitwise GPU parity) against libm. */
Test(rng, own_log_and_sincos_accuracy) {
  double worst_log = 0, worst_sc = 0;
  for (int i = 1; i <= 200000; i++) {
    double u = (double)i / 200001.0;
    double l = lr_philox_log(u), want = log(u);
    worst_log = fmax(worst_log, fabs(l - want) / fmax(fabs(want), 1e-300));
    double s, c;
    lr_philox_sincos2pi(u, &s, &c);
    worst_sc = fmax(worst_sc, fmax(fabs(s - sin(2 * M_PI * u)), fabs(c - cos(2 * M_PI * u))));
  }
  cr_expect_eq(lr_philox_log(1.0), 0.0);
  cr_expect(fabs(lr_philox_log(0x1p-53) - log(0x1p-53)) < 1e-14);
  /* log: a few ulp relative; sincos: absolute, the argument 2 pi u itself carries ~4e-16 */
  cr_expect(worst_log < 4e-16, "log rel err %g", worst_log);
  cr_expect(worst_sc < 2e-15, "sincos abs err %g", worst_sc);
}

Test(rng, same_seed_same_stream_and_different_seed_differs) {
  lr_tensor *a, *b, *c;
  lr_empty(LR_DTYPE_F32, LR_SHAPE(64), &a);
  lr_empty(LR_DTYPE_F32, LR_SHAPE(64), &b);
  lr_empty(LR_DTYPE_F32, LR_SHAPE(64), &c);
  lr_rng r1, r2, r3;
  lr_rng_init(&r1, 7);
  lr_rng_init(&r2, 7);
  lr_rng_init(&r3, 8);
  lr_rand_normal_(a, 0, 1, &r1);
  lr_rand_normal_(b, 0, 1, &r2);
  lr_rand_normal_(c, 0, 1, &r3);
  cr_expect_eq(memcmp(a->data, b->data, 64 * sizeof(float)), 0);
  int same = 0;
  for (int i = 0; i < 64; i++) same += ((float *)a->data)[i] == ((float *)c->data)[i];
  cr_expect_lt(same, 2);
  cr_expect_eq(r1.offset, 64u);
}

/* Two calls continue one stream: (5) then (7) equals (12), for every kind. */
Test(rng, offsets_continue_the_stream) {
  const lr_dtype dts[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128};
  for (int kind = 0; kind < 4; kind++) {
    for (int d = 0; d < 4; d++) {
      lr_dtype dt = kind == 2 ? (d < 2 ? LR_DTYPE_BOOL : LR_DTYPE_F64) : kind == 3 ? (d < 2 ? LR_DTYPE_I32 : LR_DTYPE_I64) : dts[d];
      lr_tensor *x, *y, *z;
      lr_empty(dt, LR_SHAPE(4), &x);
      lr_empty(dt, LR_SHAPE(6), &y);
      lr_empty(dt, LR_SHAPE(10), &z);
      lr_rng r, q;
      lr_rng_init(&r, 42);
      lr_rng_init(&q, 42);
      for (int pass = 0; pass < 3; pass++) {
        lr_tensor *t = pass == 0 ? x : pass == 1 ? y : z;
        lr_rng *g = pass < 2 ? &r : &q;
        switch (kind) {
          case 0: cr_assert_eq(lr_rand_uniform_(t, -1, 1, g), LR_OK); break;
          case 1: cr_assert_eq(lr_rand_normal_(t, 0, 1, g), LR_OK); break; /* even sizes: no spare */
          case 2: cr_assert_eq(lr_rand_bernoulli_(t, 0.5, g), LR_OK); break;
          default: cr_assert_eq(lr_rand_int_(t, 0, 1000, g), LR_OK); break;
        }
      }
      cr_expect_eq(r.offset, q.offset);
      for (int i = 0; i < 10; i++) {
        double re, im, want_re, want_im;
        lr_tensor_get_c(i < 4 ? x : y, i < 4 ? i : i - 4, &re, &im);
        lr_tensor_get_c(z, i, &want_re, &want_im);
        cr_expect(re == want_re && im == want_im, "kind %d dtype %s element %d", kind, lr_dtype_name(dt), i);
      }
    }
  }
}

/* A strided target gets the value of its logical index, as a contiguous one would. */
Test(rng, strided_targets) {
  lr_tensor *base, *v, *c;
  cr_assert_eq(lr_empty(LR_DTYPE_F64, LR_SHAPE(5, 3), &base), LR_OK);
  cr_assert_eq(lr_tensor_transpose(base, 0, 1, &v), LR_OK); /* (3, 5), strides (1, 3) */
  cr_assert_eq(lr_empty(LR_DTYPE_F64, LR_SHAPE(3, 5), &c), LR_OK);
  for (int kind = 0; kind < 3; kind++) {
    lr_rng r, q;
    lr_rng_init(&r, 5);
    lr_rng_init(&q, 5);
    if (kind == 0) { lr_rand_uniform_(v, 0, 1, &r); lr_rand_uniform_(c, 0, 1, &q); }
    if (kind == 1) { lr_rand_normal_(v, 0, 1, &r); lr_rand_normal_(c, 0, 1, &q); }
    if (kind == 2) { lr_rand_bernoulli_(v, 0.5, &r); lr_rand_bernoulli_(c, 0.5, &q); }
    for (int i = 0; i < 15; i++) cr_expect_eq(lr_tensor_get(v, i), lr_tensor_get(c, i), "kind %d element %d", kind, i);
  }
  /* a column (stride 5 in a (4, 5) tensor), and an i64 randint view */
  lr_tensor *m, *col, *mi, *coli, *ci;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(4, 5), &m);
  lr_tensor_narrow(m, 1, 2, 1, &col);
  lr_rng r;
  lr_rng_init(&r, 3);
  cr_assert_eq(lr_rand_uniform_(col, 1, 2, &r), LR_OK);
  for (int i = 0; i < 20; i++) {
    double x = lr_tensor_get(m, i);
    if (i % 5 == 2) cr_expect(x >= 1 && x < 2);
    else cr_expect_eq(x, 0.0, "element %d outside the column was written", i);
  }
  lr_zeros(LR_DTYPE_I64, LR_SHAPE(3, 4), &mi);
  lr_tensor_transpose(mi, 0, 1, &coli);
  lr_zeros(LR_DTYPE_I64, LR_SHAPE(4, 3), &ci);
  lr_rng a, b;
  lr_rng_init(&a, 11);
  lr_rng_init(&b, 11);
  lr_rand_int_(coli, 0, 100, &a);
  lr_rand_int_(ci, 0, 100, &b);
  for (int i = 0; i < 12; i++) cr_expect_eq(lr_tensor_get(coli, i), lr_tensor_get(ci, i));
}

static void moments(const lr_tensor *t, double *m1, double *m2, double *m4) {
  int64_t n = lr_numel(t) * (lr_dtype_is_complex(t->dtype) ? 2 : 1);
  double s1 = 0, s2 = 0, s4 = 0;
  for (int64_t i = 0; i < n; i++) {
    double x = t->dtype == LR_DTYPE_F32 ? ((float *)t->data)[i] : ((double *)t->data)[i];
    s1 += x;
  }
  double mu = s1 / n;
  for (int64_t i = 0; i < n; i++) {
    double x = t->dtype == LR_DTYPE_F32 ? ((float *)t->data)[i] : ((double *)t->data)[i];
    double d = x - mu;
    s2 += d * d;
    s4 += d * d * d * d;
  }
  *m1 = mu;
  *m2 = s2 / n;
  *m4 = s4 / n;
}

/* U(0,1): mean 1/2, var 1/12; se(mean) = sqrt(1/12/n) = 2.8e-4, se(var) = sqrt((1/80 - 1/144)/n)
 * = 7.3e-5. Also: every value in [0, 1), and the range [lo, hi) is respected. */
Test(rng, uniform_moments) {
  const lr_dtype dts[] = {LR_DTYPE_F32, LR_DTYPE_F64};
  for (int d = 0; d < 2; d++) {
    lr_tensor *t;
    lr_empty(dts[d], LR_SHAPE(NS), &t);
    lr_rng r;
    lr_rng_init(&r, 2024 + d);
    cr_assert_eq(lr_rand_uniform_(t, 0, 1, &r), LR_OK);
    double m1, m2, m4;
    moments(t, &m1, &m2, &m4);
    cr_expect(fabs(m1 - 0.5) < 5 * 2.82e-4, "%s mean %g", lr_dtype_name(dts[d]), m1);
    cr_expect(fabs(m2 - 1.0 / 12) < 5 * 7.35e-5, "%s var %g", lr_dtype_name(dts[d]), m2);
    double lo = 1, hi = -1;
    for (int64_t i = 0; i < NS; i++) {
      double x = lr_tensor_get(t, i);
      lo = fmin(lo, x);
      hi = fmax(hi, x);
    }
    cr_expect(lo >= 0 && hi < 1);
    cr_expect(lo < 1e-4 && hi > 1 - 1e-4, "the range is covered: [%g, %g]", lo, hi);
  }
  lr_tensor *t;
  lr_empty(LR_DTYPE_F32, LR_SHAPE(4096), &t);
  lr_rng r;
  lr_rng_init(&r, 1);
  lr_rand_uniform_(t, -3, -2.5, &r);
  for (int i = 0; i < 4096; i++) cr_expect(lr_tensor_get(t, i) >= -3 && lr_tensor_get(t, i) < -2.5);
}

/* N(mu, s^2) with mu = 0.5, s = 2: se(mean) = s/sqrt(n) = 2e-3, se(var) = s^2 sqrt(2/n) = 5.5e-3,
 * kurtosis m4/var^2 = 3 with se about sqrt(96/n) = 9.6e-3 (checks the Box-Muller shape), and the
 * cos/sin halves of a pair are uncorrelated (se 1/sqrt(n/2) = 1.4e-3). Complex: each part has
 * variance s^2/2 (PyTorch's convention). */
Test(rng, normal_moments) {
  const lr_dtype dts[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C128};
  for (int d = 0; d < 3; d++) {
    lr_tensor *t;
    int64_t n = dts[d] == LR_DTYPE_C128 ? NS / 2 : NS;
    lr_empty(dts[d], 1, &n, &t);
    lr_rng r;
    lr_rng_init(&r, 77 + d);
    cr_assert_eq(lr_rand_normal_(t, 0.5, 2.0, &r), LR_OK);
    double m1, m2, m4, var = dts[d] == LR_DTYPE_C128 ? 2.0 : 4.0;
    moments(t, &m1, &m2, &m4);
    cr_expect(fabs(m1 - 0.5) < 5 * sqrt(var / NS), "%s mean %g", lr_dtype_name(dts[d]), m1);
    cr_expect(fabs(m2 - var) < 5 * var * sqrt(2.0 / NS), "%s var %g", lr_dtype_name(dts[d]), m2);
    cr_expect(fabs(m4 / (m2 * m2) - 3.0) < 5 * 9.6e-3, "%s kurtosis %g", lr_dtype_name(dts[d]), m4 / (m2 * m2));
    const double *p = t->data; /* pairs: consecutive scalars */
    if (dts[d] != LR_DTYPE_F32) {
      double c = 0;
      for (int64_t i = 0; i < NS; i += 2) c += (p[i] - 0.5) * (p[i + 1] - 0.5);
      c /= (NS / 2) * var;
      cr_expect(fabs(c) < 5 * sqrt(2.0 / NS), "%s pair correlation %g", lr_dtype_name(dts[d]), c);
    }
  }
}

/* Rate p = 0.3: se = sqrt(p(1-p)/n) = 4.5e-4. p = 0 and p = 1 are exact. */
Test(rng, bernoulli_rate) {
  lr_tensor *t;
  lr_empty(LR_DTYPE_BOOL, LR_SHAPE(NS), &t);
  lr_rng r;
  lr_rng_init(&r, 5);
  cr_assert_eq(lr_rand_bernoulli_(t, 0.3, &r), LR_OK);
  int64_t ones = 0;
  for (int64_t i = 0; i < NS; i++) ones += ((uint8_t *)t->data)[i];
  double rate = (double)ones / NS;
  cr_expect(fabs(rate - 0.3) < 5 * sqrt(0.21 / NS), "rate %g", rate);
  lr_tensor *f;
  lr_empty(LR_DTYPE_F32, LR_SHAPE(1000), &f);
  lr_rand_bernoulli_(f, 1.0, &r);
  for (int i = 0; i < 1000; i++) cr_expect_eq(lr_tensor_get(f, i), 1.0);
  lr_rand_bernoulli_(f, 0.0, &r);
  for (int i = 0; i < 1000; i++) cr_expect_eq(lr_tensor_get(f, i), 0.0);
}

/* Every value in [lo, hi), every value hit, counts within 5 se of n/R; and a wide i64 range. */
Test(rng, randint_range) {
  lr_tensor *t;
  lr_empty(LR_DTYPE_I32, LR_SHAPE(70000), &t);
  lr_rng r;
  lr_rng_init(&r, 6);
  cr_assert_eq(lr_rand_int_(t, -3, 4, &r), LR_OK);
  int64_t cnt[7] = {0};
  for (int i = 0; i < 70000; i++) {
    int32_t v = ((int32_t *)t->data)[i];
    cr_assert(v >= -3 && v < 4, "value %d", v);
    cnt[v + 3]++;
  }
  for (int k = 0; k < 7; k++) cr_expect(fabs(cnt[k] - 10000.0) < 5 * sqrt(70000 * (1 / 7.0) * (6 / 7.0)), "count %lld", (long long)cnt[k]);
  lr_tensor *w;
  lr_empty(LR_DTYPE_I64, LR_SHAPE(10000), &w);
  int64_t lo = INT64_MIN / 2, hi = INT64_MAX / 2;
  cr_assert_eq(lr_rand_int_(w, lo, hi, &r), LR_OK);
  int neg = 0;
  for (int i = 0; i < 10000; i++) {
    int64_t v = ((int64_t *)w->data)[i];
    cr_assert(v >= lo && v < hi);
    neg += v < 0;
  }
  cr_expect(neg > 4750 && neg < 5250, "half negative: %d", neg); /* se 50 */
  lr_tensor *full;
  lr_empty(LR_DTYPE_I64, LR_SHAPE(4), &full);
  cr_expect_eq(lr_rand_int_(full, INT64_MIN, INT64_MAX, &r), LR_OK);
}

Test(rng, randperm_is_a_permutation) {
  lr_rng r;
  lr_rng_init(&r, 10);
  lr_tensor *p, *q;
  cr_assert_eq(lr_randperm(1000, &r, &p), LR_OK);
  cr_assert_eq(p->dtype, LR_DTYPE_I64);
  cr_assert_eq(r.offset, 999u);
  static char seen[1000];
  memset(seen, 0, sizeof seen);
  int fixed = 0;
  for (int i = 0; i < 1000; i++) {
    int64_t v = ((int64_t *)p->data)[i];
    cr_assert(v >= 0 && v < 1000);
    cr_assert(!seen[v], "%lld twice", (long long)v);
    seen[v] = 1;
    fixed += v == i;
  }
  cr_expect_lt(fixed, 10, "fixed points (expected about 1): %d", fixed);
  cr_assert_eq(lr_randperm(1000, &r, &q), LR_OK);
  cr_expect_neq(memcmp(p->data, q->data, 1000 * 8), 0, "the stream moved on");
  cr_assert_eq(lr_randperm(0, &r, &q), LR_OK);
  cr_expect_eq(q->shape[0], 0);
  cr_assert_eq(lr_randperm(1, &r, &q), LR_OK);
  cr_expect_eq(((int64_t *)q->data)[0], 0);
  /* Each of the 6 permutations of 3 appears about equally often: se sqrt(6000 * 5/36) = 28.9. */
  int cnt[6] = {0};
  for (int k = 0; k < 6000; k++) {
    lr_randperm(3, &r, &q);
    int64_t *a = q->data;
    cnt[a[0] * 2 + (a[1] > a[2])]++;
  }
  for (int k = 0; k < 6; k++) cr_expect(abs(cnt[k] - 1000) < 5 * 29, "perm %d: %d", k, cnt[k]);
}

Test(rng, errors) {
  lr_rng r;
  lr_rng_init(&r, 0);
  lr_tensor *f, *i, *p = NULL;
  lr_empty(LR_DTYPE_F32, LR_SHAPE(3), &f);
  lr_empty(LR_DTYPE_I64, LR_SHAPE(3), &i);
  cr_expect_eq(lr_rand_uniform_(i, 0, 1, &r), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_rand_uniform_: t is i64, expected f32, f64, c64 or c128");
  cr_expect_eq(lr_rand_uniform_(f, 1, 0, &r), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "[1, 0)"), "%s", lr_last_error());
  cr_expect_eq(lr_rand_uniform_(f, 0, INFINITY, &r), LR_ERR_ARG);
  cr_expect_eq(lr_rand_uniform_(NULL, 0, 1, &r), LR_ERR_ARG);
  cr_expect_eq(lr_rand_uniform_(f, 0, 1, NULL), LR_ERR_ARG);
  cr_expect_eq(lr_rand_normal_(f, 0, -1, &r), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "lr_rand_normal_") && strstr(lr_last_error(), "-1"), "%s", lr_last_error());
  cr_expect_eq(lr_rand_bernoulli_(f, 1.5, &r), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_rand_bernoulli_: p = 1.5 is not in [0, 1]");
  cr_expect_eq(lr_rand_bernoulli_(i, 0.5, &r), LR_ERR_DTYPE);
  cr_expect_eq(lr_rand_int_(i, 5, 5, &r), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_rand_int_: empty range [5, 5)");
  cr_expect_eq(lr_rand_int_(f, 0, 5, &r), LR_ERR_DTYPE);
  lr_tensor *i32;
  lr_empty(LR_DTYPE_I32, LR_SHAPE(3), &i32);
  cr_expect_eq(lr_rand_int_(i32, 0, 1ll << 40, &r), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "i32"), "%s", lr_last_error());
  cr_expect_eq(lr_randperm(-1, &r, &p), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_randperm: n = -1 is not in [0, 2^32]");
  cr_expect_null(p);
  cr_expect_eq(r.offset, 0u, "failed calls consume nothing");
}
