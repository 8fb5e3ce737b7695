/**
 * The KL coefficient β of the penalised reward r_t = −β·kl_t (+ score at the last token).
 *
 * FixedKLController keeps β constant. AdaptiveKLController is the proportional controller of
 * Ziegler et al. 2019 (lm-human-preferences `AdaptiveKLController`, TRL ≤ 0.11 the same code):
 *   e = clip(KL / target − 1, −0.2, 0.2)
 *   β ← β · (1 + e · n / horizon)
 * where KL is the batch's mean over sequences of the KL summed over each sequence's tokens
 * (meanSequenceKL in ./math) and n the number of sequences in that batch (TRL passes
 * batch_size × processes, lm-human-preferences its rollout batch size). β moves by at most
 * 0.2·n/horizon per update, so `horizon` is roughly how many samples it takes to adapt.
 *
 * Arithmetic is in float64 JS numbers, like TRL's numpy/Python floats.
 * `state()` / `klControllerFromState()` round-trip the controller for checkpoints.
 */

export type KLControllerState =
  | { kind: 'fixed'; value: number }
  | { kind: 'adaptive'; value: number; target: number; horizon: number };

export interface KLController {
  /** The current β. */
  readonly value: number;
  /** Feed the KL of the batch just collected and its number of sequences. */
  update(currentKL: number, nSteps: number): void;
  /** Everything needed to resume. */
  state(): KLControllerState;
}

function checkCoefficient(where: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${where}: the KL coefficient must be a finite number ≥ 0, got ${value}`);
  }
}

function checkUpdate(where: string, currentKL: number, nSteps: number): void {
  // A NaN KL would turn β into NaN and every later reward with it: refuse it loudly.
  if (!Number.isFinite(currentKL)) throw new Error(`${where}.update: the KL must be finite, got ${currentKL}`);
  if (!Number.isFinite(nSteps) || nSteps < 0) {
    throw new Error(`${where}.update: nSteps must be a finite number ≥ 0, got ${nSteps}`);
  }
}

export class FixedKLController implements KLController {
  private readonly coef: number;

  constructor(klCoef: number) {
    checkCoefficient('FixedKLController', klCoef);
    this.coef = klCoef;
  }

  get value(): number {
    return this.coef;
  }

  update(currentKL: number, nSteps: number): void {
    checkUpdate('FixedKLController', currentKL, nSteps);
  }

  state(): KLControllerState {
    return { kind: 'fixed', value: this.coef };
  }
}

export class AdaptiveKLController implements KLController {
  private coef: number;
  readonly target: number;
  readonly horizon: number;

  /**
   * @param initKLCoef β₀ (TRL `init_kl_coef`, default 0.2)
   * @param target     the KL (nats per sequence) to steer towards (TRL `target`, default 6)
   * @param horizon    samples over which β adapts (TRL `horizon`, default 10000)
   */
  constructor(initKLCoef: number, target: number, horizon: number) {
    checkCoefficient('AdaptiveKLController', initKLCoef);
    if (!Number.isFinite(target) || target <= 0) {
      throw new Error(`AdaptiveKLController: target must be a finite number > 0, got ${target}`);
    }
    if (!Number.isFinite(horizon) || horizon <= 0) {
      throw new Error(`AdaptiveKLController: horizon must be a finite number > 0, got ${horizon}`);
    }
    this.coef = initKLCoef;
    this.target = target;
    this.horizon = horizon;
  }

  get value(): number {
    return this.coef;
  }

  update(currentKL: number, nSteps: number): void {
    checkUpdate('AdaptiveKLController', currentKL, nSteps);
    const proportionalError = Math.min(Math.max(currentKL / this.target - 1, -0.2), 0.2);
    const mult = 1 + (proportionalError * nSteps) / this.horizon;
    this.coef *= mult;
  }

  state(): KLControllerState {
    return { kind: 'adaptive', value: this.coef, target: this.target, horizon: this.horizon };
  }
}

/** Rebuild a controller from `state()` (e.g. read back from a checkpoint's JSON). */
export function klControllerFromState(state: KLControllerState): KLController {
  if (state.kind === 'fixed') return new FixedKLController(state.value);
  if (state.kind === 'adaptive') return new AdaptiveKLController(state.value, state.target, state.horizon);
  throw new Error(`klControllerFromState: unknown kind '${(state as { kind: unknown }).kind}' (expected 'fixed' or 'adaptive')`);
}
