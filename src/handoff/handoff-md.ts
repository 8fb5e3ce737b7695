/**
 * DIR/HANDOFF.md: what was exported, how to run it, every rlhf setting with the engine's name and
 * value for it, what has no equivalent there, and how to bring the result back to rlhf's probes.
 * Written from the same rows as the launch files (handoff/mapping.ts).
 */
import * as path from 'node:path';
import type { ExportResult } from './export';
import type { RunSource } from './source';

const cell = (v: unknown) => (v === null || v === undefined ? '—' : Array.isArray(v) ? v.join(' ') : String(v)).replace(/\|/g, '\\|').replace(/\n/g, '\\n');

const ENGINE = {
  trl: {
    name: 'TRL',
    install: 'pip install trl            # GRPO, RLOO, DPO, SFT, reward modelling (TRL ≥ 1.13)\npip install "trl==1.12.0"  # PPO: the last TRL release with PPOTrainer (trl.experimental.ppo), in its own environment',
    verified:
      "How the TRL export was checked (not this export itself): `scripts/verify_trl_handoff.sh` in the rlhf repository exports a run of every stage, runs each exported stage in TRL for the run's few steps on the embedded tiny model (PPO with trl==1.12.0, the others with the current TRL; TrlParser refuses unknown keys) and probes the results with `rlhf probe`. To check this export's YAMLs, run its commands; a misnamed key stops TRL before training.",
    more: 'More GPUs: add `--accelerate_config multi_gpu` (or `zero2`, `zero3`, `fsdp2`: the configs TRL ships) to a `trl` command, and `accelerate launch --config_file …` in front of `python trl/trl_ppo.py`; divide `per_device_train_batch_size` by the number of GPUs to keep the same batch. rlhf trains in float32 and the YAMLs say `bf16: false`; set it to true on GPUs for speed.',
  },
  openrlhf: {
    name: 'OpenRLHF',
    install: 'pip install openrlhf[vllm]   # needs CUDA GPUs, DeepSpeed, Ray and vLLM',
    verified:
      "The command lines `rlhf export` writes were checked against OpenRLHF 0.11.2's own argument parsers by `scripts/check_openrlhf_args.py` in the rlhf repository (it rebuilds each CLI's parser from OpenRLHF's source, so it needs no GPU stack), on the exports of a run of every stage and of the quickstart; run it on this export's `openrlhf/*.sh` to check these. The runs themselves were never executed: they need GPUs, Ray and vLLM. Beyond option names, types and choices, untested.",
    more: 'More GPUs: raise `--actor.num_gpus_per_node`, `--ref.num_gpus_per_node`, `--reward.num_gpus_per_node`, `--critic.num_gpus_per_node` and `--vllm.num_engines` (or colocate them), and run train_ppo_ray under `ray job submit --address=… -- python3 -m openrlhf.cli.train_ppo_ray …`.',
  },
} as const;

