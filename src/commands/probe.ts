import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand, backendFlag, useBackend } from '../cli/base';
import { runProbe } from '../probe/stage';
import { DATA_DIR, DEFAULT_MODEL } from '../paths';
import { overwriteFlag } from '../cli/output-flags';
import { finishOutputDir, prepareOutputDir } from '../util/output-dir';
import { parseStageConfig } from '../cli/stage-config';
import { ProbeConfigSchema } from '../probe/config';
import { readDpoObjective, readPpoObjective } from '../data/artifacts';

export default class Probe extends BaseCommand {
  static summary = 'Measure mode collapse: number distribution, temperature test, attractors, diversity vs a reference.';

  static description = `Compares --policy with --reference (usually the SFT model PPO started from):
  random number  exact probability of every answer 0..99 for "Tell me a random integer between 0 and 99.",
                 entropy, top answer; with --ppo (the PPO output directory: its β, reward model and
                 reward normalisation) or --reward-model and --beta, the optimum π* ∝ π_ref·exp(r/β)
                 and KL(π‖π*), r being the reward the policy was tuned on
  temperature    the T* at which the reference comes closest to the policy and the KL left there
                 (near 0: the change is just temperature; well above 0: the shape changed)
  attractors     perturb completions part-way, continue greedily, count endings that come back
  diversity      per-input and across-input distinct-n and EAD, exact and sampled entropy, before vs after
Writes OUT/probe.json.`;

  static examples = [
    '<%= config.bin %> <%= command.id %> --policy runs/quickstart/ppo/model --out runs/probe',
    '<%= config.bin %> <%= command.id %> --policy runs/ppo/model --ppo runs/ppo --out runs/probe',
    '<%= config.bin %> <%= command.id %> --policy runs/ppo/model --reward-model runs/rm/model --beta 0.02 --out runs/probe --json',
  ];

  static flags = {
    ...backendFlag,
    policy: Flags.string({ description: 'policy directory (any GPT-2 directory)', required: true }),
    reference: Flags.string({ description: 'reference directory', default: DEFAULT_MODEL }),
    ppo: Flags.string({ description: 'the PPO output directory the policy came from: π* of its objective (β, reward model, reward normalisation from its summary.json); also works for rlhf grpo / rloo output directories' }),
    dpo: Flags.string({ description: "the DPO output directory the policy came from: π* of DPO's implicit reward; with --ppo too, the PPO run's π* is the comparison (random_number.compare)" }),
    'reward-model': Flags.string({ description: 'reward model of π* (overrides the one --ppo names; alone, with --beta, its raw reward)' }),
    beta: Flags.string({ description: 'β of π* (overrides the one --ppo names; needs --ppo or --reward-model)' }),
    prompts: Flags.string({ description: 'prompts for diversity and attractors', default: path.join(DATA_DIR, 'tasks', 'prompts-heldout.jsonl') }),
    temperature: Flags.string({ description: 'sampling temperature', default: '1' }),
    out: Flags.string({ char: 'o', description: 'output directory', required: true }),
    seed: Flags.integer({ description: 'random seed', default: 1 }),
    ...overwriteFlag,
  };

  async run() {
    const { flags } = await this.parse(Probe);
    const backend = await useBackend(this, flags.backend);
    const beta = flags.beta === undefined ? null : Number(flags.beta);
    if (beta !== null && !(beta > 0)) this.error(`--beta must be a positive number, got ${flags.beta}`);
    if (beta !== null && !flags.ppo && !flags['reward-model']) this.error('--beta needs --ppo or --reward-model (the reward of π*)');
    // π*'s reward: what the PPO run optimised (gain·R + bias), else the given reward model's raw R.
    const fromPpo = flags.ppo ? readPpoObjective(flags.ppo) : undefined;
    const rewardModel = flags['reward-model'] ?? fromPpo?.reward_model;
    const rmObjective = rewardModel && (beta !== null || fromPpo) ? { beta: beta ?? fromPpo!.beta, reward_model: rewardModel, gain: fromPpo?.gain ?? 1, bias: fromPpo?.bias ?? 0 } : undefined;
    // A DPO policy: π* of its implicit reward, and the reward-model objective (if any) as the comparison.
    const objective = flags.dpo ? readDpoObjective(flags.dpo) : rmObjective;
    const compare = flags.dpo ? rmObjective : undefined;
    prepareOutputDir(flags.out, { command: 'probe', writes: ['probe.json'], overwrite: flags.overwrite });
    const r = await runProbe({ policy: flags.policy, reference: flags.reference, prompts: flags.prompts, outDir: flags.out, seed: flags.seed, objective, compare, cfg: parseStageConfig(ProbeConfigSchema, { beta, temperature: Number(flags.temperature) }, 'probe') });
    finishOutputDir(flags.out);
    const rn = r.random_number;
    this.log(`random number entropy: reference ${(100 * rn.entropy_fraction.reference).toFixed(1)}%, policy ${(100 * rn.entropy_fraction.policy).toFixed(1)}% of log 100; policy top ${rn.top.policy.answer} p=${rn.top.policy.prob.toFixed(3)}`);
    if (rn.kl_policy_optimum !== null) this.log(`KL(policy ‖ π*${rn.optimum_kind === 'dpo-implicit' ? ' of the implicit reward' : ''}) ${rn.kl_policy_optimum.toFixed(4)}, KL(reference ‖ π*) ${rn.kl_reference_optimum!.toFixed(4)}`);
    if (rn.compare) this.log(`KL(policy ‖ π* of ${rn.compare.reward.model}, β ${rn.compare.beta.toPrecision(3)}) ${rn.compare.kl_policy_optimum.toFixed(4)}, KL(reference ‖ it) ${rn.compare.kl_reference_optimum.toFixed(4)}`);
    this.log(`temperature test: T* = ${r.temperature.t_star.toFixed(3)}, KL left ${r.temperature.kl_at_t_star.toFixed(4)} (at T=1: ${r.temperature.kl_at_one.toFixed(4)})`);
    this.log(`attractors: ${(100 * r.attractor.policy).toFixed(0)}% of perturbed policy endings converge back (reference ${(100 * r.attractor.reference).toFixed(0)}%)`);
    this.log(`distinct-2 per input: ${r.diversity.before.per_input[1].distinct.toFixed(3)} → ${r.diversity.after.per_input[1].distinct.toFixed(3)}`);
    return { backend: backend.chosen, out: path.join(flags.out, 'probe.json'), ...r };
  }
}
