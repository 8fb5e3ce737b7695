/**
 * PPO at GPT-2-124M scale, timed: a few iterations of the real PPO stage (src/ppo/stage.ts runPpo)
 * on a policy of GPT-2 124M's shape with random weights, the real 50,257-token GPT-2 tokenizer, and
 * a reward model of the same shape (random trunk and head). Nothing is trained to be good: this
 * measures how long an iteration takes and where the time goes. Not a test: it asserts no time.
 *
 * Everything is built with the library and goes through the files a user's run would: the policy
 * is saved with saveModel and the reward model with saveRewardModel (as `rlhf train-rm` saves one)
 * into a temporary directory, and runPpo loads both from there.
 *
 * Per iteration it reports the wall time (between consecutive metrics.jsonl records) and the split
 * the trainer records in its time/* metrics:
 *   generation    sampling the responses (KV-cached decode, response_length steps)
 *   scoring       reward model + policy/reference log-probs and values on the rollouts
 *   optimization  ppo_epochs × minibatches of forward + backward + Adam
 *   other         the rest of the wall time (metrics, and the probes where they ran)
 * The trainer always runs its probes (the number distribution, KL to π*) after the last iteration,
 * so the per-iteration figures are means over the iterations without probes, and the last
 * iteration's extra time is reported as the probe's. The first iteration carries the backend's
 * warm-up (kernel creation, GPU autotuning), so the mean over the later ones is reported as well.
 *
 * With --policy DIR it runs on an existing model directory instead (e.g. models/tiny-sft, the
 * setting `npm run bench:compare` times against TRL's PPOTrainer), and the reward model is that
 * trunk with a random head, saved with saveRewardModel into --reward-model DIR (kept, so that the
 * reference script scores with the very same model) or into the temporary directory; a
 * --reward-model directory that already holds a model is used as it is.
 *
 * Usage: node dist/bench/ppo-gpt2.js [--backend auto] [--iterations 5] [--batch 8]
 *        [--mini-batch B] [--response-length 16] [--ppo-epochs 4] [--value-model shared|separate]
 *        [--policy DIR] [--reward-model DIR] [--setup-only] [--out FILE] [--keep]
 * --setup-only writes the models (the reward model into --reward-model) and stops before PPO.
 * --batch is batch_size; --mini-batch is mini_batch_size (default: --batch, one gradient step per
 * PPO epoch). The results go to bench/results/ppo-gpt2-<backend>.json (ppo-<model dir name>-…
 * with --policy), or to --out.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend, BackendChoice, BackendReport } from '../src/backend';
import { tf, Tensor2D } from '../src/backend/tf';
import { GPT2_124M } from '../src/model/config';
import { disposeBundle, initModel, loadModel, ModelBundle, saveModel } from '../src/model/checkpoint';
import { initRewardHead, REWARD_HEAD, saveRewardModel } from '../src/model/reward-model';
import { gpt2Tokenizer } from '../src/tokenizer/gpt2-bpe';
import { runPpo } from '../src/ppo/stage';
import { PPOResult } from '../src/ppo/trainer';
import { PPOConfigSchema } from '../src/ppo/config';
import { readMetrics } from '../src/metrics/logger';
import { ROOT, DATA_DIR } from '../src/paths';
import { writeJsonAtomic } from '../src/util/fs';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const intArg = (name: string, dflt: number): number => {
  const v = arg(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} ${v}: expected a positive integer`);
  return n;
};

export interface PpoIterationTime {
  iteration: number;
  wall: number;
  generation: number;
  scoring: number;
  optimization: number;
  other: number;
  /** Whether the probes ran after this iteration (their time is in `other`). */
  probe: boolean;
}

export interface PpoGpt2Result {
  backend: Pick<BackendReport, 'chosen' | 'tfjsBackend' | 'gpu' | 'devices' | 'warning' | 'versions'>;
  date: string;
  model: string;
  settings: { iterations: number; batch_size: number; mini_batch_size: number; ppo_epochs: number; response_length: number; value_model: 'shared' | 'separate'; prompts: string };
  /** Seconds spent before PPO: building the tokenizer, initialising and saving the two models. */
  setup_seconds: { tokenizer: number; init_policy: number; save_policy: number; save_reward_model: number };
  /** runPpo from call to return: loading both models, the probes, the iterations, the final save. */
  run_ppo_seconds: number;
  /** Mean wall time of the iterations without probes (all of them if every one had probes). */
  seconds_per_iteration: number;
  /** The same mean without the first iteration (the warm-up), when there are such iterations. */
  seconds_per_iteration_after_first: number | null;
  /** The probes' time: the probed iterations' `other` less the mean `other` of the rest. */
  probe_seconds: number | null;
  /**
   * Median seconds per phase over the iterations after the first (all of them if there is one);
   * `wall` only over those without probes. What `npm run bench:compare` reads.
   */
  phase_seconds_after_first: { wall: number | null; generation: number; scoring: number; optimization: number };
  /** Share of those iterations' summed wall time per phase (time/* metrics; other = the rest). */
  phase_split: { generation: number; scoring: number; optimization: number; other: number };
  per_iteration: PpoIterationTime[];
  tokens_per_second: PPOResult['tokens_per_second'];
  reward: PPOResult['reward'];
  kl: PPOResult['kl'];
  total_seconds: number;
}

