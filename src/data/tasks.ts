/**
 * The shipped task suite: three tasks in which both collapse phenomena can happen on a CPU.
 *
 *   arithmetic     (closed)  "What is 17 + 25?\n"                        → "42"
 *   random-number  (open)    "Tell me a random integer between 0 and 99.\n" → "58" (uniform)
 *   topic-line     (open)    "Write a line about the sea.\n"              → "The calm sea sings softly."
 *
 * Everything here is a pure function of a seed: `buildTaskSuite(seed)` returns the records of every
 * file of data/tasks/, and make.ts writes them. Each file draws from its own generator seeded
 * `${seed}:${name}`, so changing one file's recipe does not reshuffle the others.
 *
 * Held out: 20% of the arithmetic operand pairs (never in sft-train, prompts-train or the corpus),
 * two of the eight random-number paraphrases, and 12 of the 64 (template, topic) combinations.
 * Prompts end with "\n" (the model sees prompt + response + EOS verbatim).
 */
import { Rng } from '../util/rng';
import { Kind, PromptRecord, SftRecord } from './records';
import { ADVERBS, FEELINGS, TIMES, TOPICS, Topic, article, capitalize } from './lexicon';

export const TASKS = ['arithmetic', 'random-number', 'topic-line'] as const;
export type TaskName = (typeof TASKS)[number];

export const TASK_KIND: Record<TaskName, Kind> = {
  arithmetic: 'closed',
  'random-number': 'open',
  'topic-line': 'open',
};

/** Operands of the arithmetic task are 0..ARITH_MAX (sums up to 98). */
export const ARITH_MAX = 49;
export const ARITH_TEMPLATES = ['What is {a} + {b}?\n', 'What is {a} plus {b}?\n', 'Add {a} and {b}.\n', 'Compute {a} + {b}.\n'];

/** The random-number range is fixed so that probes can compute the exact distribution over it. */
export const NUMBER_LOW = 0;
export const NUMBER_HIGH = 99;
export const NUMBER_PROMPTS_TRAIN = [
  'Tell me a random integer between 0 and 99.\n',
  'Pick a random number from 0 to 99.\n',
  'Give me a random number between 0 and 99.\n',
  'Choose a random integer from 0 to 99.\n',
  'Name a random number between 0 and 99.\n',
  'Say a random integer from 0 to 99.\n',
];
export const NUMBER_PROMPTS_HELDOUT = ['Think of a random number between 0 and 99.\n', 'I need a random integer from 0 to 99.\n'];

export const TOPIC_TEMPLATES = [
  'Write a line about the {t}.\n',
  'Write a sentence about the {t}.\n',
  'Say something about the {t}.\n',
  'Tell me one line about the {t}.\n',
];

/** How many records of each task go into each file. */
export const SIZES = {
  sftTrain: { arithmetic: 1000, 'random-number': 1000, 'topic-line': 1000 },
  sftEval: { arithmetic: 100, 'random-number': 100, 'topic-line': 100 },
  promptsTrain: { arithmetic: 150, 'random-number': 150, 'topic-line': 150 },
  promptsHeldout: { arithmetic: 100, 'random-number': 100, 'topic-line': 100 },
} as const;

export interface TaskSuite {
  sftTrain: SftRecord[];
  sftEval: SftRecord[];
  promptsTrain: PromptRecord[];
  promptsHeldout: PromptRecord[];
  /** Plain text: documents separated by one blank line ("\n\n"); no document contains one. */
  corpus: string;
}

// ---------------------------------------------------------------------------------------------
// Splits

export interface Pair {
  a: number;
  b: number;
}

/** All operand pairs, shuffled by the seed and split 80/20 into train and held-out. */
export function arithmeticSplit(seed: number | string): { train: Pair[]; heldout: Pair[] } {
  const all: Pair[] = [];
  for (let a = 0; a <= ARITH_MAX; a++) for (let b = 0; b <= ARITH_MAX; b++) all.push({ a, b });
  new Rng(`${seed}:arith-split`).shuffle(all);
  const nHeld = Math.round(all.length * 0.2);
  return { heldout: all.slice(0, nHeld), train: all.slice(nHeld) };
}

