/**
 * The stage table of `rlhf run`: stage name → function(ctx). Each entry only maps the run's plan
 * (paths) and config section onto the stage's library call; the work is in the stage modules.
 *
 * Stages with several units (one reward model per utility, one PPO/probe run per sweep entry) go
 * through `forEachUnit`: a unit that finished writes <unit dir>/unit.json, so a resumed stage
 * skips the units it already finished and resumes the one that was cut short.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ingestToFile, IngestReport } from '../data/ingest';
import { FormatName } from '../data/ingest/types';
import { Kind } from '../data/records';
import { runSample } from '../sample/stage';
import { runSft } from '../sft/stage';
import { runPpo } from '../ppo/stage';
import { runGrpo, runRloo } from '../group-rl/stage';
import { runDpo } from '../dpo/stage';
import { runRewardStage } from '../reward/stage';
import { runProbe } from '../probe/stage';
import { writeReport } from '../report';
import { writeJsonAtomic } from '../util/fs';
import { readDpoObjective, readPpoObjective } from '../data/artifacts';
import { compactSummary, StageContext, StageTable, UNIT_DONE } from './runner';

/** Run `fn` for each unit not finished yet; returns the units' summaries by name. */
export async function forEachUnit<U extends { name: string; dir: string }>(ctx: StageContext, units: U[], fn: (u: U) => Promise<unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const u of units) {
    const done = path.join(u.dir, UNIT_DONE);
    if (ctx.resume && fs.existsSync(done)) {
      out[u.name] = JSON.parse(fs.readFileSync(done, 'utf8')).summary;
      ctx.log(`${ctx.stage}${u.name ? ` ${u.name}` : ''}: already finished, kept`);
      continue;
    }
    if (units.length > 1 || u.name) ctx.log(`${ctx.stage}: ${u.name}`);
    const summary = compactSummary(await fn(u));
    writeJsonAtomic(done, { name: u.name, finished_at: new Date().toISOString(), summary });
    out[u.name] = summary;
  }
  return out;
}

/** Summary of an ingest (the counts; the first rejections only). */
function ingestSummary(r: IngestReport): Record<string, unknown> {
  return { ...r, rejections: r.rejections.slice(0, 5) };
}