const secondsSince = (t0: number) => (performance.now() - t0) / 1000;

async function main(): Promise<void> {
  const tStart = performance.now();
  const iterations = intArg('iterations', 5);
  const batch = intArg('batch', 8);
  const miniBatch = intArg('mini-batch', batch);
  const responseLength = intArg('response-length', 16);
  const ppoEpochs = intArg('ppo-epochs', 4);
  const valueModel = arg('value-model') ?? 'shared';
  if (valueModel !== 'shared' && valueModel !== 'separate') throw new Error(`--value-model ${valueModel}: expected shared or separate`);
  const policyArg = arg('policy');
  const rewardArg = arg('reward-model');
  const promptsFile = path.join(DATA_DIR, 'tasks', 'prompts-train.jsonl');

  const backend = await selectBackend((arg('backend') ?? 'auto') as BackendChoice);
  console.error(`ppo-gpt2: backend ${backend.chosen}${backend.gpu ? ` on ${backend.devices[0]}` : ' (no GPU)'}${backend.warning ? `; ${backend.warning}` : ''}`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhf-ppo-gpt2-'));
  const policyDir = policyArg ? path.resolve(policyArg) : path.join(dir, 'policy');
  const rewardDir = rewardArg ? path.resolve(rewardArg) : path.join(dir, 'reward');
  const outDir = path.join(dir, 'ppo');
  try {
    let tTok = 0;
    let tInit = 0;
    let tSavePolicy = 0;
    let tSaveRm = 0;
    const haveRm = fs.existsSync(path.join(rewardDir, 'config.json'));
    let policy: ModelBundle | undefined;
    if (!policyArg) {
      // The real GPT-2 tokenizer (50,257 tokens), built from OpenAI's vocabulary files.
      let t = performance.now();
      const tokenizer = gpt2Tokenizer();
      tTok = secondsSince(t);
      if (tokenizer.vocabSize !== GPT2_124M.vocab_size) throw new Error(`GPT-2 tokenizer has ${tokenizer.vocabSize} tokens, expected ${GPT2_124M.vocab_size}`);
      t = performance.now();
      policy = initModel(GPT2_124M, tokenizer, 1);
      tInit = secondsSince(t);
    } else if (!haveRm) {
      policy = await loadModel(policyDir);
    }
    try {
      let t = performance.now();
      if (!policyArg && policy) {
        await saveModel(policyDir, policy);
        tSavePolicy = secondsSince(t);
      }
      // The reward model: the policy's trunk with a random scalar head, saved as train-rm saves
      // one (raw scores, as configs/hh-rlhf-gpt2.yaml). Its cost in PPO is that of a forward.
      if (!haveRm && policy) {
        const head = tf.tensor2d(initRewardHead(policy.config, 2), [1, policy.config.n_embd]) as Tensor2D;
        try {
          t = performance.now();
          await saveRewardModel(rewardDir, { ...policy, heads: { [REWARD_HEAD]: head }, rlhf: { reward: { squash: 'none', head: REWARD_HEAD } } });
          tSaveRm = secondsSince(t);
        } finally {
          head.dispose();
        }
      }
    } finally {
      if (policy) disposeBundle(policy);
    }
    console.error(`ppo-gpt2: tokenizer ${tTok.toFixed(1)} s, init ${tInit.toFixed(1)} s, save policy ${tSavePolicy.toFixed(1)} s, save reward model ${tSaveRm.toFixed(1)} s`);
    if (process.argv.includes('--setup-only')) return;

    // PPO: probes only where the trainer always runs them (before the first and after the last
    // iteration), no held-out prompts, no checkpoint before the end.
    const t = performance.now();
    const result = await runPpo({
      policy: policyDir,
      rewardModel: rewardDir,
      prompts: promptsFile,
      outDir,
      seed: 1,
      cfg: PPOConfigSchema.parse({
        iterations,
        batch_size: batch,
        mini_batch_size: miniBatch,
        ppo_epochs: ppoEpochs,
        response_length: responseLength,
        value_model: valueModel,
        probe_every: iterations + 1,
        checkpoint_every: iterations + 1,
      }),
    });
    const tPpo = secondsSince(t);

    // Per iteration: wall time between consecutive records (step 0 is the probe before training),
    // and the trainer's cumulative time/* counters differenced.
    const { records } = await readMetrics(path.join(outDir, 'metrics.jsonl'), { stage: 'ppo' });
    const per: PpoIterationTime[] = [];
    for (let i = 1; i < records.length; i++) {
      const [a, b] = [records[i - 1], records[i]];
      const d = (k: string) => ((b[k] as number | undefined) ?? 0) - ((a[k] as number | undefined) ?? 0);
      const wall = b.time - a.time;
      const probe = Object.keys(b).some((k) => k.startsWith('probe/'));
      const row = { iteration: b.step, wall, generation: d('time/generation'), scoring: d('time/scoring'), optimization: d('time/optimization'), other: 0, probe };
      row.other = wall - row.generation - row.scoring - row.optimization;
      per.push(row);
    }
    if (per.length !== iterations) throw new Error(`${outDir}/metrics.jsonl: ${per.length} iteration records, expected ${iterations}`);
    const plain = per.some((r) => !r.probe) ? per.filter((r) => !r.probe) : per;
    const probed = per.filter((r) => r.probe);
    const sum = (k: 'wall' | 'generation' | 'scoring' | 'optimization' | 'other', rows = plain) => rows.reduce((s, r) => s + r[k], 0);
    const wallSum = sum('wall');
    const later = plain.filter((r) => r.iteration > 1);
    const afterFirst = per.length > 1 ? per.slice(1) : per;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const wallAfterFirst = afterFirst.filter((r) => !r.probe).map((r) => r.wall);
    const modelName = policyArg ? `${path.relative(ROOT, policyDir) || policyDir} (${valueModel} value model); reward model: its trunk with a random head` : 'GPT-2 124M shape (12 layers, 768 wide, 50,257 tokens), random weights; reward model of the same shape';
    const out: PpoGpt2Result = {
      backend: { chosen: backend.chosen, tfjsBackend: backend.tfjsBackend, gpu: backend.gpu, devices: backend.devices, warning: backend.warning, versions: backend.versions },
      date: new Date().toISOString(),
      model: modelName,
      settings: { iterations, batch_size: batch, mini_batch_size: miniBatch, ppo_epochs: ppoEpochs, response_length: responseLength, value_model: valueModel, prompts: path.relative(ROOT, promptsFile) },
      setup_seconds: { tokenizer: tTok, init_policy: tInit, save_policy: tSavePolicy, save_reward_model: tSaveRm },
      run_ppo_seconds: tPpo,
      seconds_per_iteration: wallSum / plain.length,
      seconds_per_iteration_after_first: later.length ? sum('wall', later) / later.length : null,
      phase_seconds_after_first: {
        wall: wallAfterFirst.length ? median(wallAfterFirst) : null,
        generation: median(afterFirst.map((r) => r.generation)),
        scoring: median(afterFirst.map((r) => r.scoring)),
        optimization: median(afterFirst.map((r) => r.optimization)),
      },
      probe_seconds: probed.length && plain !== per ? sum('other', probed) / probed.length - sum('other') / plain.length : null,
      phase_split: {
        generation: sum('generation') / wallSum,
        scoring: sum('scoring') / wallSum,
        optimization: sum('optimization') / wallSum,
        other: sum('other') / wallSum,
      },
      per_iteration: per,
      tokens_per_second: result.tokens_per_second,
      reward: result.reward,
      kl: result.kl,
      total_seconds: secondsSince(tStart),
    };

    const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
    console.log(`PPO, ${modelName}, ${backend.chosen}: batch ${batch}, mini-batch ${miniBatch}, response_length ${responseLength}, ppo_epochs ${ppoEpochs}`);
    console.log('iteration   wall s   generation   scoring   optimization   other');
    for (const r of per)
      console.log(
        `${String(r.iteration).padStart(9)}  ${r.wall.toFixed(2).padStart(7)}  ${r.generation.toFixed(2).padStart(11)}  ${r.scoring.toFixed(2).padStart(8)}  ${r.optimization.toFixed(2).padStart(13)}  ${r.other.toFixed(2).padStart(6)}${r.probe ? '  (with the probes)' : ''}`,
      );
    console.log(
      `seconds per iteration ${out.seconds_per_iteration.toFixed(2)}` +
        (out.seconds_per_iteration_after_first !== null ? ` (${out.seconds_per_iteration_after_first.toFixed(2)} after the first)` : '') +
        `; split: generation ${pct(out.phase_split.generation)}, scoring ${pct(out.phase_split.scoring)}, optimization ${pct(out.phase_split.optimization)}, other ${pct(out.phase_split.other)}` +
        (out.probe_seconds !== null ? `; probes ${out.probe_seconds.toFixed(2)} s` : ''),
    );
    console.log(`runPpo ${tPpo.toFixed(1)} s (loading, probes, final save included); total ${out.total_seconds.toFixed(1)} s`);

    const file = arg('out') ?? path.join(ROOT, 'bench', 'results', `ppo-${policyArg ? path.basename(policyDir) : 'gpt2'}-${backend.chosen}.json`);
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    writeJsonAtomic(file, out);
    console.log(`written ${file}`);
  } finally {
    if (process.argv.includes('--keep')) console.error(`ppo-gpt2: kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`ppo-gpt2: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