export function handoffMarkdown(r: ExportResult, src: RunSource): string {
  const e = ENGINE[r.engine];
  const L: string[] = [];
  L.push(`# Hand-off of \`${path.basename(src.runDir)}\` to ${e.name}`, '');
  L.push(`Written by \`rlhf export ${src.runDir} --to ${r.engine}\`. It reruns the run's stages in ${e.name} with the same data, models and hyperparameters, said in ${e.name}'s own names. Everything below maps one rlhf setting to one ${e.name} setting; where ${e.name} has no equivalent, the section "No equivalent" says what ${e.name} does instead.`, '');
  L.push('## Run it', '', '```sh', e.install, './launch.sh    # every stage, in the run\'s order (or run one command from it)', '```', '');
  L.push(e.more, '');
  L.push('| rlhf stage | runs in | command |', '|---|---|---|');
  for (const s of r.stages) L.push(`| ${s.stage} | ${s.runs} | \`${s.command}\` |`);
  L.push('', `Outputs go to \`out/<stage>\`. The tuning stages use the reward models the rlhf run trained (\`models/reward-*\`), so they optimise the same reward; to use the one ${e.name} trains instead, point the reward model path at \`out/reward-<name>\`.`, '');
  L.push('## What is here', '', '| path | what | from |', '|---|---|---|');
  for (const m of r.models) L.push(`| models/${m.name}/ | Hugging Face GPT-2 directory | ${cell(m.from)} |`);
  for (const d of r.datasets) L.push(`| data/${d.name}/${path.basename(d.file)} | ${d.written} rows${d.read ? ` from ${d.read} records` : ''} | ${cell(d.source)} |`);
  L.push('', 'Data: `preference*/` rows are {"prompt", "chosen", "rejected"}, every pair of a k-wise ranking with the better completion as chosen (ties make no pair); `prompt*/` rows are {"prompt"}; `sft/` rows are {"prompt", "completion"}. Completions have no EOS: the engines append it.', '');
  L.push('## Settings', '');
  for (const s of r.stages) {
    L.push(`### ${s.stage} → ${s.runs}`, '', `Launch file: \`${s.file}\`.`, '', `| rlhf | ${e.name} | value | note |`, '|---|---|---|---|');
    for (const row of s.settings) L.push(`| ${cell(row.rlhf)} | \`${row.engine}\` | ${cell(row.value)} | ${cell(row.note ?? '')} |`);
    const fixed = Object.entries(s.fixed);
    if (fixed.length) L.push('', `${e.name}-only settings: ${fixed.map(([k, v]) => `\`${k}\` = ${cell(v)}`).join(', ')}.`);
    L.push('');
  }
  L.push('## No equivalent', '');
  const gaps = r.stages.flatMap((s) => s.gaps.map((g) => ({ stage: s.stage, ...g })));
  if (!gaps.length) L.push(`Every setting of this run has a ${e.name} equivalent.`);
  else {
    L.push(`| stage | rlhf setting | value | what ${e.name} does |`, '|---|---|---|---|');
    for (const g of gaps) L.push(`| ${g.stage} | ${cell(g.rlhf)} | ${cell(g.value)} | ${cell(g.why)} |`);
  }
  L.push('', `Not in ${e.name} at all: rlhf's collapse probes (the exact random-number distribution, KL to the KL-regularised optimum π*, the temperature test, attractors, diversity), the reward-collapse diagnostics (reward by rank against the theory curve, the collapse score) and the report. Bring the results back for those (next section).`, '');
  L.push('## Verified', '', e.verified, '');
  L.push('## Bring the results back', '', 'rlhf reads what the engines write: policies as plain GPT-2 directories (a value head saved beside them, TRL\'s `v_head.summary.*` or OpenRLHF\'s, is ignored), reward models as `GPT2ForSequenceClassification` (TRL, read at the last token that is not padding, as transformers does) or OpenRLHF\'s `RewardModel` (read at the last token, normalised by its saved mean and std when `normalize_reward` is set).', '');
  const tuned = r.stages.find((s) => /^(ppo|grpo|rloo|dpo)/.test(s.stage));
  const rm = tuned?.settings.find((x) => /reward/.test(x.engine) && typeof x.value === 'string')?.value as string | undefined;
  L.push('```sh');
  if (tuned) {
    const beta = tuned.settings.find((x) => ['kl_coef', 'beta', 'algo.kl.init_coef', 'model.beta'].includes(x.engine))?.value;
    const outDir = tuned.fixed.output_dir ?? tuned.fixed['ckpt.output_dir'];
    L.push(`rlhf probe --policy ${outDir} --reference models/policy${rm ? ` --reward-model ${rm}` : ''}${rm && beta !== undefined ? ` --beta ${beta}` : ''} --out probe-${tuned.stage.replace(/\//g, '-')}`);
  } else L.push('rlhf probe --policy out/<stage> --reference models/policy --out probe');
  L.push('```', '');
  return `${L.join('\n')}\n`;
}
