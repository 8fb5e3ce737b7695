/**
 * Writes the reward model of the transformers fixture with rlhf's own save path (saveRewardModel):
 *   node --import tsx scripts/make-reward-fixture-model.ts test/fixtures/reward-tiny
 * scripts/make_reward_hf_fixture.py runs this, then scores the directory in transformers. The
 * model itself is built by test/reward-fixture.ts (the test rebuilds it to check a save today
 * writes the same directory).
 */
import { selectBackend } from '../src/backend';
import { tf } from '../src/backend/tf';
import { saveRewardModel } from '../src/model/reward-model';
import { buildFixtureRewardModel } from '../test/reward-fixture';

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: node --import tsx scripts/make-reward-fixture-model.ts OUT_DIR');
  await selectBackend('cpu');
  const m = await buildFixtureRewardModel();
  await saveRewardModel(out, m);
  tf.dispose([...Object.values(m.params), ...Object.values(m.heads)]);
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