export const STAGE_TABLE: StageTable = {
  async sft(ctx) {
    const { config: c, plan } = ctx;
    if (c.sft === false) throw new Error('sft is off');
    return runSft({ model: c.model.replace(/^hub:/, ''), train: c.data.sft_train!, eval: c.data.sft_eval!, outDir: ctx.dir, cfg: { ...c.sft, seed: ctx.seed }, resume: ctx.resume }).then((r) => ({ ...r, model: plan.policy }));
  },

  async sample(ctx) {
    const { config: c, plan } = ctx;
    if (c.sample === false) throw new Error('sample is off');
    const { meta, summary } = await runSample({ model: plan.policy.replace(/^hub:/, ''), prompts: c.data.prompts!, outDir: ctx.dir, cfg: c.sample, seed: ctx.seed });
    const numbers = summary.numbers;
    return {
      samples: summary.samples,
      prompts: summary.prompts,
      finished: meta.finished,
      seconds: meta.seconds,
      tokens_per_second: meta.tokens_per_second,
      entropy: summary.entropy,
      mean_length: summary.mean_length,
      numbers: { entropy: numbers.entropy, entropy_fraction: numbers.entropyFraction, top: numbers.top, top_prob: numbers.topProb },
    };
  },

  async rank(ctx) {
    const { config: c, plan } = ctx;
    if (c.rank === false || !plan.rankInput) throw new Error('rank is off');
    const opts = (format: string) => ({
      format: format as FormatName | 'auto',
      strict: c.rank !== false && c.rank.strict,
      labeler: { method: c.rank !== false ? c.rank.labeler.method : 'bradley-terry', temperature: c.rank !== false ? c.rank.labeler.temperature : 0.1, seed: ctx.seed },
      kind: c.rank !== false ? (c.rank.kind as Kind | undefined) : undefined,
      ratingField: c.rank !== false ? c.rank.rating_field : undefined,
    });
    const train = await ingestToFile(plan.rankInput.file, path.join(ctx.dir, 'rankings.jsonl'), opts(plan.rankInput.format));
    if (train.written === 0) throw new Error(`no rankings: every record of ${plan.rankInput.file} was rejected (${JSON.stringify(train.byReason)})`);
    ctx.log(`rank: ${train.accepted} of ${train.read} records accepted, ${train.written} rankings`);
    const summary: Record<string, unknown> = { train: ingestSummary(train) };
    if (plan.rankHeldoutInput) {
      const ho = await ingestToFile(plan.rankHeldoutInput.file, plan.heldoutRankings!, opts(plan.rankHeldoutInput.format));
      summary.heldout = ingestSummary(ho);
    }
    writeJsonAtomic(path.join(ctx.dir, 'summary.json'), summary);
    return summary;
  },

  async 'train-rm'(ctx) {
    const { config: c, plan } = ctx;
    if (c.train_rm === false) throw new Error('train_rm is off');
    const { utilities: _u, model: _m, ...shared } = c.train_rm;
    void _u;
    void _m;
    const models = await forEachUnit(ctx, plan.rewardModels, async (rm) => {
      const { summary } = await runRewardStage({
        model: plan.rewardBase.replace(/^hub:/, ''),
        rankings: rm.rankings!,
        heldout: rm.heldout,
        heldoutOptional: !rm.ownRankings, // the rank stage writes it only when there is held-out input
        outDir: rm.dir,
        cfg: { ...shared, ...rm.overrides, utility: rm.utility, seed: ctx.seed },
        resume: ctx.resume,
        stage: `train-rm/${rm.name}`,
      });
      return summary;
    });
    return { reward_models: models };
  },

  async ppo(ctx) {
    const { config: c, plan } = ctx;
    if (c.ppo === false || !plan.rewardModel) throw new Error('ppo is off');
    const runs = await forEachUnit(ctx, plan.ppoRuns, async (r) => {
      const args = {
        policy: plan.policy.replace(/^hub:/, ''),
        rewardModel: plan.rewardModel!.replace(/^hub:/, ''),
        prompts: c.data.prompts!,
        heldout: c.data.heldout_prompts,
        outDir: r.dir,
        cfg: r.cfg,
        seed: ctx.seed,
        resume: ctx.resume,
        stage: r.name ? `ppo/${r.name}` : 'ppo',
      };
      return runPpo(args);
    });
    return plan.ppoRuns.length === 1 && plan.ppoRuns[0].name === '' ? runs[''] : { runs };
  },

  async grpo(ctx) {
    const { config: c, plan } = ctx;
    if (c.grpo === false || !plan.stageRewardModels.grpo) throw new Error('grpo is off');
    const runs = await forEachUnit(ctx, plan.grpoRuns, (r) =>
      runGrpo({ policy: plan.policy.replace(/^hub:/, ''), rewardModel: plan.stageRewardModels.grpo!.replace(/^hub:/, ''), prompts: c.data.prompts!, heldout: c.data.heldout_prompts, outDir: r.dir, cfg: r.cfg, seed: ctx.seed, resume: ctx.resume, stage: r.name ? `grpo/${r.name}` : 'grpo' }),
    );
    return plan.grpoRuns.length === 1 && plan.grpoRuns[0].name === '' ? runs[''] : { runs };
  },

  async rloo(ctx) {
    const { config: c, plan } = ctx;
    if (c.rloo === false || !plan.stageRewardModels.rloo) throw new Error('rloo is off');
    const runs = await forEachUnit(ctx, plan.rlooRuns, (r) =>
      runRloo({ policy: plan.policy.replace(/^hub:/, ''), rewardModel: plan.stageRewardModels.rloo!.replace(/^hub:/, ''), prompts: c.data.prompts!, heldout: c.data.heldout_prompts, outDir: r.dir, cfg: r.cfg, seed: ctx.seed, resume: ctx.resume, stage: r.name ? `rloo/${r.name}` : 'rloo' }),
    );
    return plan.rlooRuns.length === 1 && plan.rlooRuns[0].name === '' ? runs[''] : { runs };
  },

  async dpo(ctx) {
    const { config: c, plan } = ctx;
    if (c.dpo === false || !plan.rankings) throw new Error('dpo is off');
    const runs = await forEachUnit(ctx, plan.dpoRuns, (r) =>
      runDpo({
        policy: plan.policy.replace(/^hub:/, ''),
        rankings: plan.rankings!,
        heldoutRankings: plan.heldoutRankings,
        heldoutOptional: true, // the rank stage writes it only when there is held-out input
        rewardModel: plan.stageRewardModels.dpo?.replace(/^hub:/, ''),
        heldoutPrompts: c.data.heldout_prompts,
        outDir: r.dir,
        cfg: r.cfg,
        seed: ctx.seed,
        resume: ctx.resume,
        stage: r.name ? `dpo/${r.name}` : 'dpo',
      }),
    );
    return plan.dpoRuns.length === 1 && plan.dpoRuns[0].name === '' ? runs[''] : { runs };
  },

  async probe(ctx) {
    const { config: c, plan } = ctx;
    if (c.probe === false) throw new Error('probe is off');
    const probeCfg = c.probe;
    const runs = await forEachUnit(ctx, plan.probeRuns, async (p) => {
      // π* of what the run this probe looks at optimised, from its summary (an error if it is
      // missing, not a silently skipped π*): PPO, GRPO and RLOO record their β, reward model and
      // reward normalisation; DPO its implicit reward, and a DPO policy is also compared with π*
      // of the (first) PPO run when there is one.
      const dpo = p.algorithm === 'dpo';
      const firstPpo = plan.ppoRuns[0];
      return runProbe({
        policy: p.policy,
        reference: plan.policy.replace(/^hub:/, ''),
        objective: dpo ? readDpoObjective(p.source) : readPpoObjective(p.source),
        compare: dpo && firstPpo ? readPpoObjective(firstPpo.dir) : undefined,
        prompts: c.data.heldout_prompts ?? c.data.prompts!,
        outDir: p.dir,
        cfg: probeCfg,
        seed: ctx.seed,
      });
    });
    return plan.probeRuns.length === 1 && plan.probeRuns[0].name === '' ? runs[''] : { runs };
  },

  async report(ctx) {
    const r = await writeReport(ctx.plan.runDir, ctx.plan.reportFile);
    return { file: r.file, charts: r.charts, missing: r.missing, headline: r.headline, warnings: r.warnings };
  },
};
