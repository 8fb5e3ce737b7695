/** Which prompts PPO rolls out on (the prompt file filtered by task, or the probe's number prompt alone) and is probed on. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PPOConfigSchema } from '../src/ppo/config';
import { heldoutPrompts, rolloutPrompts } from '../src/ppo/stage';
import { tmpDir } from './helpers';

function promptFile(): string {
  const file = path.join(tmpDir('rlhf-ppo-prompts-'), 'prompts.jsonl');
  const rows = [
    { id: 'a', prompt: 'What is 2 plus 3?\n', kind: 'closed', task: 'arithmetic' },
    { id: 'n', prompt: 'Pick a random number from 0 to 99.\n', kind: 'open', task: 'random-number' },
  ];
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

describe('PPO rollout prompts', () => {
  it('the file, filtered by tasks', async () => {
    const file = promptFile();
    assert.deepEqual((await rolloutPrompts(file, PPOConfigSchema.parse({}))).map((p) => p.id), ['a', 'n']);
    assert.deepEqual((await rolloutPrompts(file, PPOConfigSchema.parse({ tasks: ['random-number'] }))).map((p) => p.id), ['n']);
    await assert.rejects(rolloutPrompts(file, PPOConfigSchema.parse({ tasks: ['poetry'] })), /no prompts of tasks \["poetry"\]/);
  });

  it('number_prompt_only: the probe prompt alone, whatever the file holds', async () => {
    const cfg = PPOConfigSchema.parse({ number_prompt_only: true, number_prompt: 'Say a number.\n' });
    const got = await rolloutPrompts(promptFile(), cfg);
    assert.equal(got.length, 1);
    assert.equal(got[0].prompt, 'Say a number.\n');
    assert.equal(got[0].task, 'random-number');
  });

  it('number_prompt_only with tasks is refused by name (tasks would be ignored)', async () => {
    const cfg = PPOConfigSchema.parse({ number_prompt_only: true, tasks: ['random-number'] });
    await assert.rejects(rolloutPrompts(promptFile(), cfg), /ppo\.number_prompt_only.*ppo\.tasks/);
  });

  it('held-out prompts are those of the tuned tasks (number_prompt_only: the number task)', async () => {
    const file = promptFile();
    assert.deepEqual((await heldoutPrompts(file, PPOConfigSchema.parse({}))).map((p) => p.id), ['a', 'n']);
    assert.deepEqual((await heldoutPrompts(file, PPOConfigSchema.parse({ tasks: ['arithmetic'] }))).map((p) => p.id), ['a']);
    assert.deepEqual((await heldoutPrompts(file, PPOConfigSchema.parse({ number_prompt_only: true }))).map((p) => p.id), ['n']);
  });
});
