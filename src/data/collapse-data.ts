/**
 * Data for the reward-collapse reproduction (Song, Cai, Lee & Su 2023), in miniature.
 *
 * Every prompt gets n = 8 completions whose ground-truth order is known by construction:
 *
 * open-ended (topic-line, kind open): evenly spaced quality = length. Completion j has j words,
 *   each one extends the previous ("Sea." → "The sea." → "The sea sings." → … →
 *   "The calm, blue sea sings softly at night."), and quality qⱼ = (j − 1)/7.
 * closed-ended (arithmetic, kind closed): two clusters. Four short, correct answers ("42",
 *   "42.", "It is 42.", "The sum is 42.") with q = 1, .97, .94, .91 and four long, hedging,
 *   wrong ones ("I think it is about 40, maybe.", …) with q = .09, .06, .03, 0. The short cluster
 *   is the better one; within a cluster shorter is better.
 *
 * The completions are then ranked by the scripted labeler with low noise (Plackett–Luce,
 * T = 0.005: adjacent items 0.03 apart swap with probability σ(−6) ≈ 0.25%), so the rankings are
 * the ground truth up to the odd human-like slip. The ground-truth quality of each completion
 * (in the written order) is kept in `meta.quality` for diagnostics.
 *
 * All completions stay under 45 characters (prompt + completion ≲ 80 characters), well inside
 * the tiny model's 128-token context.
 */
import { Rng } from '../util/rng';
import { RankingRecord } from './records';
import { ADVERBS, capitalize } from './lexicon';
import { ARITH_TEMPLATES, Pair, arithmeticPrompt, arithmeticSplit, topicPrompt, topicSplit } from './tasks';
import { LabelerMethod, rankQualities } from './labeler';

export interface CollapseOptions {
  seed: number | string;
  /** Prompts of each kind in the training and held-out sets. */
  trainPerKind: number;
  heldoutPerKind: number;
  labeler: { method: LabelerMethod; temperature: number };
}

export const DEFAULT_COLLAPSE: Omit<CollapseOptions, 'seed'> = {
  trainPerKind: 48,
  heldoutPerKind: 12,
  labeler: { method: 'plackett-luce', temperature: 0.005 },
};

export interface Candidate {
  text: string;
  quality: number;
}

const SHORT_TIMES = ['at night', 'at dawn', 'at noon'];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

/** Eight nested lines of 1..8 words about a topic; quality = (words − 1)/7. */
export function openCandidates(rng: Rng, topic: { name: string; adjectives: string[]; verbs: string[] }): Candidate[] {
  const T = topic.name;
  const i = rng.int(topic.adjectives.length);
  const a = topic.adjectives[i];
  const b = topic.adjectives[(i + 1 + rng.int(topic.adjectives.length - 1)) % topic.adjectives.length];
  const v = pick(rng, topic.verbs);
  // Short adverbs (≤ 6 letters) so that every step adds characters too, not only words.
  const adv = pick(rng, ADVERBS.filter((w) => w.length <= 6));
  const time = pick(rng, SHORT_TIMES.filter((t) => !t.includes(T)));
  const texts = [
    `${capitalize(T)}.`,
    `The ${T}.`,
    `The ${T} ${v}.`,
    `The ${a} ${T} ${v}.`,
    `The ${a} ${T} ${v} ${adv}.`,
    `The ${a} ${T} ${v} ${time}.`,
    `The ${a}, ${b} ${T} ${v} ${time}.`,
    `The ${a}, ${b} ${T} ${v} ${adv} ${time}.`,
  ];
  return texts.map((text, j) => ({ text, quality: j / 7 }));
}

/** Four short correct answers (the better cluster) and four long hedging wrong ones. */
export function closedCandidates(rng: Rng, p: Pair): Candidate[] {
  const s = p.a + p.b;
  const wrong: number[] = [];
  while (wrong.length < 4) {
    const w = s + (rng.uniform() < 0.5 ? -1 : 1) * (1 + rng.int(9));
    if (w >= 0 && w !== s && !wrong.includes(w)) wrong.push(w);
  }
  const short = [`${s}`, `${s}.`, `It is ${s}.`, `The sum is ${s}.`];
  const long = [
    `I think it is about ${wrong[0]}, maybe.`,
    `Hard to say, but it could be ${wrong[1]}.`,
    `Numbers are tricky, perhaps ${wrong[2]} or so.`,
    `I am not sure, but I would guess ${wrong[3]}.`,
  ];
  return [
    ...short.map((text, j) => ({ text, quality: 1 - 0.03 * j })),
    ...long.map((text, j) => ({ text, quality: 0.09 - 0.03 * j })),
  ];
}

function rankRecord(
  id: string,
  prompt: string,
  kind: 'open' | 'closed',
  task: string,
  candidates: Candidate[],
  rng: Rng,
  opts: CollapseOptions,
  file: string,
  line: number,
): RankingRecord {
  // Present the candidates in a random order, as a labeler would see them.
  const shown = rng.shuffle([...candidates]);
  const { order, ranks } = rankQualities(
    shown.map((c) => c.quality),
    opts.labeler.method,
    opts.labeler.temperature,
    rng,
  );
  return {
    id,
    prompt_id: id,
    prompt,
    kind,
    task,
    completions: order.map((i) => shown[i].text),
    ranks,
    source: { format: 'collapse-synthetic', file, line },
    meta: { quality: order.map((i) => Number(shown[i].quality.toFixed(6))) },
  };
}

/**
 * The training and held-out rankings. Open prompts come from the task suite's training and
 * held-out (template, topic) combinations, closed prompts from its training and held-out
 * operand pairs, so held-out prompts are genuinely new.
 */
export function buildCollapseData(opts: CollapseOptions): { train: RankingRecord[]; heldout: RankingRecord[] } {
  const topics = topicSplit(opts.seed);
  const arith = arithmeticSplit(opts.seed);
  const make = (split: 'train' | 'heldout', n: number): RankingRecord[] => {
    const rng = new Rng(`${opts.seed}:collapse-${split}`);
    const combos = rng.shuffle([...topics[split]]);
    const pairs = rng.shuffle([...arith[split]]);
    const file = `data/reward-collapse/${split}.rankings.jsonl`;
    const out: RankingRecord[] = [];
    for (let i = 0; i < n; i++) {
      // Interleave open and closed prompts.
      const [t, topic] = combos[i % combos.length];
      out.push(rankRecord(`collapse-${split}-open-${String(i).padStart(3, '0')}`, topicPrompt(topic, t), 'open', 'topic-line', openCandidates(rng, topic), rng, opts, file, out.length + 1));
      const p = pairs[i % pairs.length];
      const prompt = arithmeticPrompt(p, rng.int(ARITH_TEMPLATES.length));
      out.push(rankRecord(`collapse-${split}-closed-${String(i).padStart(3, '0')}`, prompt, 'closed', 'arithmetic', closedCandidates(rng, p), rng, opts, file, out.length + 1));
    }
    return out;
  };
  return { train: make('train', opts.trainPerKind), heldout: make('heldout', opts.heldoutPerKind) };
}
