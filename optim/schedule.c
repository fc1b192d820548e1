/* Learning-rate schedules as pure functions of the step; see optim.h for the formulas
 * (HF transformers' get_cosine/linear_schedule_with_warmup, with a floor min_factor). */
#include <math.h>

#include "optim/optim.h"

double lr_schedule_factor(const lr_schedule *s, int64_t step) {
  if (!s) return 1.0;
  if (step < 0) step = 0;
  if (s->warmup_steps > 0 && step < s->warmup_steps) return (double)step / (double)s->warmup_steps;
  if (s->kind != LR_SCHED_WARMUP_COSINE && s->kind != LR_SCHED_WARMUP_LINEAR) return 1.0; /* constant */
  int64_t span = s->total_steps - s->warmup_steps;
  double progress = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
  if (progress > 1.0) progress = 1.0;
  double decay = s->kind == LR_SCHED_WARMUP_COSINE ? 0.5 * (1.0 + cos(M_PI * progress)) : 1.0 - progress;
  return s->min_factor + (1.0 - s->min_factor) * decay;
}
