/**
 * A seeded random number generator, the single source of randomness in rlhf. Built on
 * seedrandom's ARC4 generator, whose state can be saved and restored (for resume after a crash).
 */
import seedrandom from 'seedrandom';

export type RngState = object;

export class Rng {
  private prng: seedrandom.PRNG & { state(): object };
  private spare: number | undefined;

  constructor(seed: number | string, state?: RngState) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const opts = { state: (state ?? true) as any };
    this.prng = seedrandom(state ? '' : String(seed), opts) as seedrandom.PRNG & { state(): object };
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.prng.double();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.prng.double() * n);
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Gumbel(0, 1) noise, for Plackett–Luce sampling. */
  gumbel(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return -Math.log(-Math.log(u));
  }

  /** Index drawn from unnormalised non-negative weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i];
    let u = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    // Floating-point leftovers: return the last index with positive weight.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
    return weights.length - 1;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  /** The generator's state (JSON-serialisable), to save in checkpoints. */
  state(): RngState {
    return { arc4: this.prng.state(), spare: this.spare ?? null };
  }

  static fromState(s: RngState): Rng {
    const st = s as { arc4: object; spare: number | null };
    const r = new Rng(0, st.arc4);
    r.spare = st.spare ?? undefined;
    return r;
  }
}