/** (template index, topic) combinations; 12 of the 64 are held out. */
export function topicSplit(seed: number | string): { train: [number, Topic][]; heldout: [number, Topic][] } {
  const all: [number, Topic][] = [];
  for (let t = 0; t < TOPIC_TEMPLATES.length; t++) for (const topic of TOPICS) all.push([t, topic]);
  new Rng(`${seed}:topic-split`).shuffle(all);
  return { heldout: all.slice(0, 12), train: all.slice(12) };
}

// ---------------------------------------------------------------------------------------------
// Prompts and responses

export function arithmeticPrompt(p: Pair, template: number): string {
  return ARITH_TEMPLATES[template].replace('{a}', String(p.a)).replace('{b}', String(p.b));
}

export function topicPrompt(topic: Topic, template: number): string {
  return TOPIC_TEMPLATES[template].replace('{t}', topic.name);
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

/** Two different items. */
function pick2<T>(rng: Rng, xs: readonly T[]): [T, T] {
  const i = rng.int(xs.length);
  const j = (i + 1 + rng.int(xs.length - 1)) % xs.length;
  return [xs[i], xs[j]];
}

/**
 * One sentence about a topic from the small grammar (all ≤ ~45 characters), e.g.
 * "The sea is calm and blue." / "At dawn, the moon rises." / "An old road bends slowly."
 */
export function topicLine(rng: Rng, topic: Topic): string {
  // Resample the rare long ones so prompt + response stays short for the tiny model.
  for (;;) {
    const line = topicLineOnce(rng, topic);
    if (line.length <= MAX_LINE) return line;
  }
}

/** Longest topic line the grammar may produce (characters). */
export const MAX_LINE = 40;

function topicLineOnce(rng: Rng, topic: Topic): string {
  const T = topic.name;
  const [a, b] = pick2(rng, topic.adjectives);
  const [v, v2] = pick2(rng, topic.verbs);
  const adv = pick(rng, ADVERBS);
  // No "the night … at night": a time phrase never repeats the topic.
  const time = pick(rng, TIMES.filter((t) => !t.includes(T)));
  switch (rng.int(8)) {
    case 0:
      return `The ${T} is ${a} and ${b}.`;
    case 1:
      return `The ${a} ${T} ${v} ${adv}.`;
    case 2:
      return `The ${T} ${v} ${time}.`;
    case 3:
      return `I ${pick(rng, FEELINGS)} the ${a} ${T} ${time}.`;
    case 4:
      return `${capitalize(time)}, the ${T} ${v}.`;
    case 5:
      return `${capitalize(article(a))} ${a}, ${b} ${T} ${v} ${adv}.`;
    case 6:
      return `The ${T} ${v} and ${v2}.`;
    default:
      return `Look at the ${a} ${T}.`;
  }
}

// ---------------------------------------------------------------------------------------------
// The files

interface Item {
  prompt: string;
  response: string;
  task: TaskName;
  promptKey: string;
  answer?: string;
  meta: Record<string, unknown>;
}

/** Stable id of a prompt's text, shared by every demonstration of that prompt. */
function arithKey(p: Pair, template: number): string {
  return `arithmetic/${p.a}+${p.b}/t${template}`;
}

function arithmeticItems(rng: Rng, pairs: Pair[], n: number): Item[] {
  const order = rng.shuffle([...pairs]);
  const out: Item[] = [];
  for (let i = 0; i < n; i++) {
    const p = order[i % order.length];
    const t = rng.int(ARITH_TEMPLATES.length);
    const answer = String(p.a + p.b);
    out.push({ prompt: arithmeticPrompt(p, t), response: answer, task: 'arithmetic', promptKey: arithKey(p, t), answer, meta: { a: p.a, b: p.b, template: t } });
  }
  return out;
}

/**
 * Random-number demonstrations answer uniformly: the answers are each number of the range the
 * same number of times (stratified, then shuffled), so SFT starts calibrated.
 */
function numberItems(rng: Rng, paraphrases: string[], paraphraseOffset: number, n: number): Item[] {
  const range = NUMBER_HIGH - NUMBER_LOW + 1;
  const answers: number[] = [];
  for (let i = 0; i < n; i++) answers.push(NUMBER_LOW + (i % range));
  rng.shuffle(answers);
  return answers.map((x, i) => {
    const k = i % paraphrases.length;
    return {
      prompt: paraphrases[k],
      response: String(x),
      task: 'random-number' as const,
      promptKey: `random-number/p${paraphraseOffset + k}`,
      meta: { paraphrase: paraphraseOffset + k, low: NUMBER_LOW, high: NUMBER_HIGH },
    };
  });
}

function topicItems(rng: Rng, combos: [number, Topic][], n: number): Item[] {
  const out: Item[] = [];
  for (let i = 0; i < n; i++) {
    const [t, topic] = combos[rng.int(combos.length)];
    out.push({
      prompt: topicPrompt(topic, t),
      response: topicLine(rng, topic),
      task: 'topic-line',
      promptKey: `topic-line/${topic.name}/t${t}`,
      meta: { topic: topic.name, template: t },
    });
  }
  return out;
}

function toSft(split: string, items: Item[]): SftRecord[] {
  return items.map((it, i) => ({
    id: `sft-${split}-${String(i).padStart(5, '0')}`,
    prompt_id: it.promptKey,
    prompt: it.prompt,
    response: it.response,
    kind: TASK_KIND[it.task],
    task: it.task,
  }));
}

function toPrompts(split: string, items: Item[]): PromptRecord[] {
  return items.map((it, i) => {
    const r: PromptRecord = { id: `${split}-${String(i).padStart(4, '0')}`, prompt: it.prompt, kind: TASK_KIND[it.task], task: it.task };
    if (it.answer !== undefined) r.answer = it.answer;
    r.meta = { key: it.promptKey, ...it.meta };
    return r;
  });
}

/** Prompts for sampling/PPO/eval: every number prompt record cycles through the paraphrases. */
function promptItems(rng: Rng, pairs: Pair[], paraphrases: string[], offset: number, combos: [number, Topic][], sizes: Record<TaskName, number>): Item[] {
  const arith = arithmeticItems(rng, pairs, sizes.arithmetic);
  const numbers: Item[] = [];
  for (let i = 0; i < sizes['random-number']; i++) {
    const k = i % paraphrases.length;
    numbers.push({ prompt: paraphrases[k], response: '', task: 'random-number', promptKey: `random-number/p${offset + k}`, meta: { paraphrase: offset + k, low: NUMBER_LOW, high: NUMBER_HIGH } });
  }
  const topics: Item[] = [];
  for (let i = 0; i < sizes['topic-line']; i++) {
    const [t, topic] = combos[i % combos.length];
    topics.push({ prompt: topicPrompt(topic, t), response: '', task: 'topic-line', promptKey: `topic-line/${topic.name}/t${t}`, meta: { topic: topic.name, template: t } });
  }
  // Interleave the tasks (a, n, t, a, n, t, …) so any prefix of the file is balanced.
  const out: Item[] = [];
  const n = Math.max(arith.length, numbers.length, topics.length);
  for (let i = 0; i < n; i++) for (const xs of [arith, numbers, topics]) if (i < xs.length) out.push(xs[i]);
  return out;
}

/** Demonstrations shuffled so tasks are mixed in every batch. */
function sftItems(rng: Rng, pairs: Pair[], paraphrases: string[], offset: number, combos: [number, Topic][], sizes: Record<TaskName, number>): Item[] {
  const items = [
    ...arithmeticItems(rng, pairs, sizes.arithmetic),
    ...numberItems(rng, paraphrases, offset, sizes['random-number']),
    ...topicItems(rng, combos, sizes['topic-line']),
  ];
  return rng.shuffle(items);
}

// ---------------------------------------------------------------------------------------------
// The pretraining corpus

/**
 * Text the tiny model is pretrained on: every training demonstration (prompt + response), plus
 * varied related text so the model learns the language of the tasks, not only its templates:
 * arithmetic facts in other words (training pairs only: held-out sums never appear), counting,
 * sentences with numbers drawn uniformly (no favourite number is taught), and many more
 * grammar sentences and short paragraphs about the topics.
 */
function buildCorpus(seed: number | string, sft: SftRecord[], trainPairs: Pair[]): string {
  const rng = new Rng(`${seed}:corpus`);
  const docs: string[] = sft.map((d) => d.prompt + d.response);

  const factForms = [
    (a: number, b: number, s: number) => `${a} + ${b} = ${s}`,
    (a: number, b: number, s: number) => `${a} plus ${b} is ${s}.`,
    (a: number, b: number, s: number) => `The sum of ${a} and ${b} is ${s}.`,
    (a: number, b: number, s: number) => `If you add ${a} and ${b}, you get ${s}.`,
  ];
  for (const { a, b } of trainPairs) docs.push(pick(rng, factForms)(a, b, a + b));

  for (let i = 0; i < 300; i++) {
    const start = rng.int(95);
    const len = 3 + rng.int(5);
    const seq = Array.from({ length: len }, (_, j) => start + j);
    docs.push(rng.uniform() < 0.5 ? `${seq.join(', ')}.` : `Count with me: ${seq.join(' ')}.`);
  }

  const things = ['birds', 'stones', 'boats', 'trees', 'stars', 'houses', 'books', 'lamps'];
  const places = ['in the garden', 'by the river', 'on the road', 'in the city', 'by the sea', 'under the moon'];
  for (let i = 0; i < 600; i++) {
    const n = NUMBER_LOW + rng.int(NUMBER_HIGH - NUMBER_LOW + 1);
    switch (rng.int(4)) {
      case 0:
        docs.push(`There are ${n} ${pick(rng, things)} ${pick(rng, places)}.`);
        break;
      case 1:
        docs.push(`The number is ${n}.`);
        break;
      case 2:
        docs.push(`I counted ${n} ${pick(rng, things)} today.`);
        break;
      default:
        docs.push(`Here is a number between 0 and 99: ${n}.`);
    }
  }

  for (let i = 0; i < 2500; i++) {
    const topic = pick(rng, TOPICS);
    const k = 1 + rng.int(3);
    const lines: string[] = [];
    for (let j = 0; j < k; j++) lines.push(topicLine(rng, j === 0 ? topic : pick(rng, TOPICS)));
    docs.push(lines.join(' '));
  }

  rng.shuffle(docs);
  return `${docs.join('\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------

export function buildTaskSuite(seed: number | string): TaskSuite {
  const arith = arithmeticSplit(seed);
  const topics = topicSplit(seed);
  const numberOffsetHeld = NUMBER_PROMPTS_TRAIN.length;

  const sftTrain = toSft('train', sftItems(new Rng(`${seed}:sft-train`), arith.train, NUMBER_PROMPTS_TRAIN, 0, topics.train, SIZES.sftTrain));
  // Eval demonstrations come from held-out prompts, so eval loss measures generalisation.
  const sftEval = toSft(
    'eval',
    sftItems(new Rng(`${seed}:sft-eval`), arith.heldout, NUMBER_PROMPTS_HELDOUT, numberOffsetHeld, topics.heldout, SIZES.sftEval),
  );
  const promptsTrain = toPrompts('train', promptItems(new Rng(`${seed}:prompts-train`), arith.train, NUMBER_PROMPTS_TRAIN, 0, topics.train, SIZES.promptsTrain));
  // Held-out prompts: unseen sums and topic combinations; the number prompts use all eight
  // paraphrases (the six trained ones measure collapse on the trained prompt itself).
  const promptsHeldout = toPrompts(
    'heldout',
    promptItems(new Rng(`${seed}:prompts-heldout`), arith.heldout, [...NUMBER_PROMPTS_TRAIN, ...NUMBER_PROMPTS_HELDOUT], 0, topics.heldout, SIZES.promptsHeldout),
  );
  const corpus = buildCorpus(seed, sftTrain, arith.train);
  return { sftTrain, sftEval, promptsTrain, promptsHeldout, corpus };
}
