/**
 * Ground-truth quality of a completion, per task, in [0, 1]. The scripted labeler ranks samples by
 * these plus noise; the probes use them to score policies. Each function reads what it needs
 * (operands, range, topic) from the prompt text itself, so it works on any samples.jsonl.
 *
 * arithmetic     1 for the exact sum; a wrong number gets 0.5·exp(−|error|/10) (closer is better);
 *                the right number inside other text 0.6; no number 0.
 * random-number  a MILD, human-like preference: every valid number is worth about 0.7, a few
 *                favourites (7, 42, 37, 73, …) get a bump of at most 0.05, round numbers lose 0.02,
 *                and each number has a fixed idiosyncratic jitter of ±0.01. Invalid answers 0.
 *                The spread among valid numbers (≈0.08) is small next to the labeler's noise, so a
 *                reward model can learn only a small preference: a collapse onto one number after
 *                PPO is the pipeline's doing, not the labels'.
 * topic-line     a sum of checks: mentions the topic 0.30, one sentence ending in a period 0.10,
 *                sensible length (15–50 characters) 0.10, capitalised 0.05, no repeated content
 *                words 0.10, known words of the task language 0.25 (fraction), clean characters
 *                0.10.
 */
import { knownWords } from './lexicon';

export type QualityFn = (prompt: string, completion: string, answer?: string) => number;

const INTEGER = /^\s*(-?\d{1,6})\s*\.?\s*$/;

// ----------------------------------------------------------------------------------- arithmetic

/** The expected sum, from "What is 17 + 25?" / "17 plus 25" / "Add 17 and 25." */
export function arithmeticAnswer(prompt: string): number | undefined {
  const m = /(-?\d+)\s*(?:\+|plus|and)\s*(-?\d+)/.exec(prompt);
  return m ? Number(m[1]) + Number(m[2]) : undefined;
}

export function arithmeticQuality(prompt: string, completion: string, answer?: string): number {
  const expected = answer !== undefined && answer !== '' ? Number(answer) : arithmeticAnswer(prompt);
  if (expected === undefined || !Number.isFinite(expected)) return NaN;
  const exact = INTEGER.exec(completion);
  if (exact) {
    const err = Math.abs(Number(exact[1]) - expected);
    return err === 0 ? 1 : 0.5 * Math.exp(-err / 10);
  }
  const numbers = (completion.match(/-?\d+/g) ?? []).map(Number);
  if (numbers.length === 0) return 0;
  if (numbers.includes(expected)) return 0.6;
  const err = Math.min(...numbers.map((x) => Math.abs(x - expected)));
  return 0.3 * Math.exp(-err / 10);
}

// -------------------------------------------------------------------------------- random number

/** Numbers people say more often when asked for a random one; the bump is deliberately small. */
export const FAVOURITES: Readonly<Record<number, number>> = { 7: 0.05, 42: 0.05, 37: 0.04, 73: 0.04, 17: 0.03, 77: 0.02, 27: 0.02, 3: 0.02 };

export function numberRange(prompt: string): { low: number; high: number } {
  const m = /(-?\d+)\s+(?:and|to)\s+(-?\d+)/.exec(prompt);
  return m ? { low: Number(m[1]), high: Number(m[2]) } : { low: 0, high: 99 };
}

/** A fixed idiosyncratic taste in [−0.01, 0.01] per number (a hash, not randomness). */
function jitter(n: number): number {
  let h = (n + 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return ((h % 2001) / 1000 - 1) * 0.01;
}

/** Quality of the valid answer n (without range checks): 0.7 + favourite bump − roundness + jitter. */
export function numberPreference(n: number): number {
  const round = n % 10 === 0 || n === 99 ? 0.02 : 0;
  return 0.7 + (FAVOURITES[n] ?? 0) - round + jitter(n);
}

export function randomNumberQuality(prompt: string, completion: string): number {
  const m = INTEGER.exec(completion);
  if (!m) return 0;
  const n = Number(m[1]);
  const { low, high } = numberRange(prompt);
  if (n < low || n > high) return 0;
  return numberPreference(n);
}

// ----------------------------------------------------------------------------------- topic line

export function topicOf(prompt: string): string | undefined {
  const m = /about the ([a-z]+)/i.exec(prompt);
  return m ? m[1].toLowerCase() : undefined;
}

const KNOWN = knownWords();
const STOP = new Set(['the', 'a', 'an', 'and', 'is', 'at', 'in', 'of', 'to', 'i']);

export function topicLineQuality(prompt: string, completion: string): number {
  const topic = topicOf(prompt);
  if (!topic) return NaN;
  const text = completion.trim();
  const words: string[] = text.toLowerCase().match(/[a-z']+/g) ?? [];
  if (words.length === 0) return 0;
  let q = 0;
  if (words.includes(topic)) q += 0.3;
  if (/^[^.!?]*\.$/.test(text)) q += 0.1;
  const len = text.length;
  const dist = len < 15 ? 15 - len : len > 50 ? len - 50 : 0;
  q += 0.1 * Math.max(0, 1 - dist / 15);
  if (/^[A-Z]/.test(text)) q += 0.05;
  const content = words.filter((w) => !STOP.has(w));
  q += 0.1 * (content.length ? new Set(content).size / content.length : 1);
  q += 0.25 * (words.filter((w) => KNOWN.has(w)).length / words.length);
  if (/^[A-Za-z ,.'!?]*$/.test(text)) q += 0.1;
  return Math.min(1, q);
}

// ------------------------------------------------------------------------------------- registry

export const QUALITY: Readonly<Record<string, QualityFn>> = {
  arithmetic: arithmeticQuality,
  'random-number': (p, c) => randomNumberQuality(p, c),
  'topic-line': (p, c) => topicLineQuality(p, c),
};

/** Quality of a completion for a task; undefined when the task has no quality function. */
export function qualityOf(task: string, prompt: string, completion: string, answer?: string): number | undefined {
  const fn = QUALITY[task];
  return fn ? fn(prompt, completion, answer) : undefined;
}
