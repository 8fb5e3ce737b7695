/** Fixture runs for the report tests (report.test.ts, report-browser.test.ts). No tests here. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixturePath } from './helpers';

/** The single-layout fixture run (quickstart-like), written by test/fixtures/make-report-run.js. */
export const REPORT_RUN = fixturePath('report-run');

export const SWEEP = [
  { name: 'beta-0.01', beta: 0.01, strength: 1 },
  { name: 'beta-0.1', beta: 0.1, strength: 0.5 },
  { name: 'beta-1', beta: 1, strength: 0.1 },
] as const;

type Rec = Record<string, number | string>;

/**
 * A β-sweep run (the mode-collapse layout) made from the fixture: ppo/<name>/metrics.jsonl and
 * probe/<name>/probe.json for three β, the smaller β moving further (more KL, a narrower policy).
 */
export function makeSweepRun(dst: string): void {
  fs.cpSync(REPORT_RUN, dst, { recursive: true });
  const ppoFile = path.join(dst, 'ppo', 'metrics.jsonl');
  const recs: Rec[] = fs.readFileSync(ppoFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  fs.rmSync(ppoFile);
  const probeFile = path.join(dst, 'probe', 'probe.json');
  const probe = JSON.parse(fs.readFileSync(probeFile, 'utf8'));
  fs.rmSync(probeFile);
  for (const { name, beta, strength: s } of SWEEP) {
    const sub = recs.map((r) => ({
      ...r,
      'env/reward_mean': (r['env/reward_mean'] as number) * (0.8 + 0.2 * s),
      'objective/kl': (r['objective/kl'] as number) * s,
      'objective/kl_coef': beta,
      'policy/entropy': (r['policy/entropy'] as number) + (1 - s),
    }));
    fs.mkdirSync(path.join(dst, 'ppo', name), { recursive: true });
    fs.writeFileSync(path.join(dst, 'ppo', name, 'metrics.jsonl'), sub.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const rn = probe.random_number;
    const policy = rn.reference.map((p: number, i: number) => s * rn.policy[i] + (1 - s) * p);
    const h = -policy.reduce((acc: number, p: number) => (p > 0 ? acc + p * Math.log(p) : acc), 0);
    const sp = { ...probe, random_number: { ...rn, policy, beta, entropy: { ...rn.entropy, policy: h } } };
    fs.mkdirSync(path.join(dst, 'probe', name), { recursive: true });
    fs.writeFileSync(path.join(dst, 'probe', name, 'probe.json'), JSON.stringify(sp));
  }
}

/** The markup of one chart's <figure> in a report, or undefined. */
export function figure(html: string, id: string): string | undefined {
  const start = html.indexOf(`data-chart="${id}"`);
  if (start < 0) return undefined;
  const end = html.indexOf('</figure>', start);
  return html.slice(start, end);
}
